package job

import (
	"fmt"
	"slices"

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
		if s.Scale != 0 {
			return fmt.Errorf("%w: scale %d given for a job that is not encrypted", ErrInvalid, s.Scale)
		}
		return nil
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
