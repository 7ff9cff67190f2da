package he

import (
	"encoding/binary"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
)

// Version bytes of the key encodings. Each differs from ciphertextVersion
// and from the other, so that one kind of blob never decodes as another.
const (
	publicKeyVersion = 2
	ownerKeyVersion  = 3
)

// MarshalBinary returns the public key's encoding: a version byte, then
// the coefficients of its two polynomials modulo Q, limb by limb, as
// little-endian uint64s. The parameters have no auxiliary modulus P, so
// there is nothing else to write.
func (k *PublicKey) MarshalBinary() ([]byte, error) {
	b := make([]byte, 1, k.params.PublicKeySize())
	b[0] = publicKeyVersion
	for _, poly := range k.key.Value {
		b = appendPoly(b, poly.Q)
	}
	return b, nil
}

// PublicKeySize returns the exact length of an encoded PublicKey.
func (p Params) PublicKeySize() int {
	return 1 + 2*p.polySize()
}

// OwnerKeySize returns the exact length of an encoded OwnerKey.
func (p Params) OwnerKeySize() int {
	return 1 + p.polySize() + p.PublicKeySize()
}

// polySize returns the bytes of one polynomial modulo Q.
func (p Params) polySize() int {
	return (p.bgv.MaxLevel() + 1) * p.bgv.N() * 8
}

// DecodePublicKey parses an encoding written by PublicKey.MarshalBinary.
// Like DecodeCiphertext, it rejects any length but PublicKeySize, another
// version, and a coefficient not reduced modulo its limb's prime.
func (p Params) DecodePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != p.PublicKeySize() {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrMalformed, len(b), p.PublicKeySize())
	}
	if b[0] != publicKeyVersion {
		return nil, fmt.Errorf("%w: public key version %d, this decoder reads %d", ErrMalformed, b[0], publicKeyVersion)
	}
	pk := rlwe.NewPublicKey(p.bgv)
	off := 1
	for i := range pk.Value {
		n, err := p.readPoly(b[off:], pk.Value[i].Q)
		if err != nil {
			return nil, fmt.Errorf("public key polynomial %d: %w", i, err)
		}
		off += n
	}
	return &PublicKey{params: p, key: pk}, nil
}

// MarshalBinary returns the owner's key pair: a version byte, the secret
// polynomial modulo Q, then the public key's encoding. It is the owner's
// secret: store it only where the owner alone can read it.
func (k *OwnerKey) MarshalBinary() ([]byte, error) {
	b := make([]byte, 1, k.params.OwnerKeySize())
	b[0] = ownerKeyVersion
	b = appendPoly(b, k.secret.Value.Q)
	pub, err := k.public.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(b, pub...), nil
}

// DecodeOwnerKey parses an encoding written by OwnerKey.MarshalBinary,
// with the checks of DecodePublicKey on both halves.
//
// NOTE: it does not check that the public key belongs to the secret key.
// A mismatched pair decrypts sums to noise, which Decrypt reports as
// ErrCorrupt in all but rare cases.
func (p Params) DecodeOwnerKey(b []byte) (*OwnerKey, error) {
	if len(b) != p.OwnerKeySize() {
		return nil, fmt.Errorf("%w: owner key is %d bytes, want %d", ErrMalformed, len(b), p.OwnerKeySize())
	}
	if b[0] != ownerKeyVersion {
		return nil, fmt.Errorf("%w: owner key version %d, this decoder reads %d", ErrMalformed, b[0], ownerKeyVersion)
	}
	sk := rlwe.NewSecretKey(p.bgv)
	n, err := p.readPoly(b[1:], sk.Value.Q)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	pk, err := p.DecodePublicKey(b[1+n:])
	if err != nil {
		return nil, err
	}
	return &OwnerKey{params: p, secret: sk, public: pk}, nil
}

func appendPoly(b []byte, poly ring.Poly) []byte {
	for _, limb := range poly.Coeffs {
		for _, x := range limb {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
	}
	return b
}

// readPoly fills poly from the start of b and returns the bytes read. b
// must hold at least polySize bytes; the callers check the total length.
func (p Params) readPoly(b []byte, poly ring.Poly) (int, error) {
	moduli := p.bgv.Q()
	off := 0
	for j, limb := range poly.Coeffs {
		for k := range limb {
			x := binary.LittleEndian.Uint64(b[off:])
			if x >= moduli[j] {
				return 0, fmt.Errorf("%w: limb %d coefficient %d is %d, not below the modulus %d",
					ErrMalformed, j, k, x, moduli[j])
			}
			limb[k] = x
			off += 8
		}
	}
	return off, nil
}
