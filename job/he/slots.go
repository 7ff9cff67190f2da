package he

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// Fixed returns v in the plan's fixed point, round(v × Scale). A value
// outside [Min, Max] fails with ErrOutOfRange, since Check bounded the
// sums by that range.
func (p Plan) Fixed(v float64) (int64, error) {
	if !(v >= p.Min && v <= p.Max) {
		return 0, fmt.Errorf("%w: %v, range [%v, %v]", ErrOutOfRange, v, p.Min, p.Max)
	}
	s, err := p.scaled(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrOutOfRange, err)
	}
	return s, nil
}

// EncryptSlots encrypts slots into one ciphertext, with zeros in the
// slots after them. It is the layout-free form of Encrypt, for callers that
// give each slot a meaning of their own (a group's sum, a group's count)
// so that adding ciphertexts adds each slot independently. The caller
// must have bounded every slot's final sum with a Plan; EncryptSlots
// itself only rejects a slot that is out of range on its own.
func (e *Encryptor) EncryptSlots(slots []int64) (*Ciphertext, error) {
	if len(slots) > len(e.slots) {
		return nil, fmt.Errorf("%w: %d slots, a ciphertext has %d", ErrInvalidPlan, len(slots), len(e.slots))
	}
	for i, x := range slots {
		if x <= -maxSum || x >= maxSum {
			return nil, fmt.Errorf("%w: slot %d is %d, beyond ±%d", ErrOverflow, i, x, int64(maxSum))
		}
	}
	clear(e.slots)
	copy(e.slots, slots)
	return e.encryptLoaded()
}

// DecryptSlots returns every slot of ct as an integer in (-T/2, T/2].
// Unlike Decrypt it checks nothing against a plan, because only the
// caller knows what each slot means and how large it may be.
func (k *OwnerKey) DecryptSlots(ct *Ciphertext) ([]int64, error) {
	pt := bgv.NewDecryptor(k.params.bgv, k.secret).DecryptNew(ct.ct)
	slots := make([]int64, k.params.Slots())
	if err := bgv.NewEncoder(k.params.bgv).Decode(pt, slots); err != nil {
		return nil, fmt.Errorf("he: decode slots: %w", err)
	}
	return slots, nil
}
