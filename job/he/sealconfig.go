package he

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"unicode/utf8"
)

// sealConfigVersion is the first byte of an encoded SealConfig.
const sealConfigVersion = 6

// MaxOwnerName is the longest owner name a SealConfig stores, in bytes.
const MaxOwnerName = 64

// SealConfig is a namespace's setting for sealing numeric fields at
// ingest: whose public key encrypts them, the fixed-point scale, and the
// largest magnitude a value may have.
type SealConfig struct {
	Owner        string
	Scale, Bound int64
}

// Check returns an error unless the config's values are in their limits
// and one segment of up to maxReadings readings, each value at the
// bound, sums to less than T/2. Jobs check sums of many segments
// against the same limit.
func (c SealConfig) Check(maxReadings int64) error {
	if c.Owner == "" || len(c.Owner) > MaxOwnerName || !utf8.ValidString(c.Owner) {
		return fmt.Errorf("%w: owner %q must be 1 to %d bytes of UTF-8", ErrInvalidPlan, c.Owner, MaxOwnerName)
	}
	if c.Scale < 1 || c.Scale > MaxScale {
		return fmt.Errorf("%w: scale %d, want 1 to %d", ErrInvalidPlan, c.Scale, MaxScale)
	}
	if c.Bound < 1 || c.Bound > MaxBound {
		return fmt.Errorf("%w: bound %d, want 1 to %d", ErrInvalidPlan, c.Bound, MaxBound)
	}
	return c.CheckSum(1, maxReadings)
}

// CheckSum returns an error wrapping ErrOverflow unless ciphertexts
// segments of up to maxReadings readings each, every value at the
// bound, sum to less than T/2 in every slot.
func (c SealConfig) CheckSum(ciphertexts, maxReadings int64) error {
	worst := big.NewInt(ciphertexts)
	worst.Mul(worst, big.NewInt(maxReadings))
	worst.Mul(worst, big.NewInt(c.Bound))
	worst.Mul(worst, big.NewInt(c.Scale))
	if worst.Cmp(big.NewInt(maxSum)) >= 0 {
		return fmt.Errorf("%w: %d ciphertexts of up to %d readings of magnitude %d at scale %d may sum to %v units, limit %d",
			ErrOverflow, ciphertexts, maxReadings, c.Bound, c.Scale, worst, int64(maxSum)-1)
	}
	return nil
}

// MarshalBinary returns the config's encoding: a version byte, the scale
// and the bound as big-endian int64s, then the owner's name.
func (c SealConfig) MarshalBinary() ([]byte, error) {
	b := []byte{sealConfigVersion}
	b = binary.BigEndian.AppendUint64(b, uint64(c.Scale))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Bound))
	return append(b, c.Owner...), nil
}

// DecodeSealConfig parses an encoding written by MarshalBinary and checks
// it as Check does.
func DecodeSealConfig(b []byte, maxReadings int64) (SealConfig, error) {
	if len(b) < 17 || len(b) > 17+MaxOwnerName {
		return SealConfig{}, fmt.Errorf("%w: seal config is %d bytes, want 18 to %d", ErrMalformed, len(b), 17+MaxOwnerName)
	}
	if b[0] != sealConfigVersion {
		return SealConfig{}, fmt.Errorf("%w: seal config version %d, this decoder reads %d", ErrMalformed, b[0], sealConfigVersion)
	}
	c := SealConfig{Scale: int64(binary.BigEndian.Uint64(b[1:])), Bound: int64(binary.BigEndian.Uint64(b[9:])), Owner: string(b[17:])}
	if err := c.Check(maxReadings); err != nil {
		return SealConfig{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}
