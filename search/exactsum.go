package search

import (
	"math"
	"math/big"
)

// exactSum adds float64 values without rounding, so that a sum, and the
// mean taken from it, does not depend on the order the values came in.
// Segments arrive from holders in whatever order their responses do, and
// the same query must give the same result bit for bit whichever nodes
// responded. A float64 running sum differs in its last bits between
// orders.
//
// Every finite float64 is an integer multiple of 2^-1074, the smallest
// subnormal, so the sum is kept as that integer in a big.Int. One Add
// costs a shift and an addition of at most 2,100 bits.
type exactSum struct {
	acc big.Int
	tmp big.Int
}

// fracBits is the exponent of the smallest subnormal float64, negated.
const fracBits = 1074

// Add adds v, which must be finite.
func (s *exactSum) Add(v float64) {
	if v == 0 {
		return
	}
	frac, exp := math.Frexp(v) // v = frac · 2^exp, 0.5 ≤ |frac| < 1
	mant := int64(math.Ldexp(frac, 53))
	shift := exp - 53 + fracBits // v = mant · 2^(exp-53) = mant · 2^-1074 · 2^shift
	s.tmp.SetInt64(mant)
	if shift >= 0 {
		s.tmp.Lsh(&s.tmp, uint(shift))
	} else {
		// Only subnormals reach here, and their low bits are zero.
		s.tmp.Rsh(&s.tmp, uint(-shift))
	}
	s.acc.Add(&s.acc, &s.tmp)
}

// Float64 returns the sum rounded to the nearest float64.
func (s *exactSum) Float64() float64 {
	f := new(big.Float).SetPrec(2200).SetInt(&s.acc)
	f.SetMantExp(f, -fracBits)
	v, _ := f.Float64()
	return v
}
