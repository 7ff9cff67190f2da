package engine

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// int64AddMerger implements Batch.AddInt64 with Pebble's merge operator:
// each AddInt64 writes its delta as a merge operand, and Pebble sums the
// operands when it reads or compacts the key. Pebble stores the merger's
// name in the store and refuses to open it with a different one, so the
// name must not change.
var int64AddMerger = &pebble.Merger{
	Name: "yui.int64add.v1",
	Merge: func(key, value []byte) (pebble.ValueMerger, error) {
		m := &int64Sum{}
		return m, m.add(value)
	},
}

// int64Sum adds operands in any order, because addition commutes.
type int64Sum struct{ sum int64 }

func (m *int64Sum) add(operand []byte) error {
	v, err := ParseInt64(operand)
	if err != nil {
		return err
	}
	m.sum += v
	return nil
}

func (m *int64Sum) MergeNewer(value []byte) error { return m.add(value) }
func (m *int64Sum) MergeOlder(value []byte) error { return m.add(value) }

func (m *int64Sum) Finish(includesBase bool) ([]byte, io.Closer, error) {
	return encodeInt64(m.sum), nil, nil
}

func encodeInt64(v int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(v))
}

// ParseInt64 decodes a counter value written by Batch.AddInt64.
func ParseInt64(value []byte) (int64, error) {
	if len(value) != 8 {
		return 0, fmt.Errorf("%w: counter value is %d bytes, want 8", ErrCorrupt, len(value))
	}
	return int64(binary.BigEndian.Uint64(value)), nil
}
