package he

import (
	"testing"
)

// The benchmarks work on full ciphertexts of Slots()-1 values and report
// the cost per 1,000 values as well as per operation.

func benchSetup(b *testing.B) (Params, *OwnerKey, *Encryptor, Plan, []float64) {
	p := newParams(b)
	key := GenerateKey(p)
	plan := Plan{Scale: 100, Min: -40, Max: 125, MaxValues: 1 << 30}
	enc, err := NewEncryptor(key.PublicKey(), plan)
	if err != nil {
		b.Fatal(err)
	}
	values := make([]float64, p.Slots()-1)
	for i := range values {
		values[i] = float64(i%16000)/100 - 40
	}
	return p, key, enc, plan, values
}

func perThousand(b *testing.B, values int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(values)*1000, "ns/1000values")
}

func BenchmarkEncrypt(b *testing.B) {
	_, _, enc, _, values := benchSetup(b)
	for b.Loop() {
		if _, err := enc.Encrypt(values); err != nil {
			b.Fatal(err)
		}
	}
	perThousand(b, len(values))
}

func BenchmarkAdd(b *testing.B) {
	p, _, enc, _, values := benchSetup(b)
	cts, err := enc.Encrypt(values)
	if err != nil {
		b.Fatal(err)
	}
	a := NewAggregator(p)
	for b.Loop() {
		if err := a.Add(cts[0]); err != nil {
			b.Fatal(err)
		}
	}
	perThousand(b, len(values))
}

func BenchmarkDecrypt(b *testing.B) {
	_, key, enc, plan, values := benchSetup(b)
	cts, err := enc.Encrypt(values)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := key.Decrypt(cts[0], plan); err != nil {
			b.Fatal(err)
		}
	}
	perThousand(b, len(values))
}

func BenchmarkDecodeCiphertext(b *testing.B) {
	p, _, enc, _, values := benchSetup(b)
	cts, err := enc.Encrypt(values)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := cts[0].MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := p.DecodeCiphertext(raw); err != nil {
			b.Fatal(err)
		}
	}
	perThousand(b, len(values))
}
