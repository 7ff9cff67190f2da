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
}

// shardAt is shard index of a chunk and another holder involved in it.
type shardAt struct {
	chunk wire.Hash
	index int
	peer  wire.Contact
}

// add takes this holder's part of plan.
func (h *handover) add(self identity.NodeID, st *chunkState, plan chunkPlan) {
	for _, m := range plan.Moves {
		if m.From.ID == self {
			h.moves = append(h.moves, shardAt{st.id, m.Index, m.To})
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
			h.drops = append(h.drops, shardAt{st.id, d.Index, closest[keeper]})
		}
	}
}

// handOver stores each shard to move on its new holder, then requests
// from every new holder and keeper the list of those shards it holds, and deletes the
// local copy of each one listed. A shard is thus deleted only while
// another holder has it, so no index loses its last copy.
func (r *Repairer) handOver(ctx context.Context, rep *RepairReport, h *handover) {
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
		if err := r.h.cfg.Shards.Delete(engine.ChunkID(s.chunk), s.index); err != nil {
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
// peer lists as held.
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
		if slices.Contains(indexes[i], uint16(s.index)) {
			held = append(held, s)
		}
	}
	return held
}
