package he

import (
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// TestRotationNeedsSpecialPrime records why ciphertexts cannot yet be
// moved between slots, which encrypting at ingest with a job-independent
// layout would need. A sum of 1,001 ciphertexts is rotated by 1,000
// columns with a Galois key. With this package's parameters, which have
// no special prime P, the key switch inside the rotation leaves the
// values wrong. With one 60-bit P (Q·P of 176 bits, still within the 218
// that 128-bit security allows at N = 2^13) every value survives. The
// test logs the key size and the time of one rotation.
func TestRotationNeedsSpecialPrime(t *testing.T) {
	for _, c := range []struct {
		name  string
		logP  []int
		exact bool
	}{{"without P", nil, false}, {"with a 60-bit P", []int{60}, true}} {
		p, err := bgv.NewParametersFromLiteral(bgv.ParametersLiteral{
			LogN: logN, LogQ: []int{58, 58}, LogP: c.logP, PlaintextModulus: PlaintextModulus})
		if err != nil {
			t.Fatal(err)
		}
		keys := bgv.NewKeyGenerator(p)
		secret, public := keys.GenKeyPairNew()
		galois := keys.GenGaloisKeyNew(p.GaloisElementForColRotation(1000), secret)
		encoded, err := galois.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}

		values := make([]int64, p.MaxSlots())
		for i := range 16 {
			values[1000+i] = int64(i+1) * 123_456_789
		}
		encoder := bgv.NewEncoder(p)
		pt := bgv.NewPlaintext(p, p.MaxLevel())
		if err := encoder.Encode(values, pt); err != nil {
			t.Fatal(err)
		}
		ct, err := bgv.NewEncryptor(p, public).EncryptNew(pt)
		if err != nil {
			t.Fatal(err)
		}
		eval := bgv.NewEvaluator(p, rlwe.NewMemEvaluationKeySet(nil, galois))
		sum := ct.CopyNew()
		for range 1000 {
			if err := eval.Add(sum, ct, sum); err != nil {
				t.Fatal(err)
			}
		}
		began := time.Now()
		rotated, err := eval.RotateColumnsNew(sum, 1000)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)

		slots := make([]int64, p.MaxSlots())
		if err := encoder.Decode(bgv.NewDecryptor(p, secret).DecryptNew(rotated), slots); err != nil {
			t.Fatal(err)
		}
		exact := true
		for i := range 16 {
			if slots[i] != 1001*values[1000+i] {
				exact = false
			}
		}
		if exact != c.exact {
			t.Errorf("%s: values exact after the rotation: %v, want %v", c.name, exact, c.exact)
		}
		t.Logf("%s: Galois key of %d bytes, one rotation in %v", c.name, len(encoded), took)
	}
}
