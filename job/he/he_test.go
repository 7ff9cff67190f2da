package he

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"

	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// dataPath returns the path of a public sensor dataset. The datasets sit
// in shared/data/sensors beside the repository, found by walking up from
// the package folder, so that a checkout in a nested worktree finds them
// too.
func dataPath(t testing.TB, rel string) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data", "sensors", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("dataset %s not found in shared/data/sensors above the package folder", rel)
		}
		dir = parent
	}
}

func newParams(t testing.TB) Params {
	t.Helper()
	p, err := NewParams()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// importColumns imports a dataset and returns the numeric values of each
// named field, skipping missing ones.
func importColumns(t testing.TB, rel string, opts importer.Options, names ...string) map[string][]float64 {
	t.Helper()
	path := dataPath(t, rel)
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	var readings []sensor.Reading
	_, err := importer.ImportFile(path, opts, func(r sensor.Reading) error {
		readings = append(readings, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string][]float64{}
	for _, n := range names {
		cols[n] = FieldValues(readings, n)
	}
	return cols
}

// aggregate encrypts values in batches of batch values, as units of a
// job would, sends each ciphertext through its encoding to one of two
// workers, merges the workers' sums and decrypts the total.
func aggregate(t testing.TB, p Params, key *OwnerKey, plan Plan, values []float64, batch int) Result {
	t.Helper()
	enc, err := NewEncryptor(key.PublicKey(), plan)
	if err != nil {
		t.Fatal(err)
	}
	workers := []*Aggregator{NewAggregator(p), NewAggregator(p)}
	for start, unit := 0, 0; start < len(values); start, unit = start+batch, unit+1 {
		cts, err := enc.Encrypt(values[start:min(start+batch, len(values))])
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range cts {
			addEncoded(t, p, workers[unit%2], ct)
		}
	}
	total := NewAggregator(p)
	for _, w := range workers {
		if sum := w.Sum(); sum != nil { // a worker may have had no unit
			addEncoded(t, p, total, sum)
		}
	}
	res, err := key.Decrypt(total.Sum(), plan)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func addEncoded(t testing.TB, p Params, a *Aggregator, ct *Ciphertext) {
	t.Helper()
	b, err := ct.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := p.DecodeCiphertext(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(back); err != nil {
		t.Fatal(err)
	}
}

// checkExact compares an encrypted aggregate with the plaintext sum of
// the same fixed-point values, computed without the package's code.
func checkExact(t *testing.T, res Result, values []float64, scale int64) {
	t.Helper()
	want := new(big.Int)
	for _, v := range values {
		want.Add(want, big.NewInt(int64(math.Round(v*float64(scale)))))
	}
	if res.Count != int64(len(values)) {
		t.Errorf("count %d, want %d", res.Count, len(values))
	}
	if res.Sum.Cmp(want) != 0 {
		t.Errorf("sum %v units, want %v", res.Sum, want)
	}
	wantMean := new(big.Rat).SetFrac(want, big.NewInt(int64(len(values))*scale))
	if res.Mean().Cmp(wantMean) != 0 {
		t.Errorf("mean %v, want %v", res.Mean().FloatString(6), wantMean.FloatString(6))
	}
}

func TestSumULBTemperatures(t *testing.T) {
	m, err := importer.ParseMap(importer.ULBReadingsMap)
	if err != nil {
		t.Fatal(err)
	}
	values := importColumns(t, "ulb-library1/R1.txt", importer.Options{Map: m}, "temperature")["temperature"]
	if len(values) != 7563 {
		t.Fatalf("%d temperatures in R1.txt, want 7563", len(values))
	}
	p := newParams(t)
	key := GenerateKey(p)
	plan := Plan{Scale: 100, Min: -40, Max: 125, MaxValues: 100_000}
	res := aggregate(t, p, key, plan, values, 1000)
	checkExact(t, res, values, plan.Scale)
}

func TestSumAirQualityColumns(t *testing.T) {
	names := []string{"CO(GT)", "PT08.S1(CO)", "NMHC(GT)", "C6H6(GT)", "PT08.S2(NMHC)", "NOx(GT)",
		"PT08.S3(NOx)", "NO2(GT)", "PT08.S4(NO2)", "PT08.S5(O3)", "T", "RH", "AH"}
	cols := importColumns(t, "air-quality/AirQualityUCI.csv", importer.Options{}, names...)
	p := newParams(t)
	key := GenerateKey(p)
	plan := Plan{Scale: 1000, Min: -100, Max: 3000, MaxValues: 10_000}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			values := cols[n]
			if len(values) < 900 {
				t.Fatalf("%d values in column %s, the file has 9357 rows", len(values), n)
			}
			checkExact(t, aggregate(t, p, key, plan, values, 5000), values, plan.Scale)
		})
	}
}

// The encoding a worker receives carries none of the plaintext: not the
// fixed-point values, not the encoded plaintext polynomial, and not the
// same bytes for the same values twice.
func TestCiphertextHidesPlaintext(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	plan := Plan{Scale: 1, Min: 0, Max: 1 << 40, MaxValues: 100}
	enc, err := NewEncryptor(key.PublicKey(), plan)
	if err != nil {
		t.Fatal(err)
	}
	values := []float64{0x1234_5678_9a, 0x0f1e_2d3c_4b, 0x5a5a_5a5a_5a}
	first := encode(t, enc, values)
	second := encode(t, enc, values)

	if bytes.Equal(first, second) {
		t.Fatal("two encryptions of the same values are equal")
	}
	// Each value has 5 significant bytes; look for them in either order.
	for _, v := range values {
		little := binary.LittleEndian.AppendUint64(nil, uint64(v))[:5]
		big := binary.BigEndian.AppendUint64(nil, uint64(v))[3:]
		for _, needle := range [][]byte{little, big} {
			if bytes.Contains(first, needle) {
				t.Errorf("ciphertext contains value %#x as bytes %x", uint64(v), needle)
			}
		}
	}

	// The plaintext polynomial, as it enters encryption, shares no
	// 8-byte run with the ciphertext.
	pt := plaintextOf(t, p, values)
	for i := 0; i+8 <= len(pt); i += 8 {
		if x := pt[i : i+8]; !allZero(x) && bytes.Contains(first, x) {
			t.Fatalf("ciphertext contains plaintext coefficient bytes %x", x)
		}
	}
}

func encode(t *testing.T, enc *Encryptor, values []float64) []byte {
	t.Helper()
	cts, err := enc.Encrypt(values)
	if err != nil {
		t.Fatal(err)
	}
	if len(cts) != 1 {
		t.Fatalf("%d ciphertexts for %d values, want 1", len(cts), len(values))
	}
	b, err := cts[0].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plaintextOf returns the coefficients of the encoded plaintext of
// values, as the encryptor builds it.
func plaintextOf(t *testing.T, p Params, values []float64) []byte {
	t.Helper()
	slots := make([]int64, p.Slots())
	for i, v := range values {
		slots[i] = int64(v)
	}
	slots[len(slots)-1] = int64(len(values))
	pt := newPlaintext(p)
	if err := encoderOf(p).Encode(slots, pt); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, limb := range pt.Value.Coeffs {
		for _, x := range limb {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
	}
	return b
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// No secret key is reachable from an Aggregator, by any path of fields.
func TestAggregatorHoldsNoSecretKey(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 1, Min: 0, Max: 10, MaxValues: 10})
	if err != nil {
		t.Fatal(err)
	}
	cts, err := enc.Encrypt([]float64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAggregator(p)
	if err := a.Add(cts[0]); err != nil {
		t.Fatal(err)
	}

	secretType := reflect.TypeOf(rlwe.SecretKey{})
	if path, found := findType(reflect.ValueOf(a), secretType, "Aggregator", map[uintptr]bool{}); found {
		t.Fatalf("secret key reachable at %s", path)
	}
	// The search does find a secret key where there is one.
	if _, found := findType(reflect.ValueOf(key), secretType, "OwnerKey", map[uintptr]bool{}); !found {
		t.Fatal("search missed the OwnerKey's secret key")
	}
}

// findType walks every field, element and pointer reachable from v and
// reports the path to a value of type want.
func findType(v reflect.Value, want reflect.Type, path string, seen map[uintptr]bool) (string, bool) {
	if v.Type() == want {
		return path, true
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		if v.Kind() == reflect.Pointer {
			if seen[v.Pointer()] {
				return "", false
			}
			seen[v.Pointer()] = true
		}
		return findType(v.Elem(), want, path, seen)
	case reflect.Struct:
		for i := range v.NumField() {
			if p, ok := findType(v.Field(i), want, path+"."+v.Type().Field(i).Name, seen); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		// Coefficient slices are long and hold no pointers: skip them.
		if v.Type().Elem().Kind() == reflect.Uint64 {
			return "", false
		}
		for i := range v.Len() {
			if p, ok := findType(v.Index(i), want, path+"[]", seen); ok {
				return p, true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if p, ok := findType(it.Value(), want, path+"[k]", seen); ok {
				return p, true
			}
		}
	}
	return "", false
}

func TestPlanCheck(t *testing.T) {
	cases := []struct {
		name string
		plan Plan
		err  error
	}{
		{"fits", Plan{Scale: 100, Min: -40, Max: 125, MaxValues: 1_000_000}, nil},
		// 10^7 values × 10^4 × 10^3 = 10^14, under T/2 ≈ 1.407 × 10^14.
		{"near the bound", Plan{Scale: 1000, Min: -10_000, Max: 10_000, MaxValues: 10_000_000}, nil},
		{"sum overflows", Plan{Scale: 1000, Min: -10_000, Max: 10_000, MaxValues: 20_000_000}, ErrOverflow},
		{"negative side overflows", Plan{Scale: 1, Min: -1e12, Max: 0, MaxValues: 1000}, ErrOverflow},
		{"value alone overflows", Plan{Scale: 1e6, Min: 0, Max: 1e12, MaxValues: 1}, ErrInvalidPlan},
		{"no scale", Plan{Min: 0, Max: 1, MaxValues: 1}, ErrInvalidPlan},
		{"no values", Plan{Scale: 1, Min: 0, Max: 1}, ErrInvalidPlan},
		{"empty range", Plan{Scale: 1, Min: 2, Max: 1, MaxValues: 1}, ErrInvalidPlan},
		{"NaN bound", Plan{Scale: 1, Min: math.NaN(), Max: 1, MaxValues: 1}, ErrInvalidPlan},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.plan.Check()
			if c.err == nil && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
		})
	}
}

func TestEncryptorRejectsOverflowPlan(t *testing.T) {
	key := GenerateKey(newParams(t))
	_, err := NewEncryptor(key.PublicKey(), Plan{Scale: 1000, Min: 0, Max: 1e6, MaxValues: 1e9})
	if !errors.Is(err, ErrOverflow) {
		t.Fatalf("error %v, want ErrOverflow", err)
	}
}

func TestEncryptRejectsOutOfRange(t *testing.T) {
	key := GenerateKey(newParams(t))
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 10, Min: -1, Max: 1, MaxValues: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{1.5, -2, math.NaN(), math.Inf(1)} {
		if _, err := enc.Encrypt([]float64{0, v}); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("value %v: error %v, want ErrOutOfRange", v, err)
		}
	}
}

// Adding more values than the plan allows shows in the decrypted count.
func TestDecryptRejectsExcessCount(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	plan := Plan{Scale: 1, Min: 0, Max: 10, MaxValues: 4}
	enc, err := NewEncryptor(key.PublicKey(), plan)
	if err != nil {
		t.Fatal(err)
	}
	cts, err := enc.Encrypt([]float64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAggregator(p)
	for range 2 { // the same unit counted twice
		if err := a.Add(cts[0]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := key.Decrypt(a.Sum(), plan); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v, want ErrCorrupt", err)
	}
}

func TestEncryptPacksSlots(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	per := p.Slots() - 1
	plan := Plan{Scale: 1, Min: -5, Max: 5, MaxValues: int64(3 * per)}
	enc, err := NewEncryptor(key.PublicKey(), plan)
	if err != nil {
		t.Fatal(err)
	}
	values := make([]float64, 2*per+1)
	for i := range values {
		values[i] = float64(i%11 - 5)
	}
	cts, err := enc.Encrypt(values)
	if err != nil {
		t.Fatal(err)
	}
	if len(cts) != 3 {
		t.Fatalf("%d ciphertexts for %d values, want 3", len(cts), len(values))
	}
	a := NewAggregator(p)
	for _, ct := range cts {
		if err := a.Add(ct); err != nil {
			t.Fatal(err)
		}
	}
	res, err := key.Decrypt(a.Sum(), plan)
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, res, values, 1)
}

func TestDecodeCiphertextRejects(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 1, Min: 0, Max: 1, MaxValues: 1})
	if err != nil {
		t.Fatal(err)
	}
	good := encode(t, enc, []float64{1})

	short := good[:len(good)-1]
	version := bytes.Clone(good)
	version[0] = 9
	unreduced := bytes.Clone(good)
	binary.LittleEndian.PutUint64(unreduced[1:], math.MaxUint64)

	for name, b := range map[string][]byte{"short": short, "version": version, "unreduced": unreduced, "empty": nil} {
		if _, err := p.DecodeCiphertext(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", name, err)
		}
	}
	if _, err := p.DecodeCiphertext(good); err != nil {
		t.Errorf("valid ciphertext rejected: %v", err)
	}
}

// Sums close to the plan's bound, positive and negative, decrypt exactly.
func TestSumNearBound(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	edge := float64(maxSum / 4)
	plan := Plan{Scale: 1, Min: -edge, Max: edge, MaxValues: 3}
	if err := plan.Check(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{edge, -edge} {
		enc, err := NewEncryptor(key.PublicKey(), plan)
		if err != nil {
			t.Fatal(err)
		}
		a := NewAggregator(p)
		for range 3 { // one value per ciphertext, so all land in slot 0
			cts, err := enc.Encrypt([]float64{v})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Add(cts[0]); err != nil {
				t.Fatal(err)
			}
		}
		res, err := key.Decrypt(a.Sum(), plan)
		if err != nil {
			t.Fatal(err)
		}
		checkExact(t, res, []float64{v, v, v}, 1)
	}
}

// A sum beyond what its count of in-range values can make is rejected.
func TestDecryptRejectsImpossibleSum(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	wide := Plan{Scale: 1, Min: 0, Max: 1000, MaxValues: 10}
	enc, err := NewEncryptor(key.PublicKey(), wide)
	if err != nil {
		t.Fatal(err)
	}
	cts, err := enc.Encrypt([]float64{900, 800})
	if err != nil {
		t.Fatal(err)
	}
	narrow := Plan{Scale: 1, Min: 0, Max: 100, MaxValues: 10}
	if _, err := key.Decrypt(cts[0], narrow); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v, want ErrCorrupt", err)
	}
	res, err := key.Decrypt(cts[0], wide)
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, res, []float64{900, 800}, 1)
}

func TestFieldValuesSkipsNonNumbers(t *testing.T) {
	readings := []sensor.Reading{
		{Fields: []sensor.Field{{Name: "t", Value: sensor.Number(1.5)}}},
		{Fields: []sensor.Field{{Name: "t", Value: sensor.Missing()}}},
		{Fields: []sensor.Field{{Name: "t", Value: sensor.Text("n/a")}}},
		{Fields: []sensor.Field{{Name: "h", Value: sensor.Number(9)}}},
		{Fields: []sensor.Field{{Name: "t", Value: sensor.Number(-2)}}},
	}
	got := FieldValues(readings, "t")
	if len(got) != 2 || got[0] != 1.5 || got[1] != -2 {
		t.Fatalf("values %v, want [1.5 -2]", got)
	}
}
