package search

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/store"
)

// keys are the secrets derived from one namespace's index key.
type keys struct {
	// token keys the HMAC that makes tokens.
	token [32]byte
	// nonce keys the HMAC that derives an entry's nonce from its token
	// and plaintext.
	nonce [32]byte
	// entry seals posting entries.
	entry cipher.AEAD
}

func deriveKeys(indexKey [store.IndexKeySize]byte) (*keys, error) {
	k := &keys{}
	for _, d := range []struct {
		label string
		dst   []byte
	}{{"token", k.token[:]}, {"nonce", k.nonce[:]}} {
		b, err := hkdf.Key(sha256.New, indexKey[:], nil, "yui search v1 "+d.label, len(d.dst))
		if err != nil {
			return nil, fmt.Errorf("search: derive %s key: %w", d.label, err)
		}
		copy(d.dst, b)
	}
	entryKey, err := hkdf.Key(sha256.New, indexKey[:], nil, "yui search v1 entry", 32)
	if err != nil {
		return nil, fmt.Errorf("search: derive entry key: %w", err)
	}
	block, err := aes.NewCipher(entryKey)
	if err != nil {
		return nil, err
	}
	if k.entry, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return k, nil
}

// tokenOf returns HMAC-SHA256 over kind and parts. Each part is prefixed
// with its length, so no two different inputs give the same message.
func (k *keys) tokenOf(kind string, parts ...[]byte) wire.Hash {
	mac := hmac.New(sha256.New, k.token[:])
	writePart(mac, []byte(kind))
	for _, p := range parts {
		writePart(mac, p)
	}
	var t wire.Hash
	mac.Sum(t[:0])
	return t
}

func writePart(h hash.Hash, p []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
	h.Write(p)
}

// seal encrypts an entry for token. The nonce is an HMAC of the token and
// the plaintext, so sealing the same entry twice gives the same bytes,
// which the holder stores once, and a nonce repeats only with its
// plaintext. The token is the associated data, so an entry copied under
// another token does not open.
func (k *keys) seal(token wire.Hash, plain []byte) []byte {
	mac := hmac.New(sha256.New, k.nonce[:])
	mac.Write(token[:])
	mac.Write(plain)
	nonce := mac.Sum(nil)[:k.entry.NonceSize()]
	return k.entry.Seal(nonce, nonce, plain, token[:])
}

// open decrypts an entry sealed for token.
func (k *keys) open(token wire.Hash, sealed []byte) ([]byte, error) {
	n := k.entry.NonceSize()
	if len(sealed) < n+k.entry.Overhead() {
		return nil, fmt.Errorf("%w: entry of %d bytes is shorter than its nonce and tag", ErrCorruptEntry, len(sealed))
	}
	plain, err := k.entry.Open(nil, sealed[:n], sealed[n:], token[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptEntry, err)
	}
	return plain, nil
}
