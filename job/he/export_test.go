package he

import (
	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

func newPlaintext(p Params) *rlwe.Plaintext {
	return bgv.NewPlaintext(p.bgv, p.bgv.MaxLevel())
}

func encoderOf(p Params) *bgv.Encoder { return bgv.NewEncoder(p.bgv) }
