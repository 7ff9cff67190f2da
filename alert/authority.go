package alert

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeyID names an authority's public key: the first 8 bytes of the key's
// SHA-256 hash.
type KeyID [8]byte

// KeyIDOf returns the ID of pub.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	return KeyID(sum[:8])
}

// String returns the ID in hex.
func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// Authority is a key this network trusts to issue alerts. One name may
// have several keys, for example while an old key is replaced.
type Authority struct {
	Name string
	Key  ed25519.PublicKey
}

// NewAuthority checks name and key and returns the authority.
func NewAuthority(name string, key ed25519.PublicKey) (Authority, error) {
	if err := validateName(name); err != nil {
		return Authority{}, fmt.Errorf("alert: %v", err)
	}
	if len(key) != ed25519.PublicKeySize {
		return Authority{}, fmt.Errorf("alert: public key of %q is %d bytes, want %d", name, len(key), ed25519.PublicKeySize)
	}
	return Authority{Name: name, Key: key}, nil
}

// KeyID returns the ID of the authority's key.
func (a Authority) KeyID() KeyID { return KeyIDOf(a.Key) }

// FormatPublicKey returns pub as unpadded URL-safe base64, the form the
// CLI prints and ParsePublicKey reads.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a public key written by FormatPublicKey; it also
// accepts standard base64 and 64 hex digits.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	decoders := []func(string) ([]byte, error){
		base64.RawURLEncoding.DecodeString,
		base64.StdEncoding.DecodeString,
		hex.DecodeString,
	}
	for _, decode := range decoders {
		if b, err := decode(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, fmt.Errorf("alert: public key %q is not 32 bytes in base64 or hex", s)
}

// Authorities is a set of trusted keys, looked up by key ID.
type Authorities map[KeyID]Authority

// NewAuthorities returns the set of list. It rejects two different keys
// with one key ID, which would take a hash collision.
func NewAuthorities(list []Authority) (Authorities, error) {
	set := make(Authorities, len(list))
	for _, a := range list {
		id := a.KeyID()
		if old, ok := set[id]; ok && !old.Key.Equal(a.Key) {
			return nil, fmt.Errorf("alert: authorities %q and %q share key ID %s", old.Name, a.Name, id)
		}
		set[id] = a
	}
	return set, nil
}

// Signer issues alerts with an authority's private key.
type Signer struct {
	Name string
	Key  ed25519.PrivateKey
}

// Authority returns the public half of the signer.
func (s Signer) Authority() Authority {
	return Authority{Name: s.Name, Key: s.Key.Public().(ed25519.PublicKey)}
}
