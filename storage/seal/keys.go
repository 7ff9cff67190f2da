package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/yuinet/yui/storage/chunk"
)

// MasterSecretSize is the size of a namespace master secret that
// NewMasterSecret creates, and the minimum DeriveKeySet accepts.
const MasterSecretSize = 32

// Hash is a SHA-256 or HMAC-SHA256 output: a record key hash, or the hash
// of a sealed header or group.
type Hash [32]byte

// String returns h in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalBinary and UnmarshalBinary make a Hash encode as a CBOR byte
// string and reject a decoded string of the wrong length, which the CBOR
// library would otherwise pad or truncate.
func (h Hash) MarshalBinary() ([]byte, error) { return h[:], nil }

func (h *Hash) UnmarshalBinary(b []byte) error {
	if len(b) != len(h) {
		return fmt.Errorf("seal: hash must be %d bytes, got %d", len(h), len(b))
	}
	copy(h[:], b)
	return nil
}

// KeySet is the set of secrets of one namespace, derived from its master
// secret. Writers hold it; storage nodes never do.
type KeySet struct {
	Namespace string
	// KeyHashing keys KeyHash and PrefixHash.
	KeyHashing [32]byte
	// Chunk keys convergent chunk encryption (chunk.Seal).
	Chunk chunk.Secret
	// Index keys the blind-index tokens that make records searchable
	// without revealing field values.
	Index [32]byte
	// Metadata encrypts namespace-level data that belongs to no single
	// record, such as settings.
	Metadata [32]byte
}

// NewMasterSecret returns a fresh random namespace master secret.
func NewMasterSecret() []byte {
	b := make([]byte, MasterSecretSize)
	rand.Read(b) // never returns an error; it crashes the program if the OS fails
	return b
}

// DeriveKeySet derives a namespace's KeySet from its master secret with
// HKDF-SHA256. The namespace name is part of every derivation, so one
// master secret used for two namespaces still gives unrelated keys.
func DeriveKeySet(namespace string, master []byte) (*KeySet, error) {
	if err := ValidateNamespace(namespace); err != nil {
		return nil, err
	}
	if len(master) < MasterSecretSize {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d; create one with NewMasterSecret",
			ErrShortSecret, len(master), MasterSecretSize)
	}

	ks := &KeySet{Namespace: namespace}
	for _, k := range []struct {
		label string
		dst   []byte
	}{
		{"key-hash", ks.KeyHashing[:]},
		{"chunk", ks.Chunk[:]},
		{"index", ks.Index[:]},
		{"metadata", ks.Metadata[:]},
	} {
		// The info string "yui seal v1 <label>\x00<namespace>" is
		// unambiguous: labels are fixed and names contain no NUL.
		info := "yui seal v1 " + k.label + "\x00" + namespace
		key, err := hkdf.Key(sha256.New, master, nil, info, len(k.dst))
		if err != nil {
			return nil, fmt.Errorf("seal: derive %s key: %w", k.label, err)
		}
		copy(k.dst, key)
	}
	return ks, nil
}

// KeyHash returns the keyed hash under which storage nodes store the record
// key: HMAC-SHA256(ks.KeyHashing, key). It hashes any string; check keys
// from users with ValidateKey first.
func KeyHash(ks *KeySet, key string) Hash {
	mac := hmac.New(sha256.New, ks.KeyHashing[:])
	mac.Write([]byte(key))
	var h Hash
	mac.Sum(h[:0])
	return h
}

// PrefixHash returns the keyed hash of a key prefix, for a WrapContext
// that covers every record under the prefix. Its input starts with a NUL
// byte, which valid record keys never contain, so a prefix hash never
// equals the hash of a record key.
func PrefixHash(ks *KeySet, prefix string) Hash {
	return KeyHash(ks, "\x00prefix\x00"+prefix)
}

// DataKey is the AES-256 key of one record version or one field group.
type DataKey [32]byte

// NewDataKey returns a fresh random DataKey. Each record version and each
// field group gets its own, so revealing one key reveals nothing else.
func NewDataKey() DataKey {
	var k DataKey
	rand.Read(k[:]) // never returns an error; it crashes the program if the OS fails
	return k
}
