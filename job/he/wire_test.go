package he

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// A public key that went through its encoding encrypts values that the
// owner's key decrypts, and the encoding is stable.
func TestPublicKeyRoundTrip(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	b, err := key.PublicKey().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != p.PublicKeySize() {
		t.Fatalf("public key is %d bytes, PublicKeySize says %d", len(b), p.PublicKeySize())
	}
	pk, err := p.DecodePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pk.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Fatal("decoded public key encodes to other bytes")
	}

	plan := Plan{Scale: 100, Min: -50, Max: 50, MaxValues: 10}
	enc, err := NewEncryptor(pk, plan)
	if err != nil {
		t.Fatal(err)
	}
	cts, err := enc.Encrypt([]float64{21.5, -3.25, 0.01})
	if err != nil {
		t.Fatal(err)
	}
	res, err := key.Decrypt(cts[0], plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sum.Int64() != 2150-325+1 || res.Count != 3 {
		t.Errorf("decrypted sum %v count %d, want 1826 and 3", res.Sum, res.Count)
	}
}

// An owner key read back from its encoding decrypts what the original
// public key encrypted.
func TestOwnerKeyRoundTrip(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	b, err := key.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != p.OwnerKeySize() {
		t.Fatalf("owner key is %d bytes, OwnerKeySize says %d", len(b), p.OwnerKeySize())
	}
	back, err := p.DecodeOwnerKey(b)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 1, Min: 0, Max: 1000, MaxValues: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := enc.EncryptSlots([]int64{7, -9, 0, 123456})
	if err != nil {
		t.Fatal(err)
	}
	slots, err := back.DecryptSlots(ct)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{7, -9, 0, 123456}
	for i, w := range want {
		if slots[i] != w {
			t.Errorf("slot %d is %d, want %d", i, slots[i], w)
		}
	}
	for i, s := range slots[len(want):] {
		if s != 0 {
			t.Fatalf("unused slot %d is %d, want 0", len(want)+i, s)
		}
	}
}

func TestDecodeKeysRejects(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	pub, err := key.PublicKey().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	owner, err := key.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, p.CiphertextSize())
	ct[0] = ciphertextVersion

	bad := func(good []byte, mutate func([]byte)) []byte {
		b := bytes.Clone(good)
		mutate(b)
		return b
	}
	unreduced := func(b []byte) { binary.LittleEndian.PutUint64(b[len(b)-8:], math.MaxUint64) }
	version := func(b []byte) { b[0] = ciphertextVersion }

	for name, b := range map[string][]byte{
		"short": pub[:len(pub)-1], "long": append(bytes.Clone(pub), 0), "empty": nil,
		"version": bad(pub, version), "unreduced": bad(pub, unreduced), "owner key": owner, "ciphertext": ct,
	} {
		if _, err := p.DecodePublicKey(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("public key %s: error %v, want ErrMalformed", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"short": owner[:len(owner)-1], "empty": nil, "version": bad(owner, version),
		"unreduced secret": bad(owner, func(b []byte) { binary.LittleEndian.PutUint64(b[1:], math.MaxUint64) }),
		"unreduced public": bad(owner, unreduced), "public key": pub,
	} {
		if _, err := p.DecodeOwnerKey(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("owner key %s: error %v, want ErrMalformed", name, err)
		}
	}
}

// Slots add independently: the sum of two ciphertexts holds the sum of
// each slot, negative ones included.
func TestEncryptSlotsAdds(t *testing.T) {
	p := newParams(t)
	key := GenerateKey(p)
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 1, Min: -1e6, Max: 1e6, MaxValues: 10})
	if err != nil {
		t.Fatal(err)
	}
	a, err := enc.EncryptSlots([]int64{1, 2, 3, -4})
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.EncryptSlots([]int64{10, 0, -30})
	if err != nil {
		t.Fatal(err)
	}
	agg := NewAggregator(p)
	for _, ct := range []*Ciphertext{a, b} {
		if err := agg.Add(ct); err != nil {
			t.Fatal(err)
		}
	}
	slots, err := key.DecryptSlots(agg.Sum())
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []int64{11, 2, -27, -4} {
		if slots[i] != w {
			t.Errorf("slot %d is %d, want %d", i, slots[i], w)
		}
	}

	if _, err := enc.EncryptSlots(make([]int64, p.Slots()+1)); !errors.Is(err, ErrInvalidPlan) {
		t.Errorf("too many slots: error %v, want ErrInvalidPlan", err)
	}
	if _, err := enc.EncryptSlots([]int64{maxSum}); !errors.Is(err, ErrOverflow) {
		t.Errorf("slot of T/2: error %v, want ErrOverflow", err)
	}
}

func TestPlanFixed(t *testing.T) {
	plan := Plan{Scale: 100, Min: -40, Max: 60, MaxValues: 1}
	for _, c := range []struct {
		v    float64
		want int64
	}{{22.08, 2208}, {-3.5, -350}, {60, 6000}, {-40, -4000}, {0.005, 1}} {
		got, err := plan.Fixed(c.v)
		if err != nil || got != c.want {
			t.Errorf("Fixed(%v) = %d, %v; want %d", c.v, got, err, c.want)
		}
	}
	for _, v := range []float64{60.01, -40.5, math.NaN(), math.Inf(1)} {
		if _, err := plan.Fixed(v); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Fixed(%v): error %v, want ErrOutOfRange", v, err)
		}
	}
}
