package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// repairChunks checks every chunk with a shard held here, or deleted here
// as corrupt, in batches of wire.MaxShardBatch.
func (r *Repairer) repairChunks(ctx context.Context, rep *RepairReport, res *resolver) error {
	held, err := r.heldChunks()
	if err != nil {
		return err
	}
	lost := make(map[wire.Hash]bool)
	for _, id := range r.h.lostChunks() {
		lost[id] = true
		if _, ok := held[id]; !ok {
			held[id] = nil
		}
	}
	ids := make([]wire.Hash, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	sortHashes(ids)
	for start := 0; start < len(ids) && ctx.Err() == nil; start += wire.MaxShardBatch {
		batch := ids[start:min(start+wire.MaxShardBatch, len(ids))]
		r.repairBatch(ctx, rep, res, batch, lost)
	}
	return nil
}

// heldChunks returns the chunks with shards held here and the indexes
// held of each.
func (r *Repairer) heldChunks() (map[wire.Hash][]int, error) {
	held := make(map[wire.Hash][]int)
	err := r.h.cfg.Shards.ScanShards(func(id engine.ChunkID, index int) error {
		held[wire.Hash(id)] = append(held[wire.Hash(id)], index)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: repair: scan shards: %w", err)
	}
	return held, nil
}

// chunkState is the state of one chunk that a repair batch collects.
type chunkState struct {
	id wire.Hash
	// cell is the cluster the chunk is placed in, as this holder keeps
	// it; "" for a chunk placed globally. Candidates are then the cell's
	// registered holders.
	cell string
	// params is the code repair converges the chunk to; see settle.
	params erasure.Params
	cands  []wire.Contact
	// listed are the shards each candidate listed, of every code, and
	// held the indexes of those coded with params.
	listed map[identity.NodeID][]listedShard
	held   map[identity.NodeID][]uint16
	// silent are the candidates whose ListShards failed. What they hold
	// is unknown, so repair hands them nothing: one that holds a shard
	// already would end with two, and losing it would cost both.
	silent map[identity.NodeID]bool
}

func newChunkState(id wire.Hash) *chunkState {
	return &chunkState{id: id, listed: make(map[identity.NodeID][]listedShard),
		held: make(map[identity.NodeID][]uint16), silent: make(map[identity.NodeID]bool)}
}

// settle picks the code repair converges the chunk to and keeps in held
// the indexes of that code. A chunk written twice may be coded two ways
// under one ID, its holders keeping shards of both. The code picked is
// the one whose listed shards exceed its Data the most, ties broken by
// the larger code, so that every holder with the same listings picks the
// same, and it is decodable whenever any code is. A shard listed without
// its code counts as params, the code read from a shard held here.
func (st *chunkState) settle() {
	avail := make(map[erasure.Params]map[int]bool)
	for _, list := range st.listed {
		for _, l := range list {
			code := st.codeOf(l)
			if code == (erasure.Params{}) {
				continue
			}
			if avail[code] == nil {
				avail[code] = make(map[int]bool)
			}
			avail[code][int(l.index)] = true
		}
	}
	var best erasure.Params
	for code, indexes := range avail {
		if best == (erasure.Params{}) || betterCode(code, len(indexes), best, len(avail[best])) {
			best = code
		}
	}
	if best != (erasure.Params{}) {
		st.params = best
	}
	st.held = make(map[identity.NodeID][]uint16, len(st.listed))
	for id, list := range st.listed {
		var indexes []uint16
		for _, l := range list {
			if st.codeOf(l) == st.params {
				indexes = append(indexes, l.index)
			}
		}
		st.held[id] = indexes
	}
}

// codeOf returns the code of a listed shard: the one listed, or params
// when the listing did not name it.
func (st *chunkState) codeOf(l listedShard) erasure.Params {
	if l.code != (erasure.Params{}) {
		return l.code
	}
	return st.params
}

// otherCode returns the shards a holder listed of codes other than
// params.
func (st *chunkState) otherCode(id identity.NodeID) []listedShard {
	var out []listedShard
	for _, l := range st.listed[id] {
		if code := st.codeOf(l); code != st.params {
			out = append(out, listedShard{l.index, code})
		}
	}
	return out
}

func (r *Repairer) repairBatch(ctx context.Context, rep *RepairReport, res *resolver, batch []wire.Hash, lost map[wire.Hash]bool) {
	states := make([]*chunkState, 0, len(batch))
	for _, id := range batch {
		st, err := r.chunkCandidates(ctx, res, id)
		if err != nil {
			continue // counted by the resolver
		}
		states = append(states, st)
	}
	r.listHeld(ctx, rep, states)
	self := r.peers.net.Self().ID
	var known, short []*chunkState
	for _, st := range states {
		rep.Chunks++
		if st.params == (erasure.Params{}) && !r.learnParams(ctx, rep, st) {
			continue // no valid shard anywhere to read the code from
		}
		known = append(known, st)
		if planChunk(self, st.cands, st.held, st.silent, st.params, lost[st.id]).Lost {
			short = append(short, st)
		}
	}
	r.recheck(ctx, rep, short)

	var ho handover
	for _, st := range known {
		plan := planChunk(self, st.cands, st.held, st.silent, st.params, lost[st.id])
		switch {
		case !plan.Responsible || len(plan.Missing) == 0:
		case plan.Lost:
			rep.ChunksLost++
			r.log.Error("chunk cannot be rebuilt: too few shards left", "chunk", fmt.Sprintf("%x", st.id[:8]),
				"code", st.params, "missing", len(plan.Missing))
		default:
			r.rebuild(ctx, rep, st, plan)
		}
		ho.add(self, st, plan)
	}
	r.handOver(ctx, rep, &ho)
}

// recheck lists the shards of chunks that look lost once more, under
// WithDownProbe, so holders the Network took for down are looked up and
// asked too. On a loaded machine a live holder that timed out a few times
// is marked down, and after a third of the nodes failed every survivor's
// shard may be needed. The lookups run in parallel and the listing is one
// request per peer for all the chunks, so that the peers that are really
// down cost one request timeout per batch.
func (r *Repairer) recheck(ctx context.Context, rep *RepairReport, states []*chunkState) {
	if len(states) == 0 {
		return
	}
	ctx = WithDownProbe(ctx)
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, st := range states {
		if st.cell != "" {
			continue // its candidates are every registered holder already
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			target := ChunkKey([32]byte(st.id))
			more, err := r.peers.closest(ctx, target, len(st.cands)+lateSpare(len(st.cands)), Middle)
			if err != nil {
				return
			}
			for _, c := range more {
				if !slices.ContainsFunc(st.cands, func(x wire.Contact) bool { return x.ID == c.ID }) {
					st.cands = append(st.cands, c)
				}
			}
			st.cands = sortByDistance(target, st.cands)
		})
	}
	wg.Wait()
	r.listHeld(ctx, rep, states)
}

// chunkCandidates finds a chunk's candidate holders and reads its code
// from a shard held here, if any. This node is a candidate whenever it
// holds a shard, even when farther than the rest, so that it hands the
// shard over.
func (r *Repairer) chunkCandidates(ctx context.Context, res *resolver, id wire.Hash) (*chunkState, error) {
	st := newChunkState(id)
	if indexes, err := r.h.cfg.Shards.List(engine.ChunkID(id)); err == nil {
		for _, x := range indexes {
			if sh, err := r.h.cfg.Shards.Get(engine.ChunkID(id), x); err == nil {
				st.params = sh.Params
				break
			}
		}
	}
	total := erasure.DefaultParams.Total()
	if st.params != (erasure.Params{}) {
		total = st.params.Total()
	}
	var err error
	st.cell = r.h.chunkCell(id)
	if st.cell != "" {
		st.cands, err = res.closestIn(ctx, st.cell, ChunkKey([32]byte(id)), total+lateSpare(total))
	} else {
		st.cands, err = res.closest(ctx, ChunkKey([32]byte(id)), total+lateSpare(total), Middle)
	}
	self := r.peers.net.Self()
	if err == nil && st.params != (erasure.Params{}) && !slices.ContainsFunc(st.cands, func(c wire.Contact) bool { return c.ID == self.ID }) {
		st.cands = append(st.cands, self)
	}
	return st, err
}

// listHeld requests from each candidate, once per batch, the shards it
// holds of the chunks it is a candidate for.
func (r *Repairer) listHeld(ctx context.Context, rep *RepairReport, states []*chunkState) {
	byPeer := make(map[identity.NodeID][]*chunkState)
	contacts := make(map[identity.NodeID]wire.Contact)
	for _, st := range states {
		for _, c := range st.cands {
			byPeer[c.ID] = append(byPeer[c.ID], st)
			contacts[c.ID] = c
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, list := range byPeer {
		wg.Go(func() {
			ids := make([]wire.Hash, len(list))
			for i, st := range list {
				ids[i] = st.id
			}
			held, err := r.listShards(ctx, contacts[id], ids)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Errors++
				for _, st := range list {
					st.silent[id] = true
				}
				return
			}
			for i, st := range list {
				st.listed[id] = held[i]
				delete(st.silent, id)
			}
		})
	}
	wg.Wait()
	for _, st := range states {
		st.settle()
	}
}

// listShards requests the shards a peer holds of each chunk.
func (r *Repairer) listShards(ctx context.Context, c wire.Contact, ids []wire.Hash) ([][]listedShard, error) {
	resp, err := r.peers.request(ctx, c, &wire.ListShards{Chunks: ids})
	if err != nil {
		return nil, err
	}
	m, ok := resp.(*wire.ShardIndexes)
	if !ok || len(m.Held) != len(ids) {
		return nil, fmt.Errorf("store: holder %s responded to ListShards of %d chunks with %v", c.ID.Short(), len(ids), resp.Type())
	}
	out := make([][]listedShard, len(ids))
	for i := range out {
		out[i] = listedOf(m, i)
	}
	return out, nil
}

// rebuild fetches Data shards of a chunk, decodes them and checks the
// chunk's ID, fetching every shard when a holder serves a wrong one. Then
// it rebuilds the missing shards and stores each on its target, and
// replaces the wrong shards found.
func (r *Repairer) rebuild(ctx context.Context, rep *RepairReport, st *chunkState, plan chunkPlan) {
	f := &fetched{have: make(map[int]bool)}
	r.fetchParallel(ctx, st, f)
	res, err := decodeVerified(chunk.ID(st.id), f.shards)
	if errors.Is(err, errIDMismatch) {
		r.fetchShards(ctx, rep, st, f, st.params.Total())
		res, err = decodeVerified(chunk.ID(st.id), f.shards)
	}
	if err != nil {
		r.log.Warn("rebuild of chunk failed", "chunk", fmt.Sprintf("%x", st.id[:8]), "err", err)
		rep.Errors++
		return
	}
	r.putAllRebuilt(ctx, rep, st.id, res, plan)
	for _, j := range res.liars {
		r.log.Warn("holder serves a shard that does not belong to its chunk; replacing it",
			"chunk", fmt.Sprintf("%x", st.id[:8]), "index", f.shards[j].Index, "peer", f.from[j].ID.Short())
		if r.putRebuilt(ctx, rep, st.id, res, f.shards[j].Index, f.from[j]) {
			rep.WrongShards++
		}
	}
}

// putAllRebuilt rebuilds the shards plan misses with one decode and
// stores them on their targets at once, each request counted in a report
// of its own.
func (r *Repairer) putAllRebuilt(ctx context.Context, rep *RepairReport, id wire.Hash, res *decoded, plan chunkPlan) {
	n := min(len(plan.Missing), len(plan.Targets))
	if n == 0 {
		return
	}
	rebuilt, _, err := erasure.Reconstruct(res.used, plan.Missing[:n])
	if err != nil {
		rep.Errors++
		return
	}
	reports := make([]RepairReport, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, err := erasure.MarshalShard(rebuilt[i])
			if err != nil {
				reports[i].Errors++
				return
			}
			if _, err := r.send(ctx, &reports[i], plan.Targets[i], &wire.PutShard{Chunk: id, Shard: b, Cell: r.h.chunkCell(id)}); err != nil {
				return
			}
			reports[i].ShardsRebuilt++
			reports[i].BytesSent += int64(len(b))
		})
	}
	wg.Wait()
	for _, o := range reports {
		rep.add(o)
	}
}

