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
	"github.com/yuinet/yui/storage/erasure"
)

// maxPlaceRounds bounds how often one chunk is coded and placed again
// after holders failed. Each round leaves out every holder that failed
// before, so a second round is enough unless more holders die during the
// write.
const maxPlaceRounds = 4

// failedHolders is the set of holders that failed a PutShard during one
// write. Every chunk of the write leaves them out, so a dead holder costs
// the write one failed request rather than one per chunk.
type failedHolders struct {
	mu sync.Mutex // guards ids
	// ids maps each holder that failed to whether it did not respond,
	// as opposed to responding with an error such as CodeFull.
	ids map[identity.NodeID]bool
}

func (f *failedHolders) add(id identity.NodeID, silent bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = make(map[identity.NodeID]bool)
	}
	f.ids[id] = f.ids[id] || silent
}

func (f *failedHolders) has(id identity.NodeID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.ids[id]
	return ok
}

func (f *failedHolders) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// silent returns the holders that did not respond.
func (f *failedHolders) silent() map[identity.NodeID]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[identity.NodeID]bool)
	for id, silent := range f.ids {
		if silent {
			out[id] = true
		}
	}
	return out
}

func (f *failedHolders) without(contacts []wire.Contact) []wire.Contact {
	return slices.DeleteFunc(contacts, func(c wire.Contact) bool { return f.has(c.ID) })
}

// writeChunk codes a sealed chunk and stores shard i on the i-th closest
// live holder, among the holders of cell when it is set, substituting
// spare candidates for holders that fail. When the spares run out, it
// leaves out every holder that failed, codes the chunk again for the
// holders left (ScaledParams) and places it again, keeping the shards
// already stored when the code is unchanged. It returns once every shard
// is stored durably, or with an error wrapping ErrUnavailable that states
// how many holders the code needed and how many responded.
func (s *Store) writeChunk(ctx context.Context, cell string, id chunk.ID, sealed []byte, nominal erasure.Params, failed *failedHolders) error {
	var (
		prev     erasure.Params
		prevHeld []wire.Contact
		err      error
	)
	for range maxPlaceRounds {
		before := failed.len()
		var plan shardPlan
		if plan, err = s.planShards(ctx, cell, id, len(sealed), nominal, failed); err != nil {
			return fmt.Errorf("store: write chunk %s: %w", id, err)
		}
		if plan.code == prev {
			plan.cands = keepPlaced(prevHeld, plan.cands)
		}
		prev = plan.code
		if prevHeld, err = s.placeShards(ctx, cell, id, sealed, plan, failed); err == nil {
			return nil
		}
		if cell != "" {
			s.forgetMembers(cell, failed.silent())
		}
		if terminal(err) || ctx.Err() != nil || failed.len() == before {
			break
		}
		s.log.Info("holders failed during a write; coding the chunk again for the others", "chunk", id.String(),
			"code", plan.code.String(), "failed", failed.len(), "cell", cell)
	}
	return fmt.Errorf("store: write chunk %s: %w", id, err)
}

// shardPlan is the code a chunk is written with and its candidate
// holders, one per shard in slot order, then spares.
type shardPlan struct {
	code  erasure.Params
	cands []wire.Contact
}

