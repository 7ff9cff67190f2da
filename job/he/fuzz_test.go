package he

import (
	"bytes"
	"testing"
)

// FuzzDecodeCiphertext checks that no input crashes the decoder and that
// whatever it accepts encodes back to the same bytes.
func FuzzDecodeCiphertext(f *testing.F) {
	p := newParams(f)
	key := GenerateKey(p)
	enc, err := NewEncryptor(key.PublicKey(), Plan{Scale: 1, Min: 0, Max: 1, MaxValues: 1})
	if err != nil {
		f.Fatal(err)
	}
	cts, err := enc.Encrypt([]float64{1})
	if err != nil {
		f.Fatal(err)
	}
	good, err := cts[0].MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{1})
	f.Add(make([]byte, p.CiphertextSize()))

	f.Fuzz(func(t *testing.T, b []byte) {
		ct, err := p.DecodeCiphertext(b)
		if err != nil {
			return
		}
		again, err := ct.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("accepted ciphertext does not encode back to its bytes")
		}
	})
}

// FuzzDecodePublicKey checks that no input crashes the decoder and that
// whatever it accepts encodes back to the same bytes.
func FuzzDecodePublicKey(f *testing.F) {
	p := newParams(f)
	good, err := GenerateKey(p).PublicKey().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{publicKeyVersion})
	f.Add(make([]byte, p.PublicKeySize()))

	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := p.DecodePublicKey(b)
		if err != nil {
			return
		}
		again, err := pk.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("accepted public key does not encode back to its bytes")
		}
	})
}

// FuzzDecodeOwnerKey does the same for the owner's key file.
func FuzzDecodeOwnerKey(f *testing.F) {
	p := newParams(f)
	good, err := GenerateKey(p).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{ownerKeyVersion})

	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := p.DecodeOwnerKey(b)
		if err != nil {
			return
		}
		again, err := k.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("accepted owner key does not encode back to its bytes")
		}
	})
}
