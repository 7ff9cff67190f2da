package store

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Structures this package stores or sends inside wire messages are
// deterministic CBOR, decoded strictly and only after a size check.
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   8,
		MaxArrayElements:  4096,
		MaxMapPairs:       256,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

func marshal(kind string, v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", kind, err)
	}
	return b, nil
}

// unmarshal decodes b into v after checking it against limit. Errors wrap
// ErrInvalid, since the bytes came from a peer or a damaged store.
func unmarshal(kind string, b []byte, limit int, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalid, kind, len(b), limit)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s does not decode: %v", ErrInvalid, kind, err)
	}
	return nil
}
