package seal

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
)

// Access list limits.
const (
	// MaxMembers is the most keys in an access list's Owners or Writers.
	MaxMembers = 1024
	// MaxAccessListSize is the limit on an encoded access list body. One
	// at 2 × MaxMembers keys encodes to about 70 KB.
	MaxAccessListSize = 128 << 10
)

// AccessList names who may change a namespace. Owners sign new versions of
// the list and may write records; Writers may write records. Reading is
// not listed here: it is granted by wrapping DataKeys to a reader.
//
// A storage node keeps the newest access list of each namespace it serves.
// It verifies the first with VerifyAccessList against the key that created
// the namespace, and each later one with AccessList.VerifyUpdate.
type AccessList struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	// Version rises with every change, so nodes keep the newest list.
	Version uint64
	Owners  []ed25519.PublicKey
	Writers []ed25519.PublicKey
	// Signer is the owner key that signed this version; SignAccessList
	// sets it.
	Signer ed25519.PublicKey
}

const accessListDomain = "yui seal v1 access-list"

// Validate checks the namespace, the version and the member keys.
func (a *AccessList) Validate() error {
	if err := ValidateNamespace(a.Namespace); err != nil {
		return err
	}
	if a.Version == 0 {
		return fmt.Errorf("%w: access list of %q: versions start at 1", ErrInvalid, a.Namespace)
	}
	if len(a.Owners) == 0 {
		return fmt.Errorf("%w: access list of %q has no owner, so no one could ever change it", ErrInvalid, a.Namespace)
	}
	if len(a.Owners) > MaxMembers || len(a.Writers) > MaxMembers {
		return fmt.Errorf("%w: access list of %q has %d owners and %d writers, limit %d each",
			ErrTooLarge, a.Namespace, len(a.Owners), len(a.Writers), MaxMembers)
	}
	for _, k := range slices.Concat(a.Owners, a.Writers, []ed25519.PublicKey{a.Signer}) {
		if !validKey(k) {
			return fmt.Errorf("%w: access list of %q has a key of %d bytes, want %d",
				ErrInvalid, a.Namespace, len(k), ed25519.PublicKeySize)
		}
	}
	return nil
}

// MayWrite reports whether key is an owner or a writer.
func (a *AccessList) MayWrite(key ed25519.PublicKey) bool {
	return a.IsOwner(key) || containsKey(a.Writers, key)
}

// IsOwner reports whether key is an owner.
func (a *AccessList) IsOwner(key ed25519.PublicKey) bool {
	return containsKey(a.Owners, key)
}

// SignAccessList sets a.Signer to owner's key, validates a, signs it and
// returns the encoded signed access list.
func SignAccessList(owner *User, a *AccessList) ([]byte, error) {
	a.Signer = owner.SigningKey()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return sign(owner, "access list", accessListDomain, a)
}

// VerifyAccessList decodes a signed access list and checks that one of
// trusted signed it. Use it for the first list of a namespace, with the
// key that created the namespace.
func VerifyAccessList(b []byte, trusted ...ed25519.PublicKey) (*AccessList, error) {
	a, err := openAccessList(b)
	if err != nil {
		return nil, err
	}
	if !containsKey(trusted, a.Signer) {
		return nil, fmt.Errorf("%w: access list %d of %q is signed by %x, which is not trusted",
			ErrNotOwner, a.Version, a.Namespace, []byte(a.Signer))
	}
	return a, nil
}

// VerifyUpdate decodes a signed access list that is to replace a: it must
// be for the same namespace, have a higher version and be signed by one
// of a's owners.
func (a *AccessList) VerifyUpdate(b []byte) (*AccessList, error) {
	next, err := openAccessList(b)
	if err != nil {
		return nil, err
	}
	if next.Namespace != a.Namespace {
		return nil, fmt.Errorf("%w: update for %q offered to the access list of %q",
			ErrNamespaceMismatch, next.Namespace, a.Namespace)
	}
	if next.Version <= a.Version {
		return nil, fmt.Errorf("%w: update of %q has version %d, current is %d",
			ErrStale, a.Namespace, next.Version, a.Version)
	}
	if !a.IsOwner(next.Signer) {
		return nil, fmt.Errorf("%w: update %d of %q is signed by %x, not an owner in version %d",
			ErrNotOwner, next.Version, a.Namespace, []byte(next.Signer), a.Version)
	}
	return next, nil
}

func containsKey(keys []ed25519.PublicKey, key ed25519.PublicKey) bool {
	return slices.ContainsFunc(keys, func(k ed25519.PublicKey) bool { return bytes.Equal(k, key) })
}

func openAccessList(b []byte) (*AccessList, error) {
	var a AccessList
	s, err := openSigned("access list", b, MaxAccessListSize, &a)
	if err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	subject := fmt.Sprintf("access list %d of %q", a.Version, a.Namespace)
	if err := verifySignature(subject, accessListDomain, a.Signer, s); err != nil {
		return nil, err
	}
	return &a, nil
}
