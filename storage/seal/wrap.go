package seal

import (
	"crypto/ecdh"
	"crypto/hpke"
	"fmt"
)

// RoleHeader is the WrapContext role of a record's header key. Field
// groups may not use this name, so a header key and a group key never
// share a context.
const RoleHeader = "header"

// WrappedKeySize is the size of a wrapped DataKey: the 32-byte X25519
// encapsulated key, the 32-byte DataKey and the 16-byte AES-GCM tag.
const WrappedKeySize = 80

// WrapContext states what a wrapped key opens. It is HPKE's info input, so
// a wrapped key unwraps only under the context it was wrapped for and
// cannot be replayed for another record, version or role.
type WrapContext struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	// Scope is the KeyHash of the record key, or the PrefixHash of a key
	// prefix for a key that covers many records.
	Scope Hash
	// Version is the record version, or 0 for a key that spans versions.
	Version uint64
	// Role is RoleHeader or the name of the field group the key opens.
	Role string
}

// Validate checks the namespace and role names.
func (c WrapContext) Validate() error {
	if err := ValidateNamespace(c.Namespace); err != nil {
		return err
	}
	return validateSlug("role", c.Role)
}

// String returns "namespace/scope@version:role" for messages.
func (c WrapContext) String() string {
	return fmt.Sprintf("%s/%s@%d:%s", c.Namespace, c.Scope, c.Version, c.Role)
}

type wrapInfo struct {
	_       struct{} `cbor:",toarray"`
	Domain  string
	Context WrapContext
}

const wrapDomain = "yui seal v1 wrap"

// The HPKE suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM,
// in base mode. Base mode does not authenticate the sender, so anyone can
// wrap a key to a reader. The signed Envelope is what ties a record to its
// writer, because it lists the hashes of everything the key opens.
var (
	wrapKEM  = hpke.DHKEM(ecdh.X25519())
	wrapKDF  = hpke.HKDFSHA256()
	wrapAEAD = hpke.AES256GCM()
)

// WrapKey encrypts dk to the recipient's X25519 key for ctx.
func WrapKey(recipient PublicKeys, dk DataKey, ctx WrapContext) ([]byte, error) {
	info, err := wrapContextInfo(ctx)
	if err != nil {
		return nil, err
	}
	pub, err := wrapKEM.NewPublicKey(recipient.Encryption)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient encryption key: %v", ErrInvalid, err)
	}
	wrapped, err := hpke.Seal(pub, wrapKDF, wrapAEAD, info, dk[:])
	if err != nil {
		return nil, fmt.Errorf("seal: wrap key for %s: %w", ctx, err)
	}
	return wrapped, nil
}

// UnwrapKey decrypts a key that WrapKey wrapped to u for ctx.
func UnwrapKey(u *User, wrapped []byte, ctx WrapContext) (DataKey, error) {
	info, err := wrapContextInfo(ctx)
	if err != nil {
		return DataKey{}, err
	}
	if len(wrapped) != WrappedKeySize {
		return DataKey{}, fmt.Errorf("%w: wrapped key for %s is %d bytes, want %d",
			ErrMalformed, ctx, len(wrapped), WrappedKeySize)
	}
	priv, err := hpke.NewDHKEMPrivateKey(u.exchange)
	if err != nil {
		return DataKey{}, fmt.Errorf("seal: user encryption key: %w", err)
	}
	plaintext, err := hpke.Open(priv, wrapKDF, wrapAEAD, info, wrapped)
	if err != nil {
		return DataKey{}, fmt.Errorf("%w: wrapped key for %s: wrapped to another user, for another context, or altered",
			ErrDecrypt, ctx)
	}

	var dk DataKey
	if len(plaintext) != len(dk) {
		return DataKey{}, fmt.Errorf("%w: wrapped key for %s contains %d bytes, want %d", ErrInvalid, ctx, len(plaintext), len(dk))
	}
	copy(dk[:], plaintext)
	return dk, nil
}

func wrapContextInfo(ctx WrapContext) ([]byte, error) {
	if err := ctx.Validate(); err != nil {
		return nil, err
	}
	return marshal("wrap context", wrapInfo{Domain: wrapDomain, Context: ctx})
}
