package he

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// PlaintextModulus is T, the modulus of BGV's plaintext arithmetic. It
// is the largest prime below 2^48 with T ≡ 1 (mod 2^14), 2^48 - 2^14 + 1.
// The congruence lets a ciphertext pack N = 2^13 values in slots that add
// independently. The size leaves room for sums of about 1.4 × 10^14
// fixed-point units, for example ten million values of magnitude up to
// 10,000 at a scale of 1,000.
//
// The ciphertext modulus Q (two primes of 58 bits) stays far above the
// noise. A fresh ciphertext's noise is about T × 2^13 and each addition
// adds one such term, so even 2^30 additions stay near 2^91, below
// Q/2 ≈ 2^115.
//
// NOTE: the noise figures are estimates from the usual BGV bound, not
// measured; the tests decrypt sums of thousands of values exactly.
const PlaintextModulus = 1<<48 - 1<<14 + 1

// logN is the log2 of the ring degree. With Q of 116 bits, N = 2^13 is
// within the 218 bits that the homomorphic encryption standard allows
// for 128-bit security with a ternary secret.
const logN = 13

// maxSum is the largest magnitude a slot may reach: values decode as
// integers in (-T/2, T/2].
const maxSum = (PlaintextModulus - 1) / 2

// Errors returned by this package.
var (
	// ErrOverflow reports a plan whose worst-case sum or count could
	// reach T/2, so that the aggregate would wrap around.
	ErrOverflow = errors.New("he: sum may exceed the plaintext modulus")
	// ErrOutOfRange reports a value outside its plan's range.
	ErrOutOfRange = errors.New("he: value outside the plan's range")
	// ErrInvalidPlan reports a plan with a missing or impossible field.
	ErrInvalidPlan = errors.New("he: invalid plan")
	// ErrMalformed reports bytes that do not decode to a ciphertext of
	// these parameters.
	ErrMalformed = errors.New("he: malformed ciphertext")
	// ErrCorrupt reports a decrypted aggregate that cannot be right,
	// such as a count above the plan's MaxValues.
	ErrCorrupt = errors.New("he: aggregate does not match its plan")
)

// Params are the public BGV parameters. Everyone in a job uses the same
// ones; they hold no key.
type Params struct {
	bgv bgv.Parameters
}

// NewParams returns the parameters described on PlaintextModulus.
func NewParams() (Params, error) {
	p, err := bgv.NewParametersFromLiteral(bgv.ParametersLiteral{
		LogN:             logN,
		LogQ:             []int{58, 58},
		PlaintextModulus: PlaintextModulus,
	})
	if err != nil {
		return Params{}, fmt.Errorf("he: parameters: %w", err)
	}
	return Params{bgv: p}, nil
}

// Slots returns how many integers one ciphertext packs.
func (p Params) Slots() int { return p.bgv.MaxSlots() }

// Plan states what a job adds up, so that its worst case can be checked
// before any value is encrypted.
type Plan struct {
	// Scale is the fixed-point scale: a value v is encoded as the integer
	// round(v × Scale). 100 keeps two decimals.
	Scale int64
	// Min and Max bound the values, before scaling.
	Min, Max float64
	// MaxValues is the most values the job may add up.
	MaxValues int64
}

// Check returns an error wrapping ErrInvalidPlan or ErrOverflow unless
// the plan's worst-case sum fits the plaintext modulus.
//
// The bound is MaxValues × max(|Min|, |Max|) × Scale. It assumes that
// every value could land in the same slot, because ciphertexts from many
// batches are added and a batch may hold a single value. The count slot
// is bounded by MaxValues alone.
func (p Plan) Check() error {
	if p.Scale < 1 || p.MaxValues < 1 {
		return fmt.Errorf("%w: scale %d and max values %d must be at least 1", ErrInvalidPlan, p.Scale, p.MaxValues)
	}
	if math.IsNaN(p.Min) || math.IsNaN(p.Max) || p.Min > p.Max {
		return fmt.Errorf("%w: range [%v, %v] is empty", ErrInvalidPlan, p.Min, p.Max)
	}
	bound, err := p.bound()
	if err != nil {
		return err
	}
	if bound.Cmp(big.NewInt(maxSum)) >= 0 || p.MaxValues >= maxSum {
		return fmt.Errorf("%w: %d values of up to %v at scale %d may sum to %v units, limit %d; lower MaxValues or Scale, or split the job",
			ErrOverflow, p.MaxValues, max(math.Abs(p.Min), math.Abs(p.Max)), p.Scale, bound, int64(maxSum)-1)
	}
	return nil
}

// bound returns MaxValues × the largest scaled magnitude, exactly.
func (p Plan) bound() (*big.Int, error) {
	lo, err := p.scaled(p.Min)
	if err != nil {
		return nil, fmt.Errorf("%w: min %v: %v", ErrInvalidPlan, p.Min, err)
	}
	hi, err := p.scaled(p.Max)
	if err != nil {
		return nil, fmt.Errorf("%w: max %v: %v", ErrInvalidPlan, p.Max, err)
	}
	magnitude := new(big.Int).Abs(big.NewInt(lo))
	if h := new(big.Int).Abs(big.NewInt(hi)); h.Cmp(magnitude) > 0 {
		magnitude = h
	}
	return magnitude.Mul(magnitude, big.NewInt(p.MaxValues)), nil
}

// scaled returns round(v × Scale), or an error if it does not fit in
// the plaintext's range.
func (p Plan) scaled(v float64) (int64, error) {
	s := math.Round(v * float64(p.Scale))
	if math.IsNaN(s) || math.Abs(s) >= maxSum {
		return 0, fmt.Errorf("%v × %d is beyond ±%d", v, p.Scale, int64(maxSum))
	}
	return int64(s), nil
}
