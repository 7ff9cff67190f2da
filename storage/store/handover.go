package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// handover collects what this holder gives up during one repair batch:
// shards to hand over to closer holders, and surplus copies of indexes a
// closer holder has.
type handover struct {
	moves []shardAt // the shard and the holder to hand it to
	drops []shardAt // the shard and the closer holder that keeps it
	// stale are shards of a code other than the one repair converges
	// the chunk to, dropped once every shard of that code is listed.
	stale []shardAt
}

// shardAt is shard index of a chunk coded with code, and another holder
// involved in it.
type shardAt struct {
	chunk wire.Hash
	index int
	code  erasure.Params
	peer  wire.Contact
}

// add takes this holder's part of plan.
func (h *handover) add(self identity.NodeID, st *chunkState, plan chunkPlan) {
	for _, m := range plan.Moves {
		if m.From.ID == self {
			h.moves = append(h.moves, shardAt{st.id, m.Index, st.params, m.To})
		}
	}
	// A shard of another code goes only once the chunk's code is
	// complete, so that it never costs the only code that decodes.
	if !plan.Lost && len(plan.Missing) == 0 {
		for _, l := range st.otherCode(self) {
			h.stale = append(h.stale, shardAt{chunk: st.id, index: int(l.index), code: l.code})
		}
	}
	closest := st.cands[:min(st.params.Total(), len(st.cands))]
	for _, d := range plan.Drops {
		if d.Holder.ID != self {
			continue
		}
		keeper := slices.IndexFunc(closest, func(c wire.Contact) bool {
			return slices.Contains(st.held[c.ID], uint16(d.Index))
		})
		if keeper >= 0 {
			h.drops = append(h.drops, shardAt{st.id, d.Index, st.params, closest[keeper]})
		}
	}
}

// handOver stores each shard to move on its new holder, then requests
// from every new holder and keeper the list of those shards it holds, and deletes the
// local copy of each one listed with the same code. A shard is thus
// deleted only while another holder has it, so no index of a code loses
// its last copy. It also deletes the stale shards of another code.
func (r *Repairer) handOver(ctx context.Context, rep *RepairReport, h *handover) {
	for _, s := range h.stale {
		if err := r.h.cfg.Shards.DeleteCode(engine.ChunkID(s.chunk), s.index, s.code); err != nil {
			r.log.Error("delete shard of a stale code failed", "chunk", fmt.Sprintf("%x", s.chunk[:8]), "index", s.index, "err", err)
			rep.Errors++
			continue
		}
		r.h.dropCell(s.chunk)
		rep.ShardsDropped++
	}
	var confirm []shardAt
	for _, m := range h.moves {
		if r.sendShard(ctx, rep, m) {
			confirm = append(confirm, m)
		}
	}
	confirm = append(confirm, h.drops...)
	if len(confirm) == 0 {
		return
	}
	moved := make(map[shardAt]bool, len(h.moves))
	for _, m := range h.moves {
		moved[m] = true
	}
	for _, s := range r.confirmHeld(ctx, rep, confirm) {
		if err := r.h.cfg.Shards.DeleteCode(engine.ChunkID(s.chunk), s.index, s.code); err != nil {
			r.log.Error("delete shard handed over failed", "chunk", fmt.Sprintf("%x", s.chunk[:8]), "index", s.index, "err", err)
			rep.Errors++
			continue
		}
		r.h.dropCell(s.chunk)
		if moved[s] {
			rep.ShardsMoved++
		} else {
			rep.ShardsDropped++
		}
	}
}

// sendShard stores the local copy of a shard on m.peer.
func (r *Repairer) sendShard(ctx context.Context, rep *RepairReport, m shardAt) bool {
	sh, err := r.h.cfg.Shards.Get(engine.ChunkID(m.chunk), m.index)
	if err != nil {
		return false // gone or corrupt here; the scrub and rebuild handle it
	}
	b, err := erasure.MarshalShard(sh)
	if err != nil {
		return false
	}
	if _, err := r.send(ctx, rep, m.peer, &wire.PutShard{Chunk: m.chunk, Shard: b, Cell: r.h.chunkCell(m.chunk)}); err != nil {
		return false
	}
	rep.BytesSent += int64(len(b))
	return true
}

// confirmHeld sends each peer named in list one ListShards for its
// entries, and returns the entries the peer holds.
func (r *Repairer) confirmHeld(ctx context.Context, rep *RepairReport, list []shardAt) []shardAt {
	byPeer := make(map[identity.NodeID][]shardAt)
	var order []identity.NodeID
	for _, s := range list {
		if _, ok := byPeer[s.peer.ID]; !ok {
			order = append(order, s.peer.ID)
		}
		byPeer[s.peer.ID] = append(byPeer[s.peer.ID], s)
	}
	var held []shardAt
	for _, id := range order {
		for entries := range slices.Chunk(byPeer[id], wire.MaxShardBatch) {
			held = append(held, r.confirmPeer(ctx, rep, entries)...)
		}
	}
	return held
}

// confirmPeer returns the entries, at most wire.MaxShardBatch, that one
// peer lists as held with the same code, or at the same index when it
// does not name codes.
func (r *Repairer) confirmPeer(ctx context.Context, rep *RepairReport, entries []shardAt) []shardAt {
	ids := make([]wire.Hash, len(entries))
	for i, s := range entries {
		ids[i] = s.chunk
	}
	indexes, err := r.listShards(ctx, entries[0].peer, ids)
	if err != nil {
		rep.Errors++
		return nil
	}
	var held []shardAt
	for i, s := range entries {
		if slices.ContainsFunc(indexes[i], func(l listedShard) bool {
			return int(l.index) == s.index && (l.code == (erasure.Params{}) || l.code == s.code)
		}) {
			held = append(held, s)
		}
	}
	return held
}
