package seal

import (
	"bytes"
	"errors"
	"testing"
)

func testKeySet(t testing.TB, namespace string) *KeySet {
	t.Helper()
	ks, err := DeriveKeySet(namespace, bytes.Repeat([]byte{7}, MasterSecretSize))
	if err != nil {
		t.Fatalf("DeriveKeySet(%q): %v", namespace, err)
	}
	return ks
}

func TestDeriveKeySet(t *testing.T) {
	a1 := testKeySet(t, "sensors")
	a2 := testKeySet(t, "sensors")
	if *a1 != *a2 {
		t.Error("DeriveKeySet is not deterministic")
	}

	keys := [][32]byte{a1.KeyHashing, a1.Chunk, a1.Index, a1.Metadata}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[i] == keys[j] {
				t.Errorf("keys %d and %d of one key set are equal", i, j)
			}
		}
	}

	b := testKeySet(t, "alerts")
	if b.KeyHashing == a1.KeyHashing || b.Chunk == a1.Chunk || b.Index == a1.Index || b.Metadata == a1.Metadata {
		t.Error("two namespaces with one master secret share a key")
	}

	other, err := DeriveKeySet("sensors", NewMasterSecret())
	if err != nil {
		t.Fatal(err)
	}
	if other.KeyHashing == a1.KeyHashing {
		t.Error("two master secrets derive the same key")
	}
}

func TestDeriveKeySetRejects(t *testing.T) {
	if _, err := DeriveKeySet("sensors", make([]byte, MasterSecretSize-1)); !errors.Is(err, ErrShortSecret) {
		t.Errorf("DeriveKeySet(31-byte secret) = %v, want ErrShortSecret", err)
	}
	if _, err := DeriveKeySet("Bad Name", NewMasterSecret()); !errors.Is(err, ErrInvalidName) {
		t.Errorf("DeriveKeySet(bad namespace) = %v, want ErrInvalidName", err)
	}
}

func TestKeyHash(t *testing.T) {
	ks := testKeySet(t, "sensors")
	h := KeyHash(ks, "R1/node-20")
	if h != KeyHash(ks, "R1/node-20") {
		t.Error("KeyHash is not deterministic")
	}
	if h == KeyHash(ks, "R1/node-21") {
		t.Error("two keys hash alike")
	}
	if h == KeyHash(testKeySet(t, "alerts"), "R1/node-20") {
		t.Error("one key hashes alike in two namespaces")
	}
	if PrefixHash(ks, "R1/node-20") == h {
		t.Error("PrefixHash equals KeyHash of the same string")
	}
}

func TestHashUnmarshalBinaryRejectsLength(t *testing.T) {
	var h Hash
	if err := h.UnmarshalBinary(make([]byte, 31)); err == nil {
		t.Error("UnmarshalBinary(31 bytes) succeeded, want an error")
	}
	if err := h.UnmarshalBinary(bytes.Repeat([]byte{1}, 32)); err != nil || h[31] != 1 {
		t.Errorf("UnmarshalBinary(32 bytes) = %v, hash %s", err, h)
	}
}
