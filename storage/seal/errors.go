package seal

import "errors"

// Errors returned by this package; each is wrapped with the value involved.
var (
	// ErrInvalidName reports a namespace, record key, group or field name
	// that breaks its rules.
	ErrInvalidName = errors.New("seal: invalid name")
	// ErrInvalid reports a structure whose fields contradict each other or
	// break a rule that CBOR decoding cannot check.
	ErrInvalid = errors.New("seal: invalid structure")
	// ErrTooLarge reports an input above its size limit.
	ErrTooLarge = errors.New("seal: input too large")
	// ErrMalformed reports bytes that do not decode.
	ErrMalformed = errors.New("seal: malformed input")
	// ErrShortSecret reports a namespace master secret below 32 bytes.
	ErrShortSecret = errors.New("seal: master secret too short")
	// ErrDecrypt reports a ciphertext that does not open: the key is wrong,
	// the bytes were altered, or they belong to another record, group or
	// context. AEAD authentication cannot tell these apart.
	ErrDecrypt = errors.New("seal: decryption failed")
	// ErrHashMismatch reports a sealed header or group whose hash differs
	// from the one the signed envelope lists, or a header whose chunk list
	// differs from the envelope's.
	ErrHashMismatch = errors.New("seal: hash does not match envelope")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("seal: bad signature")
	// ErrNotWriter reports an envelope signed by a key that the access
	// list does not allow to write.
	ErrNotWriter = errors.New("seal: signer may not write")
	// ErrNotOwner reports an access list signed by a key that is not a
	// trusted owner.
	ErrNotOwner = errors.New("seal: signer is not an owner")
	// ErrNamespaceMismatch reports an envelope or access list checked
	// against another namespace's access list.
	ErrNamespaceMismatch = errors.New("seal: namespace mismatch")
	// ErrStale reports an access list update whose version is not above
	// the current one.
	ErrStale = errors.New("seal: access list update is not newer")
	// ErrBadKeyFile reports a user key file that exists but cannot be used.
	ErrBadKeyFile = errors.New("seal: unusable user key file")
)
