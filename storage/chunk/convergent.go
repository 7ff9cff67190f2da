package chunk

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Secret is a namespace's chunk secret, derived from the namespace master
// secret (see package storage/seal). It keys convergent encryption, so
// equal chunks deduplicate within the namespace that holds the secret and
// nowhere else.
type Secret [32]byte

// Key is the AES-256 key of one chunk. It is derived from the chunk's
// plaintext and travels only inside encrypted record headers.
type Key [32]byte

// ID names a sealed chunk: the SHA-256 hash of its ciphertext. Any node can
// check a chunk it holds against its ID without keys.
type ID [32]byte

// Overhead is how many bytes a sealed chunk is longer than its plaintext:
// the AES-GCM authentication tag.
const Overhead = 16

// chunkKeyLabel separates chunk-key derivation from any other use of the
// namespace chunk secret.
const chunkKeyLabel = "chunk-key"

// Errors returned by Seal, Open and VerifyID; each is wrapped with the
// chunk ID or size involved.
var (
	ErrTooLarge   = errors.New("chunk: chunk too large")
	ErrEmpty      = errors.New("chunk: empty chunk")
	ErrIDMismatch = errors.New("chunk: content does not match chunk ID")
	ErrDecrypt    = errors.New("chunk: decryption failed")
	ErrSize       = errors.New("chunk: plaintext size does not match reference")
)

// Ref is a reference to one chunk: the ID to fetch it by, the key that
// opens it and its plaintext size. Record headers list a value's Refs in
// order and are encrypted, because anyone with a Ref can read the chunk.
type Ref struct {
	_    struct{} `cbor:",toarray"`
	ID   ID
	Key  Key
	Size uint32 // plaintext bytes
}

// Seal encrypts one chunk by convergent encryption and returns its Ref and
// ciphertext. Equal plaintexts sealed with one secret give equal Refs and
// ciphertexts, which is what lets a namespace store a repeated chunk once.
//
// The chunk key is HMAC-SHA256(secret, "chunk-key" || SHA-256(plaintext)),
// the ciphertext is AES-256-GCM under that key with an all-zero nonce, and
// the ID is SHA-256(ciphertext). The fixed nonce is safe. GCM breaks only
// when one key encrypts two different messages under the same nonce. Here
// the key is derived from the plaintext's hash, so a key only ever
// encrypts that one plaintext, barring a SHA-256 collision.
// What storage nodes learn is chunk sizes and which chunks of a namespace
// are equal. Holders of the namespace secret can also test whether the
// namespace stores a plaintext they guess; that is the price of
// deduplication, so give the secret only to the namespace's writers.
func Seal(secret Secret, plaintext []byte) (Ref, []byte, error) {
	if len(plaintext) == 0 {
		return Ref{}, nil, ErrEmpty
	}
	if len(plaintext) > MaxChunkSize {
		return Ref{}, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxChunkSize)
	}

	key := deriveKey(secret, plaintext)
	sealed := newGCM(key).Seal(nil, zeroNonce[:], plaintext, nil)
	ref := Ref{ID: sha256.Sum256(sealed), Key: key, Size: uint32(len(plaintext))}
	return ref, sealed, nil
}

// Open checks sealed against ref.ID, decrypts it with ref.Key and returns
// the plaintext. Errors name the chunk ID.
func Open(ref Ref, sealed []byte) ([]byte, error) {
	if err := VerifyID(ref.ID, sealed); err != nil {
		return nil, err
	}
	plaintext, err := newGCM(ref.Key).Open(nil, zeroNonce[:], sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %s: the key in the record header does not open it", ErrDecrypt, ref.ID)
	}
	if len(plaintext) != int(ref.Size) {
		return nil, fmt.Errorf("%w: chunk %s has %d bytes, the record header lists %d", ErrSize, ref.ID, len(plaintext), ref.Size)
	}
	return plaintext, nil
}

// VerifyID returns an error unless sealed hashes to id. It needs no keys,
// so storage nodes can run it on every chunk they receive, serve or repair.
func VerifyID(id ID, sealed []byte) error {
	if len(sealed) > MaxChunkSize+Overhead {
		return fmt.Errorf("%w: chunk %s is %d bytes, limit %d", ErrTooLarge, id, len(sealed), MaxChunkSize+Overhead)
	}
	if sum := sha256.Sum256(sealed); sum != id {
		return fmt.Errorf("%w: chunk %s hashes to %s; this copy is corrupt, fetch another", ErrIDMismatch, id, ID(sum))
	}
	return nil
}

var zeroNonce [12]byte

func deriveKey(secret Secret, plaintext []byte) Key {
	sum := sha256.Sum256(plaintext)
	mac := hmac.New(sha256.New, secret[:])
	mac.Write([]byte(chunkKeyLabel))
	mac.Write(sum[:])
	var key Key
	mac.Sum(key[:0])
	return key
}

// newGCM returns AES-256-GCM under key. The errors it panics on cannot
// happen, because the key is always 32 bytes and GCM accepts any AES block.
func newGCM(key Key) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("chunk: aes.NewCipher with a 32-byte key: " + err.Error())
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("chunk: cipher.NewGCM: " + err.Error())
	}
	return gcm
}

// String returns the ID in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses the 64 hex digits that ID.String returns.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("chunk: parse ID %q: want %d hex digits, got %d", s, 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("chunk: parse ID %q: %w", s, err)
	}
	return id, nil
}

// MarshalBinary and UnmarshalBinary make ID and Key encode as CBOR byte
// strings and reject a decoded string of the wrong length, which the CBOR
// library would otherwise pad or truncate.

func (id ID) MarshalBinary() ([]byte, error)  { return id[:], nil }
func (id *ID) UnmarshalBinary(b []byte) error { return unmarshal32("ID", id[:], b) }
func (k Key) MarshalBinary() ([]byte, error)  { return k[:], nil }
func (k *Key) UnmarshalBinary(b []byte) error { return unmarshal32("Key", k[:], b) }

func unmarshal32(name string, dst, b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("chunk: %s must be 32 bytes, got %d", name, len(b))
	}
	copy(dst, b)
	return nil
}
