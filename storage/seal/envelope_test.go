package seal

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/yuinet/yui/storage/chunk"
)

// testNamespace is a namespace with an owner, a writer and a signed access
// list, as a storage node would hold it.
type testNamespace struct {
	ks            *KeySet
	owner, writer *User
	acl           *AccessList
}

func newTestNamespace(t testing.TB, name string) *testNamespace {
	t.Helper()
	ns := &testNamespace{ks: testKeySet(t, name), owner: newTestUser(t), writer: newTestUser(t)}
	signed, err := SignAccessList(ns.owner, &AccessList{
		Namespace: name,
		Version:   1,
		Owners:    []ed25519.PublicKey{ns.owner.SigningKey()},
		Writers:   []ed25519.PublicKey{ns.writer.SigningKey()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.acl, err = VerifyAccessList(signed, ns.owner.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// sampleEnvelope returns an unsigned envelope with a header hash, two
// chunks and two groups.
func sampleEnvelope(ns *testNamespace) *Envelope {
	id := testRecordID(ns.ks, "tag-17", 2)
	return NewEnvelope(id, []byte("sealed header"), []chunk.ID{{1}, {2}}, map[string][]byte{
		"public":    []byte("sealed public"),
		"guardians": []byte("sealed guardians"),
	})
}

func TestEnvelopeSignVerify(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	e := sampleEnvelope(ns)
	signed, err := SignEnvelope(ns.writer, e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyEnvelope(signed, ns.acl)
	if err != nil {
		t.Fatal(err)
	}
	if got.Record != e.Record || got.HeaderHash != e.HeaderHash || len(got.Chunks) != 2 || len(got.Groups) != 2 {
		t.Errorf("VerifyEnvelope = %+v, want %+v", got, e)
	}
	if got.Groups[0].Name != "guardians" || got.Groups[1].Name != "public" {
		t.Errorf("groups = %q, %q; want them sorted by name", got.Groups[0].Name, got.Groups[1].Name)
	}

	// An owner may write too.
	signed, err = SignEnvelope(ns.owner, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyEnvelope(signed, ns.acl); err != nil {
		t.Errorf("envelope signed by an owner: %v", err)
	}
}

func TestEnvelopeChecksParts(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	e := sampleEnvelope(ns)

	if err := e.CheckHeader([]byte("sealed header")); err != nil {
		t.Errorf("CheckHeader(listed header) = %v", err)
	}
	if err := e.CheckHeader([]byte("sealed headeR")); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("CheckHeader(tampered header) = %v, want ErrHashMismatch", err)
	}
	if err := e.CheckGroup("public", []byte("sealed public")); err != nil {
		t.Errorf("CheckGroup(public) = %v", err)
	}
	if err := e.CheckGroup("public", []byte("sealed guardians")); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("CheckGroup(public, guardians bytes) = %v, want ErrHashMismatch", err)
	}
	if err := e.CheckGroup("private", []byte("sealed public")); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("CheckGroup(unlisted group) = %v, want ErrHashMismatch", err)
	}
	header := &Header{Key: "tag-17", Size: 2, Chunks: []chunk.Ref{{ID: chunk.ID{1}, Size: 1}, {ID: chunk.ID{2}, Size: 1}}}
	if err := e.CheckChunks(header); err != nil {
		t.Errorf("CheckChunks(same chunks) = %v", err)
	}
	header.Chunks[0], header.Chunks[1] = header.Chunks[1], header.Chunks[0]
	if err := e.CheckChunks(header); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("CheckChunks(reordered chunks) = %v, want ErrHashMismatch", err)
	}
	header.Chunks = header.Chunks[:1]
	if err := e.CheckChunks(header); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("CheckChunks(fewer chunks) = %v, want ErrHashMismatch", err)
	}

	tomb := NewTombstone(e.Record)
	if err := tomb.CheckHeader(nil); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("tombstone CheckHeader = %v, want ErrHashMismatch", err)
	}
}

func TestTombstone(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	id := testRecordID(ns.ks, "tag-17", 3)
	signed, err := SignEnvelope(ns.writer, NewTombstone(id))
	if err != nil {
		t.Fatal(err)
	}
	e, err := VerifyEnvelope(signed, ns.acl)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Tombstone || e.Record != id {
		t.Errorf("VerifyEnvelope = %+v, want a tombstone of %s", e, id)
	}

	withChunks := NewTombstone(id)
	withChunks.Chunks = []chunk.ID{{1}}
	if _, err := SignEnvelope(ns.writer, withChunks); !errors.Is(err, ErrInvalid) {
		t.Errorf("SignEnvelope(tombstone with chunks) = %v, want ErrInvalid", err)
	}
}

func TestSignEnvelopeRejects(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	noHeader := sampleEnvelope(ns)
	noHeader.HeaderHash = Hash{}
	unsorted := sampleEnvelope(ns)
	unsorted.Groups[0], unsorted.Groups[1] = unsorted.Groups[1], unsorted.Groups[0]
	duplicate := sampleEnvelope(ns)
	duplicate.Groups[1].Name = duplicate.Groups[0].Name
	tooMany := sampleEnvelope(ns)
	tooMany.Chunks = make([]chunk.ID, MaxChunks+1)
	badGroup := sampleEnvelope(ns)
	badGroup.Groups[0].Name = RoleHeader
	version0 := sampleEnvelope(ns)
	version0.Record.Version = 0

	tests := []struct {
		name string
		e    *Envelope
		want error
	}{
		{"no header hash", noHeader, ErrInvalid},
		{"unsorted groups", unsorted, ErrInvalid},
		{"duplicate group", duplicate, ErrInvalid},
		{"too many chunks", tooMany, ErrTooLarge},
		{"reserved group name", badGroup, ErrInvalidName},
		{"version zero", version0, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SignEnvelope(ns.writer, tt.e); !errors.Is(err, tt.want) {
				t.Errorf("SignEnvelope = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyEnvelopeRejects(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	good, err := SignEnvelope(ns.writer, sampleEnvelope(ns))
	if err != nil {
		t.Fatal(err)
	}

	// Flip a bit inside the header hash: the body still decodes, so only
	// the signature can catch it.
	var outer signed
	if err := decMode.Unmarshal(good, &outer); err != nil {
		t.Fatal(err)
	}
	hashAt := bytes.Index(outer.Body, sampleEnvelope(ns).HeaderHash[:])
	if hashAt < 0 {
		t.Fatal("header hash not found in the encoded body")
	}
	tamperedBody := outer
	tamperedBody.Body = bytes.Clone(outer.Body)
	tamperedBody.Body[hashAt] ^= 1
	tampered, _ := marshal("test", tamperedBody)

	badSig := outer
	badSig.Signature = bytes.Clone(outer.Signature)
	badSig.Signature[0] ^= 1
	badSigBytes, _ := marshal("test", badSig)

	shortSig := outer
	shortSig.Signature = outer.Signature[:10]
	shortSigBytes, _ := marshal("test", shortSig)

	// A valid envelope by a user the access list does not name.
	stranger, err := SignEnvelope(newTestUser(t), sampleEnvelope(ns))
	if err != nil {
		t.Fatal(err)
	}

	// The stranger's envelope with the writer field set to a listed
	// writer: the signature no longer matches the claimed signer.
	var strangerOuter signed
	if err := decMode.Unmarshal(stranger, &strangerOuter); err != nil {
		t.Fatal(err)
	}
	var claimed Envelope
	if err := decMode.Unmarshal(strangerOuter.Body, &claimed); err != nil {
		t.Fatal(err)
	}
	claimed.Writer = ns.writer.SigningKey()
	strangerOuter.Body, _ = marshal("test", &claimed)
	impersonation, _ := marshal("test", strangerOuter)

	otherNamespace := newTestNamespace(t, "alerts")

	tests := []struct {
		name   string
		signed []byte
		acl    *AccessList
		want   error
	}{
		{"tampered body", tampered, ns.acl, ErrBadSignature},
		{"bad signature", badSigBytes, ns.acl, ErrBadSignature},
		{"short signature", shortSigBytes, ns.acl, ErrBadSignature},
		{"signer not listed", stranger, ns.acl, ErrNotWriter},
		{"impersonated writer", impersonation, ns.acl, ErrBadSignature},
		{"other namespace's list", good, otherNamespace.acl, ErrNamespaceMismatch},
		{"garbage", []byte("not cbor"), ns.acl, ErrMalformed},
		{"truncated", good[:len(good)-1], ns.acl, ErrMalformed},
		{"oversized", make([]byte, MaxEnvelopeSize+1024), ns.acl, ErrTooLarge},
		{"no access list", good, nil, ErrNotWriter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyEnvelope(tt.signed, tt.acl); !errors.Is(err, tt.want) {
				t.Errorf("VerifyEnvelope = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSignatureDomains checks that a signed access list does not verify as
// an envelope, even though both are signed by the same kind of key.
func TestSignatureDomains(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	signedList, err := SignAccessList(ns.owner, ns.acl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyEnvelope(signedList, ns.acl); err == nil {
		t.Error("a signed access list verified as an envelope")
	}
}
