package he

import (
	"encoding/binary"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// ciphertextVersion is the first byte of an encoded Ciphertext.
const ciphertextVersion = 1

// Ciphertext is an encrypted batch of values or an encrypted sum.
type Ciphertext struct {
	ct *rlwe.Ciphertext
}

// MarshalBinary returns the ciphertext's encoding: a version byte, then
// the coefficients of its two polynomials, limb by limb, as little-endian
// uint64s. The metadata is implied by Params, so the decoder sets it
// instead of trusting it from the wire.
func (c *Ciphertext) MarshalBinary() ([]byte, error) {
	b := make([]byte, 1, 1+c.coefficients()*8)
	b[0] = ciphertextVersion
	for _, poly := range c.ct.Value {
		for _, limb := range poly.Coeffs {
			for _, x := range limb {
				b = binary.LittleEndian.AppendUint64(b, x)
			}
		}
	}
	return b, nil
}

func (c *Ciphertext) coefficients() int {
	n := 0
	for _, poly := range c.ct.Value {
		for _, limb := range poly.Coeffs {
			n += len(limb)
		}
	}
	return n
}

// CiphertextSize returns the exact length of an encoded ciphertext.
func (p Params) CiphertextSize() int {
	return 1 + 2*(p.bgv.MaxLevel()+1)*p.bgv.N()*8
}

// DecodeCiphertext parses an encoding written by MarshalBinary. It
// rejects any length but CiphertextSize, another version, and a
// coefficient not reduced modulo its limb's prime.
func (p Params) DecodeCiphertext(b []byte) (*Ciphertext, error) {
	if len(b) != p.CiphertextSize() {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), p.CiphertextSize())
	}
	if b[0] != ciphertextVersion {
		return nil, fmt.Errorf("%w: version %d, this decoder reads %d", ErrMalformed, b[0], ciphertextVersion)
	}
	ct := bgv.NewCiphertext(p.bgv, 1, p.bgv.MaxLevel())
	moduli := p.bgv.Q()
	off := 1
	for i, poly := range ct.Value {
		for j, limb := range poly.Coeffs {
			for k := range limb {
				x := binary.LittleEndian.Uint64(b[off:])
				if x >= moduli[j] {
					return nil, fmt.Errorf("%w: polynomial %d limb %d coefficient %d is %d, not below the modulus %d",
						ErrMalformed, i, j, k, x, moduli[j])
				}
				limb[k] = x
				off += 8
			}
		}
	}
	return &Ciphertext{ct: ct}, nil
}
