package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
)

// TestSegmentCacheRereadsCutShortReads checks that a segment read cut
// short by its caller's context or by holders that did not respond is
// read again by the next caller, while a segment that does not decode is
// read once.
func TestSegmentCacheRereadsCutShortReads(t *testing.T) {
	ctx := context.Background()
	cut, bad := wire.Hash{1}, wire.Hash{2}
	reads := map[wire.Hash]int{}
	segments := newSegmentCache(nil, func(_ context.Context, id chunk.ID) ([]byte, error) {
		reads[wire.Hash(id)]++
		if wire.Hash(id) != cut {
			return []byte("not a version segment"), nil
		}
		if reads[cut] == 1 {
			return nil, context.Canceled
		}
		return nil, fmt.Errorf("%w: chunk %s: found 1 shard, need 2", ErrUnavailable, id)
	})

	for range 3 {
		if _, _, err := segments.open(ctx, &wire.PackedEntry{Ref: wire.PackedRef{Segment: cut}}); !readCutShort(err) {
			t.Errorf("open of a segment out of reach: %v, want a read cut short", err)
		}
		if _, _, err := segments.open(ctx, &wire.PackedEntry{Ref: wire.PackedRef{Segment: bad}}); err == nil || readCutShort(err) {
			t.Errorf("open of a segment that does not decode: %v, want a decoding error", err)
		}
	}
	if reads[cut] != 3 {
		t.Errorf("the segment out of reach was read %d times, want 3", reads[cut])
	}
	if reads[bad] != 1 {
		t.Errorf("the segment that does not decode was read %d times, want 1", reads[bad])
	}
}

// TestListFailsWhenSegmentsOutOfReach makes the version segments of
// packed records unreadable while their directory holders still list
// them. List must fail rather than return the listing without them, and
// list them all once the segments read again.
func TestListFailsWhenSegmentsOutOfReach(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	keys, _ := putPackedBatch(t, c, "packed", 30)

	busy := func(_ context.Context, msg wire.Message) wire.Message {
		if msg.Type() == wire.TypeGetShard {
			return &wire.Error{Code: wire.CodeOverloaded, Message: "busy"}
		}
		return nil
	}
	for _, n := range c.live()[1:] {
		n.setIntercept(busy)
	}
	list, err := c.node(0).store.List(ctx, "", "packed", "docs/")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("List with the segments out of reach = %d records, %v; want ErrUnavailable", len(list), err)
	}

	for _, n := range c.live()[1:] {
		n.setIntercept(nil)
	}
	list, err = c.node(0).store.List(ctx, "", "packed", "docs/")
	if err != nil || len(list) != len(keys) {
		t.Errorf("List with the segments back = %d records, %v; want %d", len(list), err, len(keys))
	}
}
