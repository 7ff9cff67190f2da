package seal

import (
	"crypto/ed25519"
	"fmt"
)

// signed is the encoding of a signed structure. Body is kept as the exact
// bytes that were signed, so verifying never depends on re-encoding.
type signed struct {
	_         struct{} `cbor:",toarray"`
	Body      []byte
	Signature []byte
}

// signedMessage returns what is signed: a domain string naming the
// structure, a NUL, then the body. The domain keeps a signature on one
// kind of structure from being valid for another.
func signedMessage(domain string, body []byte) []byte {
	msg := make([]byte, 0, len(domain)+1+len(body))
	msg = append(msg, domain...)
	msg = append(msg, 0)
	return append(msg, body...)
}

// sign encodes v, signs it under domain with u's key and returns the
// encoded signed structure.
func sign(u *User, kind, domain string, v any) ([]byte, error) {
	body, err := marshal(kind, v)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(u.signing, signedMessage(domain, body))
	return marshal("signed "+kind, signed{Body: body, Signature: sig})
}

// openSigned decodes the outer structure and body of a signed structure
// into v without checking the signature; verifySignature does that.
func openSigned(kind string, b []byte, bodyLimit int, v any) (signed, error) {
	var s signed
	// The outer structure adds a few bytes of CBOR framing and the
	// 64-byte signature to the body.
	if err := unmarshal("signed "+kind, b, bodyLimit+128, &s); err != nil {
		return signed{}, err
	}
	if err := unmarshal(kind, s.Body, bodyLimit, v); err != nil {
		return signed{}, err
	}
	return s, nil
}

// verifySignature checks s against signer; subject names the signed
// structure in errors.
func verifySignature(subject, domain string, signer ed25519.PublicKey, s signed) error {
	if len(signer) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %s signer key is %d bytes, want %d", ErrInvalid, subject, len(signer), ed25519.PublicKeySize)
	}
	if len(s.Signature) != ed25519.SignatureSize || !ed25519.Verify(signer, signedMessage(domain, s.Body), s.Signature) {
		return fmt.Errorf("%w: %s signed by %x: the signature does not match the content", ErrBadSignature, subject, []byte(signer))
	}
	return nil
}

// validKey reports whether k has the length of an Ed25519 public key.
func validKey(k ed25519.PublicKey) bool { return len(k) == ed25519.PublicKeySize }
