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

// FuzzDecodeSegmentRecord checks that no input crashes the segment record
// decoder and that whatever it accepts encodes back to the same bytes.
func FuzzDecodeSegmentRecord(f *testing.F) {
	p := newParams(f)
	_, good := sealedRecord(f, p)
	ct := good[len(good)-p.CiphertextSize():]
	// The seeds are headers alone: mutating a 256 KiB record would make
	// each run slow, and the ciphertext has a fuzz target of its own.
	header := good[:len(good)-len(ct)]
	f.Add(header)
	f.Add(append(bytes.Clone(header), 1, 2, 3))
	f.Add([]byte{segmentRecordVersion})

	f.Fuzz(func(t *testing.T, b []byte) {
		h, rest, err := decodeHeader(b)
		if err != nil {
			return
		}
		head, err := appendHeader(nil, h)
		if err != nil {
			t.Fatalf("accepted header does not encode: %v", err)
		}
		if !bytes.Equal(head, b[:len(b)-len(rest)]) {
			t.Fatal("accepted header does not encode back to its bytes")
		}
		if _, _, err := p.DecodeSegmentRecord(append(bytes.Clone(head), ct...)); err != nil {
			t.Fatalf("accepted header with a good ciphertext: %v", err)
		}
		if _, _, err := p.DecodeSegmentRecord(b); err == nil && len(rest) != p.CiphertextSize() {
			t.Fatalf("accepted a record with %d bytes of ciphertext", len(rest))
		}
	})
}

// FuzzDecodePageSums checks the page sums decoder the same way.
func FuzzDecodePageSums(f *testing.F) {
	p := newParams(f)
	_, rec := sealedRecord(f, p)
	_, ct, err := p.DecodeSegmentRecord(rec)
	if err != nil {
		f.Fatal(err)
	}
	good, err := EncodePageSums([]PageSum{{Key: PageKey{Source: "0123456789abcdef", Page: 7, Fields: []string{"t"}}, Sum: ct}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{pageSumsVersion, 0})
	f.Add([]byte{pageSumsVersion, 1, 1, 0, 0})

	f.Fuzz(func(t *testing.T, b []byte) {
		sums, err := p.DecodePageSums(b)
		if err != nil {
			return
		}
		again, err := EncodePageSums(sums)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("accepted page sums do not encode back to their bytes")
		}
	})
}

// FuzzDecodeSealConfig checks that no input crashes the seal config
// decoder and that whatever it accepts encodes back to the same bytes.
func FuzzDecodeSealConfig(f *testing.F) {
	good, _ := SealConfig{Owner: "default", Scale: 100, Bound: 10000}.MarshalBinary()
	f.Add(good)
	f.Add(good[:17])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeSealConfig(b, 1<<16)
		if err != nil {
			return
		}
		again, _ := c.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Fatal("accepted seal config does not encode back to its bytes")
		}
	})
}

// FuzzDecodeSumRefs checks the sum references decoder the same way.
func FuzzDecodeSumRefs(f *testing.F) {
	good, err := EncodeSumRefs([]SumRef{{Node: [NodeIDSize]byte{1}, Unit: 2, Epoch: 3, Lease: 4, Sums: 5},
		{Unit: 9, Sums: MaxUnitSums}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	digests, err := EncodeSumRefs([]SumRef{{Node: [NodeIDSize]byte{1}, Unit: 2, Epoch: 3, Lease: 4, Sums: 5, Digest: [DigestSize]byte{6}},
		{Node: [NodeIDSize]byte{2}, Unit: 2, Epoch: 3, Lease: 7, Sums: 5, Digest: [DigestSize]byte{6}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(digests)
	f.Add([]byte{sumRefsVersion, 0, 0, 0, 0})
	f.Add([]byte{sumRefsVersion, 0xff, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := DecodeSumRefs(b)
		if err != nil {
			return
		}
		again, err := EncodeSumRefs(refs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("accepted sum references do not encode back to their bytes")
		}
	})
}
