package seal

import "testing"

// BenchmarkVerifyEnvelope measures what a storage node spends to accept
// one record version: decoding, one Ed25519 verification and the access
// list lookup.
func BenchmarkVerifyEnvelope(b *testing.B) {
	ns := newTestNamespace(b, "tags")
	signed, err := SignEnvelope(ns.writer, sampleEnvelope(ns))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := VerifyEnvelope(signed, ns.acl); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrapKey and BenchmarkUnwrapKey measure one HPKE operation,
// which a writer pays per reader and a reader per record.
func BenchmarkWrapKey(b *testing.B) {
	pub := newTestUser(b).Public()
	ctx := WrapContext{Namespace: "tags", Version: 1, Role: RoleHeader}
	dk := NewDataKey()
	for b.Loop() {
		if _, err := WrapKey(pub, dk, ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapKey(b *testing.B) {
	u := newTestUser(b)
	ctx := WrapContext{Namespace: "tags", Version: 1, Role: RoleHeader}
	wrapped, err := WrapKey(u.Public(), NewDataKey(), ctx)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := UnwrapKey(u, wrapped, ctx); err != nil {
			b.Fatal(err)
		}
	}
}
