package he

import (
	"fmt"
	"math/big"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// OwnerKey is the data owner's key pair. Only the owner holds it.
type OwnerKey struct {
	params Params
	secret *rlwe.SecretKey
	public *PublicKey
}

// PublicKey encrypts values for an owner. It can be shared freely.
type PublicKey struct {
	params Params
	key    *rlwe.PublicKey
}

// GenerateKey returns a fresh key pair for p. lattigo draws it from
// crypto/rand.
func GenerateKey(p Params) *OwnerKey {
	sk, pk := bgv.NewKeyGenerator(p.bgv).GenKeyPairNew()
	return &OwnerKey{params: p, secret: sk, public: &PublicKey{params: p, key: pk}}
}

// PublicKey returns the key that encrypts for this owner.
func (k *OwnerKey) PublicKey() *PublicKey { return k.public }

// Result is a decrypted aggregate: a sum in fixed-point units and the
// number of values added.
type Result struct {
	// Sum is the sum of round(v × Scale) over all values.
	Sum *big.Int
	// Count is the number of values.
	Count int64
	// Scale is the plan's fixed-point scale.
	Scale int64
}

// Mean returns Sum / (Count × Scale) exactly, or nil when Count is 0.
func (r Result) Mean() *big.Rat {
	if r.Count == 0 {
		return nil
	}
	return new(big.Rat).SetFrac(r.Sum, big.NewInt(r.Count*r.Scale))
}

// SumValue returns Sum / Scale, the sum in the values' own unit.
func (r Result) SumValue() *big.Rat {
	return new(big.Rat).SetFrac(r.Sum, big.NewInt(r.Scale))
}

// Decrypt returns the sum and count that ct holds. It fails with
// ErrCorrupt if the count is negative or above plan.MaxValues, or the sum
// is larger than count values of the plan's range can make. A sum that
// wrapped around the modulus, a ciphertext added more than its share, or
// a tampered ciphertext may show that way.
func (k *OwnerKey) Decrypt(ct *Ciphertext, plan Plan) (Result, error) {
	if err := plan.Check(); err != nil {
		return Result{}, err
	}
	pt := bgv.NewDecryptor(k.params.bgv, k.secret).DecryptNew(ct.ct)
	slots := make([]int64, k.params.Slots())
	if err := bgv.NewEncoder(k.params.bgv).Decode(pt, slots); err != nil {
		return Result{}, fmt.Errorf("he: decode aggregate: %w", err)
	}

	count := slots[len(slots)-1]
	if count < 0 || count > plan.MaxValues {
		return Result{}, fmt.Errorf("%w: count %d, plan allows 0 to %d", ErrCorrupt, count, plan.MaxValues)
	}
	sum := new(big.Int)
	for _, s := range slots[:len(slots)-1] {
		sum.Add(sum, big.NewInt(s))
	}

	// Count values of the plan's range can sum to at most count times the
	// largest magnitude; more means a slot wrapped or was tampered with.
	limit := Plan{Scale: plan.Scale, Min: plan.Min, Max: plan.Max, MaxValues: max(count, 1)}
	bound, err := limit.bound()
	if err != nil {
		return Result{}, err
	}
	if count == 0 {
		bound.SetInt64(0)
	}
	if new(big.Int).Abs(sum).Cmp(bound) > 0 {
		return Result{}, fmt.Errorf("%w: sum %v units from %d values, at most %v in magnitude",
			ErrCorrupt, sum, count, bound)
	}
	return Result{Sum: sum, Count: count, Scale: plan.Scale}, nil
}