// putRebuilt rebuilds shard index from res and stores it on c.
func (r *Repairer) putRebuilt(ctx context.Context, rep *RepairReport, id wire.Hash, res *decoded, index int, c wire.Contact) bool {
	rebuilt, _, err := erasure.Reconstruct(res.used, []int{index})
	if err != nil {
		rep.Errors++
		return false
	}
	b, err := erasure.MarshalShard(rebuilt[0])
	if err != nil {
		rep.Errors++
		return false
	}
	if _, err := r.send(ctx, rep, c, &wire.PutShard{Chunk: id, Shard: b, Cell: r.h.chunkCell(id)}); err != nil {
		return false
	}
	rep.BytesSent += int64(len(b))
	return true
}

// learnParams reads a chunk's code from a shard held elsewhere, for a
// chunk whose only local shard was deleted as corrupt.
func (r *Repairer) learnParams(ctx context.Context, rep *RepairReport, st *chunkState) bool {
	for _, c := range st.cands {
		for _, l := range st.listed[c.ID] {
			resp, err := r.send(ctx, rep, c, &wire.GetShard{Chunk: st.id, Index: l.index})
			m, ok := resp.(*wire.ShardData)
			if err != nil || !ok {
				continue
			}
			if sh, err := erasure.UnmarshalShard(m.Shard); err == nil && sh.Verify() == nil {
				st.params = sh.Params
				st.settle()
				return true
			}
		}
	}
	return false
}

// fetched are the valid shards of one chunk that repair fetched, with
// distinct indexes and the holder of each.
type fetched struct {
	shards []erasure.Shard
	from   []wire.Contact
	have   map[int]bool
}

// fetchShards adds valid shards of the chunk's code to f from the
// candidates that hold them, in XOR order, until f has want.
func (r *Repairer) fetchShards(ctx context.Context, rep *RepairReport, st *chunkState, f *fetched, want int) {
	for _, c := range st.cands {
		for _, x := range st.held[c.ID] {
			if len(f.shards) >= want {
				return
			}
			if f.have[int(x)] {
				continue
			}
			resp, err := r.send(ctx, rep, c, &wire.GetShard{Chunk: st.id, Index: x})
			m, ok := resp.(*wire.ShardData)
			if err != nil || !ok {
				continue
			}
			sh, err := erasure.UnmarshalShard(m.Shard)
			if err == nil {
				err = sh.Verify()
			}
			if err != nil || sh.Params != st.params || sh.Index != int(x) {
				continue
			}
			f.have[int(x)] = true
			f.shards = append(f.shards, sh)
			f.from = append(f.from, c)
		}
	}
}
