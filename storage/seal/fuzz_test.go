package seal

import (
	"bytes"
	"testing"

	"github.com/yuinet/yui/storage/chunk"
)

// The fuzz targets below feed every decoder arbitrary bytes. Each must
// return an error or a value that passes its own validation, and never
// panic or allocate without limit.

func FuzzDecodeHeader(f *testing.F) {
	ks := testKeySet(f, "sensors")
	h, _ := sealValue(f, ks, "R1.txt", bytes.Repeat([]byte("21,21 2,81\n"), 300))
	good, err := marshal("header", h)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x84, 0x61, 0x6b, 0x60, 0x00, 0x80})
	f.Add([]byte{0x84, 0x61, 0x6b, 0x60, 0x01, 0x9f, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			return
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("decodeHeader returned an invalid header: %v", err)
		}
		again, err := marshal("header", h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeHeader(again); err != nil {
			t.Fatalf("re-encoded header does not decode: %v", err)
		}
	})
}

func FuzzOpenHeader(f *testing.F) {
	ks := testKeySet(f, "sensors")
	id := testRecordID(ks, "k", 1)
	var dk DataKey
	sealed, err := SealHeader(dk, id, &Header{Key: "k"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(sealed[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := OpenHeader(dk, id, b); err == nil && h.Key != "k" {
			t.Fatalf("OpenHeader accepted a header for key %q", h.Key)
		}
	})
}

func FuzzDecodeFields(f *testing.F) {
	good, err := marshal("group", map[string][]byte{"temperature": []byte("21.5"), "lat": nil})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0xa2, 0x61, 0x61, 0x40, 0x61, 0x61, 0x40}) // duplicate key
	f.Add([]byte{0xf6})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := decodeFields(b)
		if err != nil {
			return
		}
		if err := validateFields(fields); err != nil {
			t.Fatalf("decodeFields returned invalid fields: %v", err)
		}
	})
}

func FuzzVerifyEnvelope(f *testing.F) {
	ns := newTestNamespace(f, "tags")
	for _, e := range []*Envelope{sampleEnvelope(ns), NewTombstone(testRecordID(ns.ks, "k", 9))} {
		signed, err := SignEnvelope(ns.writer, e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
	}
	f.Add([]byte{0x82, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := VerifyEnvelope(b, ns.acl)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("VerifyEnvelope returned an invalid envelope: %v", err)
		}
		if !ns.acl.MayWrite(e.Writer) {
			t.Fatal("VerifyEnvelope accepted an unlisted writer")
		}
	})
}

func FuzzVerifyAccessList(f *testing.F) {
	ns := newTestNamespace(f, "tags")
	signed, err := SignAccessList(ns.owner, ns.acl)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	next := *ns.acl
	next.Version = 2
	signedNext, err := SignAccessList(ns.owner, &next)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signedNext)
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := VerifyAccessList(b, ns.owner.SigningKey()); err == nil {
			if err := a.Validate(); err != nil {
				t.Fatalf("VerifyAccessList returned an invalid list: %v", err)
			}
		}
		if a, err := ns.acl.VerifyUpdate(b); err == nil && a.Version <= ns.acl.Version {
			t.Fatalf("VerifyUpdate accepted version %d over %d", a.Version, ns.acl.Version)
		}
	})
}

func FuzzParsePublicKeys(f *testing.F) {
	good, err := newTestUser(f).Public().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePublicKeys(b)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePublicKeys returned invalid keys: %v", err)
		}
	})
}

func FuzzUnwrapKey(f *testing.F) {
	u := newTestUser(f)
	ctx := WrapContext{Namespace: "tags", Version: 1, Role: "public"}
	dk := DataKey{1, 2, 3}
	wrapped, err := WrapKey(u.Public(), dk, ctx)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wrapped)
	f.Add(make([]byte, WrappedKeySize))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := UnwrapKey(u, b, ctx)
		if err == nil && got != dk {
			t.Fatalf("UnwrapKey accepted a forged key %x", got)
		}
	})
}

func FuzzParseUser(f *testing.F) {
	good, err := encodeUser(newTestUser(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseUser(b)
		if err != nil {
			return
		}
		if err := u.Public().Validate(); err != nil {
			t.Fatalf("parseUser returned unusable keys: %v", err)
		}
	})
}

// FuzzChunkRefsInHeader checks that a header never decodes chunk IDs or
// keys of the wrong length, which the CBOR library would pad or truncate
// without chunk's strict UnmarshalBinary.
func FuzzChunkRefsInHeader(f *testing.F) {
	h := Header{Key: "k", Size: 1, Chunks: []chunk.Ref{{ID: chunk.ID{1}, Key: chunk.Key{2}, Size: 1}}}
	good, err := marshal("header", &h)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		var refs struct {
			_      struct{} `cbor:",toarray"`
			Key    string
			CT     string
			Size   uint64
			Chunks []struct {
				_    struct{} `cbor:",toarray"`
				ID   []byte
				Key  []byte
				Size uint32
			}
		}
		if _, err := decodeHeader(b); err != nil {
			return
		}
		if err := decMode.Unmarshal(b, &refs); err != nil {
			t.Fatalf("decodeHeader accepted what a plain decode rejects: %v", err)
		}
		for i, r := range refs.Chunks {
			if len(r.ID) != 32 || len(r.Key) != 32 {
				t.Fatalf("chunk %d decoded with a %d-byte ID and %d-byte key", i, len(r.ID), len(r.Key))
			}
		}
	})
}
