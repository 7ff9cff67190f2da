package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// TestMissingErrorNeedsEveryHolder checks that a read reports a record
// missing only when every directory holder responded without it. Right
// after many nodes fail, the closest nodes are new and empty, and the one
// old holder left may be too busy to respond. Calling the record missing
// then would tell the client to stop looking for data that exists.
func TestMissingErrorNeedsEveryHolder(t *testing.T) {
	d := &Descriptor{body: descriptorBody{Namespace: "ns"}}
	k := seal.Hash{1}
	lacks := batchAnswer{asked: true, answered: true, notFound: map[seal.Hash]bool{k: true}}
	silent := batchAnswer{asked: true}

	cases := []struct {
		name    string
		answers []batchAnswer
		want    error
	}{
		{"all lack it", []batchAnswer{lacks, lacks, lacks}, ErrNotFound},
		{"one did not respond", []batchAnswer{lacks, lacks, silent}, ErrUnavailable},
		{"none responded", []batchAnswer{silent, silent}, ErrUnavailable},
		{"a segment could not be read", []batchAnswer{lacks, {asked: true, answered: true,
			unreadable: map[seal.Hash]error{k: fmt.Errorf("%w: chunk x: found 3 shards, need 4", ErrUnavailable)}}}, ErrUnavailable},
	}
	for _, tc := range cases {
		if err := missingError(d, k, tc.answers); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestResolvePackedKeepsUnreadableEntries checks that a packed entry whose
// version segment cannot be fetched marks the record as out of reach. An
// entry whose segment is corrupt does not, because a forged entry must not
// make a record seem to exist.
func TestResolvePackedKeepsUnreadableEntries(t *testing.T) {
	s := &Store{log: slog.New(slog.DiscardHandler)}
	k1, k2 := seal.Hash{1}, seal.Hash{2}
	seg1, seg2 := wire.Hash{7}, wire.Hash{8}
	segments := newSegmentCache(nil, func(_ context.Context, id chunk.ID) ([]byte, error) {
		if wire.Hash(id) == seg1 {
			return nil, fmt.Errorf("%w: chunk %s: found 30 shards, need 31", ErrUnavailable, id)
		}
		return []byte("not a version segment"), nil
	})
	answers := []batchAnswer{{
		asked: true, answered: true,
		found: map[seal.Hash]dirAnswer{},
		packed: map[seal.Hash]wire.PackedEntry{
			k1: {KeyHash: wire.Hash(k1), Ref: wire.PackedRef{Segment: seg1}},
			k2: {KeyHash: wire.Hash(k2), Ref: wire.PackedRef{Segment: seg2}},
		},
	}}
	s.resolvePacked(context.Background(), segments, answers)

	if err := answers[0].unreadable[k1]; !errors.Is(err, ErrUnavailable) {
		t.Errorf("entry in an unreachable segment: unreadable = %v, want ErrUnavailable", err)
	}
	if err, ok := answers[0].unreadable[k2]; ok {
		t.Errorf("entry in a corrupt segment: unreadable = %v, want no entry", err)
	}
	if len(answers[0].found) != 0 {
		t.Errorf("found %d versions, want none", len(answers[0].found))
	}
}
