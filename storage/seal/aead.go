package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// nonceSize is the AES-GCM nonce size that sealed headers and groups start
// with.
const nonceSize = 12

// aeadOverhead is how many bytes sealing adds: the nonce and the tag.
const aeadOverhead = nonceSize + 16

// errOpen is the error openAEAD returns on any failure. Callers return
// ErrDecrypt instead, wrapped with the record and group concerned.
var errOpen = errors.New("authentication failed")

// sealAEAD encrypts plaintext under key with AES-256-GCM and a random nonce,
// and returns nonce || ciphertext || tag. A random 96-bit nonce is safe
// here because a DataKey seals one header or one group, not billions of
// messages.
//
// NOTE: AES-GCM does not commit to its key. A dishonest writer could craft
// one ciphertext that opens to different plaintexts under two keys, and
// wrap one key to each of two readers. The Envelope signature covers the
// ciphertext, not the key, so readers would not notice.
func sealAEAD(key DataKey, aad, plaintext []byte) []byte {
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+16)
	rand.Read(out) // never returns an error; it crashes the program if the OS fails
	return newGCM(key).Seal(out, out, plaintext, aad)
}

// openAEAD reverses sealAEAD.
func openAEAD(key DataKey, aad, sealed []byte) ([]byte, error) {
	if len(sealed) < aeadOverhead {
		return nil, errOpen
	}
	plaintext, err := newGCM(key).Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad)
	if err != nil {
		return nil, errOpen
	}
	return plaintext, nil
}

// newGCM returns AES-256-GCM under key. The errors it panics on cannot
// happen, because the key is always 32 bytes and GCM accepts any AES block.
func newGCM(key DataKey) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("seal: aes.NewCipher with a 32-byte key: " + err.Error())
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("seal: cipher.NewGCM: " + err.Error())
	}
	return gcm
}
