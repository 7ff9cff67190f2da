package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/erasure"
)

// repairHedgeDelay is how long a shard fetch by repair waits for a
// shard before it requests one more from another holder.
const repairHedgeDelay = 200 * time.Millisecond

// repairSegments returns a segment cache for the repair of one directory
// shard. Repair sends a packed version in full,
// with its reference, because the receiving holder checks every version
// it stores, so it reads the version segments of what it pushes.
func (r *Repairer) repairSegments(d *Descriptor) *segmentCache {
	code := d.Params().Code()
	return newSegmentCache(d, func(ctx context.Context, id chunk.ID) ([]byte, error) {
		return r.readSegment(ctx, id, code)
	})
}

// readSegment fetches Data shards of a segment from its closest holders,
// decodes it and checks it against its ID. Its requests are not counted
// in a pass's report.
func (r *Repairer) readSegment(ctx context.Context, id chunk.ID, code erasure.Params) ([]byte, error) {
	total := code.Total()
	cands, err := r.peers.closest(ctx, ChunkKey(id), total+lateSpare(total), Middle)
	if err != nil {
		return nil, err
	}
	var rep RepairReport
	st := newChunkState(wire.Hash(id))
	st.cands = cands
	r.listHeld(ctx, &rep, []*chunkState{st})
	if st.params == (erasure.Params{}) && !r.learnParams(ctx, &rep, st) {
		return nil, fmt.Errorf("%w: no holder of segment %s serves a valid shard", ErrUnavailable, id)
	}
	f := &fetched{have: make(map[int]bool)}
	r.fetchParallel(ctx, st, f)
	res, err := decodeVerified(id, f.shards)
	if err != nil {
		return nil, fmt.Errorf("%w: segment %s: %w", ErrUnavailable, id, err)
	}
	return res.data, nil
}

// heldVersions returns the versions held here of the given records, the
// packed ones read from their version segments. A version that no longer
// reads is left out.
func (r *Repairer) heldVersions(ctx context.Context, ref dirRef, keys []wire.Hash, segments *segmentCache) []versionOf {
	out := make([]versionOf, 0, len(keys))
	for _, k := range keys {
		head, err := r.h.meta.getHead(recordKey(ref.Namespace, ref.Dir, k))
		if err != nil {
			continue
		}
		if head.Packed != nil {
			e := packedEntry(k, head)
			rec, _, err := segments.open(ctx, &e)
			if err != nil {
				r.log.Warn("packed record version does not read; not pushed", "segment", fmt.Sprintf("%x", e.Ref.Segment[:8]), "err", err)
				continue
			}
			out = append(out, versionOf{rec: rec, ref: head.Packed})
			continue
		}
		rec, err := r.h.meta.getRecord(head)
		if err != nil {
			continue
		}
		out = append(out, versionOf{rec: rec})
	}
	return out
}

// fetchParallel adds to f Data shards of a chunk, requested at once, one
// per index from the first holder in XOR order that lists it, and more
// from the other holders as requests fail or stall.
func (r *Repairer) fetchParallel(ctx context.Context, st *chunkState, f *fetched) {
	var picks []shardPick
	seen := make(map[uint16]bool)
	for _, c := range st.cands {
		for _, x := range st.held[c.ID] {
			if !seen[x] && !f.have[int(x)] {
				seen[x] = true
				picks = append(picks, shardPick{c, listedShard{x, st.params}})
			}
		}
	}
	var mu sync.Mutex
	fo := fanout{n: len(picks), want: max(0, st.params.Data-len(f.shards)), delay: repairHedgeDelay, timeout: r.cfg.RequestTimeout}
	hedge(ctx, fo, func(ctx context.Context, i int) bool {
		resp, err := r.peers.request(ctx, picks[i].c, &wire.GetShard{Chunk: st.id, Index: picks[i].listed.index})
		m, ok := resp.(*wire.ShardData)
		if err != nil || !ok {
			return false
		}
		sh, err := erasure.UnmarshalShard(m.Shard)
		if err == nil {
			err = sh.Verify()
		}
		if err != nil || sh.Params != st.params || sh.Index != int(picks[i].listed.index) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		f.have[sh.Index] = true
		f.shards = append(f.shards, sh)
		f.from = append(f.from, picks[i].c)
		return true
	})
}
