package job

import (
	"fmt"
	"slices"
	"time"

	"github.com/yuinet/yui/job/he"

	"github.com/yuinet/yui/sensor"
)

// EncryptedAggregates are the aggregates an encrypted job computes:
// sums and counts add under BGV, and the mean is their quotient. Minimum
// and maximum would need comparisons, which additions cannot make.
var EncryptedAggregates = []string{"count", "sum", "mean"}

// MaxScale bounds an encrypted job's fixed-point scale: nine decimals.
const MaxScale = 1_000_000_000

// validateEncrypted checks the settings of an encrypted job, and that a
// plain job sets none of them.
func (s *Spec) validateEncrypted() error {
	if !s.Encrypted {
		if s.Scale != 0 || s.Sealed || s.Bound != 0 {
			return fmt.Errorf("%w: scale %d, sealed %v or bound %d given for a job that is not encrypted", ErrInvalid, s.Scale, s.Sealed, s.Bound)
		}
		return nil
	}
	if err := s.validateSealed(); err != nil {
		return err
	}
	if s.Scale < 1 || s.Scale > MaxScale {
		return fmt.Errorf("%w: scale %d; use 1 to %d, such as 100 for two decimals", ErrInvalid, s.Scale, MaxScale)
	}
	for _, a := range s.Aggs {
		if !slices.Contains(EncryptedAggregates, a) {
			return fmt.Errorf("%w: aggregate %q cannot run encrypted; use count, sum and mean", ErrInvalid, a)
		}
	}
	if s.Module != "" {
		return fmt.Errorf("%w: an encrypted job cannot run a WebAssembly step, because workers never see the readings", ErrInvalid)
	}
	return nil
}

// GroupOf returns the key, sensor and start (Unix seconds) of the group
// of r under by, the same as Partial.Add uses.
func GroupOf(r *sensor.Reading, by Grouping) (key, source string, start int64) {
	return groupOf(r, &by)
}

// hourNanos is an hour in nanoseconds.
const hourNanos = int64(time.Hour)

// validateSealed checks the settings of a job over a sealed namespace.
// Its ciphertexts hold whole hours of sums, so the job can neither test a
// value nor cut an hour.
func (s *Spec) validateSealed() error {
	if !s.Sealed {
		if s.Bound != 0 {
			return fmt.Errorf("%w: bound %d given for a job over a namespace that is not sealed", ErrInvalid, s.Bound)
		}
		return nil
	}
	if s.Bound < 1 || s.Bound > he.MaxBound {
		return fmt.Errorf("%w: bound %d; use 1 to %d", ErrInvalid, s.Bound, he.MaxBound)
	}
	if len(s.Where) > 0 {
		return fmt.Errorf("%w: condition on %q: an encrypted job over a sealed namespace adds whole ciphertexts, so it cannot test values; select by sensor and time only",
			ErrInvalid, s.Where[0].Field)
	}
	for _, t := range []int64{s.From, s.To} {
		if t%hourNanos != 0 {
			return fmt.Errorf("%w: time %s is not on the hour; an encrypted job over a sealed namespace adds whole hours, so give --from and --to as whole UTC hours",
				ErrInvalid, time.Unix(0, t).UTC().Format(time.RFC3339Nano))
		}
	}
	return nil
}
