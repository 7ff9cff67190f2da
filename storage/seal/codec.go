package seal

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	// Deterministic encoding makes equal structures encode to equal bytes,
	// which additional data and signatures rely on.
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
		MaxArrayElements:  MaxChunks,
		MaxMapPairs:       MaxFields,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// marshal encodes v, which kind names in errors. The types passed here
// always encode, so an error is a bug, but it is returned, not ignored.
func marshal(kind string, v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("seal: encode %s: %w", kind, err)
	}
	return b, nil
}

// unmarshal decodes b into v after checking it against limit.
func unmarshal(kind string, b []byte, limit int, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, kind, len(b), limit)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, kind, err)
	}
	return nil
}
