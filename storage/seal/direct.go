package seal

import (
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"
)

// The functions below let other packages sign and encrypt their own
// structures with a User's keys, under this package's rules. A signature
// covers a domain string, a NUL and the body. Encryption is HPKE base mode
// with the suite that WrapKey uses.

// Sign signs body under domain with u's Ed25519 key. The domain names the
// structure, so that a signature on one kind of structure is never valid
// for another.
func (u *User) Sign(domain string, body []byte) []byte {
	return ed25519.Sign(u.signing, signedMessage(domain, body))
}

// Verify checks a signature that Sign made under domain.
func Verify(domain string, signer ed25519.PublicKey, body, sig []byte) error {
	return verifySignature(domain, domain, signer, signed{Body: body, Signature: sig})
}

// SealTo encrypts plaintext to the recipient's X25519 key. info binds the
// ciphertext to its context: Open succeeds only with the same info.
func SealTo(recipient PublicKeys, info, plaintext []byte) ([]byte, error) {
	pub, err := wrapKEM.NewPublicKey(recipient.Encryption)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient encryption key: %v", ErrInvalid, err)
	}
	ct, err := hpke.Seal(pub, wrapKDF, wrapAEAD, info, plaintext)
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt to recipient: %w", err)
	}
	return ct, nil
}

// Open decrypts what SealTo encrypted to u under info.
func (u *User) Open(info, ciphertext []byte) ([]byte, error) {
	priv, err := hpke.NewDHKEMPrivateKey(u.exchange)
	if err != nil {
		return nil, fmt.Errorf("seal: user encryption key: %w", err)
	}
	plaintext, err := hpke.Open(priv, wrapKDF, wrapAEAD, info, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypted to another user, for another context, or altered", ErrDecrypt)
	}
	return plaintext, nil
}