// planShards picks the code and the candidates of a chunk, leaving out
// the failed holders. In a cell with fewer than minClusterHolders live
// holders, as when one of a cell of exactly 8 died, the chunk keeps the
// code of minClusterHolders, and the closest nodes outside the cell take
// the shards its holders cannot. Readers look for the chunk in the cell
// only, so at least the code's data shards must lie there.
//
// NOTE: readers never ask the holders outside the cell, so until repair
// moves their shards in, a chunk placed this way survives one lost cell
// holder fewer per outside shard. Repair finds them, because each outside
// holder keeps the cell and plans the chunk with itself as a candidate.
func (s *Store) planShards(ctx context.Context, cell string, id chunk.ID, size int, nominal erasure.Params, failed *failedHolders) (shardPlan, error) {
	key := ChunkKey(id)
	width := nominal.Total() + spareCandidates
	cands, err := s.closestIn(ctx, cell, key, width+failed.len())
	if err != nil {
		return shardPlan{}, err
	}
	cands = failed.without(cands)
	cands = cands[:min(len(cands), width)]
	if cell == "" || len(cands) >= minClusterHolders {
		if len(cands) == 0 {
			return shardPlan{}, fmt.Errorf("%w: no live holder found", ErrUnavailable)
		}
		return shardPlan{code: codeFor(nominal, len(cands), size), cands: cands}, nil
	}

	code := codeFor(nominal, minClusterHolders, size)
	if len(cands) < code.Data {
		return shardPlan{}, fmt.Errorf("%w: cell %s: code %v needs %d live holders in the cell, %d responded; a retry places the value globally",
			ErrUnavailable, cell, code, code.Data, len(cands))
	}
	outside, err := s.outsideCell(ctx, cell, key, code.Total()+spareCandidates-len(cands), failed)
	if err != nil {
		return shardPlan{}, err
	}
	if have := len(cands) + len(outside); have < code.Total() {
		return shardPlan{}, fmt.Errorf("%w: cell %s: code %v needs %d live holders, %d responded in the cell and %d outside it",
			ErrUnavailable, cell, code, code.Total(), len(cands), len(outside))
	}
	s.log.Debug("cell has too few live holders for a chunk; placing the rest outside it", "cell", cell,
		"chunk", id.String(), "code", code.String(), "in_cell", len(cands), "outside", code.Total()-len(cands))
	return shardPlan{code: code, cands: append(cands, outside...)}, nil
}

// outsideCell returns up to n candidates for target that are not
// registered in cell and have not failed, closest first.
func (s *Store) outsideCell(ctx context.Context, cell string, target identity.NodeID, n int, failed *failedHolders) ([]wire.Contact, error) {
	members, err := s.ClusterMembers(ctx, cell)
	if err != nil {
		return nil, err
	}
	inCell := make(map[identity.NodeID]bool, len(members))
	for _, m := range members {
		inCell[m.ID] = true
	}
	cands, err := s.closest(ctx, target, n+len(members)+failed.len())
	if err != nil {
		return nil, err
	}
	cands = slices.DeleteFunc(cands, func(c wire.Contact) bool { return inCell[c.ID] || failed.has(c.ID) })
	return cands[:min(len(cands), n)], nil
}

// keepPlaced orders cands so that each slot filled in the last round
// keeps its holder, which acknowledges the same shard again without
// storing it, and the others take the remaining candidates in order.
func keepPlaced(held, cands []wire.Contact) []wire.Contact {
	if len(held) == 0 {
		return cands
	}
	used := make(map[identity.NodeID]bool)
	for _, c := range held {
		used[c.ID] = true
	}
	var rest []wire.Contact
	for _, c := range cands {
		if !used[c.ID] {
			rest = append(rest, c)
		}
	}
	out := make([]wire.Contact, 0, len(cands))
	for _, c := range held {
		if c.ID == (identity.NodeID{}) {
			if len(rest) == 0 {
				break
			}
			c, rest = rest[0], rest[1:]
		}
		out = append(out, c)
	}
	return append(out, rest...)
}

// placeShards codes the chunk with plan's code and stores its shards. It adds
// every holder whose PutShard failed to failed, and returns the holder of
// each shard stored, as placeEach does.
func (s *Store) placeShards(ctx context.Context, cell string, id chunk.ID, sealed []byte, plan shardPlan, failed *failedHolders) ([]wire.Contact, error) {
	shards, err := erasure.Encode(plan.code, sealed)
	if err != nil {
		return nil, fmt.Errorf("store: code chunk %s: %w", id, err)
	}
	encoded := make([][]byte, len(shards))
	for i, sh := range shards {
		if encoded[i], err = erasure.MarshalShard(sh); err != nil {
			return nil, err
		}
	}
	attempt := s.rtt.attemptTimeout(wire.TypePutShard, s.cfg.RequestTimeout)
	held, err := placeEach(ctx, plan.cands, len(shards), attempt, func(ctx context.Context, slot int, c wire.Contact) error {
		_, err := s.request(ctx, c, &wire.PutShard{Chunk: wire.Hash(id), Shard: encoded[slot], Cell: cell})
		// An attempt cancelled because another holder filled its slot
		// does not show that this holder failed.
		if err != nil && ctx.Err() == nil && !terminal(err) {
			var remote *RemoteError
			failed.add(c.ID, !errors.As(err, &remote))
		}
		return err
	})
	if err != nil {
		return held, fmt.Errorf("code %v over %d candidates: %w", plan.code, len(plan.cands), err)
	}
	return held, nil
}
