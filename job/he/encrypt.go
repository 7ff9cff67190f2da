package he

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// Encryptor encrypts values under a plan for one owner. It is not safe
// for concurrent use; make one per goroutine.
type Encryptor struct {
	params  Params
	plan    Plan
	encoder *bgv.Encoder
	enc     *rlwe.Encryptor
	slots   []int64
}

// NewEncryptor returns an Encryptor for plan, or the error of
// plan.Check.
func NewEncryptor(pk *PublicKey, plan Plan) (*Encryptor, error) {
	if err := plan.Check(); err != nil {
		return nil, err
	}
	return &Encryptor{
		params:  pk.params,
		plan:    plan,
		encoder: bgv.NewEncoder(pk.params.bgv),
		enc:     bgv.NewEncryptor(pk.params.bgv, pk.key),
		slots:   make([]int64, pk.params.Slots()),
	}, nil
}

// Encrypt returns values in as few ciphertexts as fit them: each holds
// up to Slots()-1 values, zeros in the unused slots, and in its last slot
// the number of values it holds. A value outside the plan's range fails
// the whole batch with ErrOutOfRange.
func (e *Encryptor) Encrypt(values []float64) ([]*Ciphertext, error) {
	scaled := make([]int64, len(values))
	for i, v := range values {
		if !(v >= e.plan.Min && v <= e.plan.Max) {
			return nil, fmt.Errorf("%w: value %d is %v, range [%v, %v]", ErrOutOfRange, i, v, e.plan.Min, e.plan.Max)
		}
		s, err := e.plan.scaled(v)
		if err != nil {
			return nil, fmt.Errorf("%w: value %d: %v", ErrOutOfRange, i, err)
		}
		scaled[i] = s
	}

	per := len(e.slots) - 1
	var out []*Ciphertext
	for start := 0; start < len(scaled); start += per {
		ct, err := e.encryptChunk(scaled[start:min(start+per, len(scaled))])
		if err != nil {
			return nil, err
		}
		out = append(out, ct)
	}
	return out, nil
}

func (e *Encryptor) encryptChunk(chunk []int64) (*Ciphertext, error) {
	clear(e.slots)
	copy(e.slots, chunk)
	e.slots[len(e.slots)-1] = int64(len(chunk))
	return e.encryptLoaded()
}

// encryptLoaded encodes the slots the caller loaded into e.slots and
// encrypts them.
func (e *Encryptor) encryptLoaded() (*Ciphertext, error) {
	pt := bgv.NewPlaintext(e.params.bgv, e.params.bgv.MaxLevel())
	if err := e.encoder.Encode(e.slots, pt); err != nil {
		return nil, fmt.Errorf("he: encode: %w", err)
	}
	ct, err := e.enc.EncryptNew(pt)
	if err != nil {
		return nil, fmt.Errorf("he: encrypt: %w", err)
	}
	return &Ciphertext{ct: ct}, nil
}
