package he

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// Aggregator adds ciphertexts on a worker. It holds the public
// parameters and the running sum, and nothing from which a value could
// be decrypted. It is not safe for concurrent use.
type Aggregator struct {
	params Params
	eval   *bgv.Evaluator
	sum    *Ciphertext
	added  int64
}

// NewAggregator returns an Aggregator with an empty sum.
func NewAggregator(p Params) *Aggregator {
	// Addition needs no evaluation key, so the evaluator gets none.
	return &Aggregator{params: p, eval: bgv.NewEvaluator(p.bgv, nil)}
}

// Add adds ct to the sum. ct may itself be a sum from another worker.
func (a *Aggregator) Add(ct *Ciphertext) error {
	if a.sum == nil {
		a.sum = &Ciphertext{ct: ct.ct.CopyNew()}
		a.added = 1
		return nil
	}
	if err := a.eval.Add(a.sum.ct, ct.ct, a.sum.ct); err != nil {
		return fmt.Errorf("he: add ciphertext %d: %w", a.added+1, err)
	}
	a.added++
	return nil
}

// Added returns how many ciphertexts the sum holds.
func (a *Aggregator) Added() int64 { return a.added }

// Sum returns the sum so far, or nil before the first Add. It is a copy,
// so later Adds do not change it.
func (a *Aggregator) Sum() *Ciphertext {
	if a.sum == nil {
		return nil
	}
	return &Ciphertext{ct: a.sum.ct.CopyNew()}
}
