package store

import (
	"bytes"
	"math"
	"slices"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/erasure"
)

// The repair decisions below are pure functions of what the caller
// learned from lookups and holders, so every holder that sees the same
// state makes the same decision, and tests check them without a network.

// dirPlan is a holder's repair decision for one directory shard or
// descriptor it holds.
type dirPlan struct {
	// Keep is set when the holder is among the R closest and keeps the
	// data; otherwise it hands the data over and drops it.
	Keep bool
	// Peers are the other holders among the R closest, which the holder
	// reconciles with or hands over to, in XOR order.
	Peers []wire.Contact
	// Rank is how many of Peers are closer than the holder itself; when
	// it does not keep the data, all of them are.
	Rank int
}

// planDirectory decides, from the closest holders in XOR order (which
// include self when it holds data), whether self keeps a directory shard
// and with whom it reconciles.
func planDirectory(self identity.NodeID, closest []wire.Contact, replicas int) dirPlan {
	var p dirPlan
	for _, c := range closest[:min(len(closest), replicas)] {
		if c.ID == self {
			p.Keep, p.Rank = true, len(p.Peers)
			continue
		}
		p.Peers = append(p.Peers, c)
	}
	if !p.Keep {
		p.Rank = len(p.Peers)
	}
	return p
}

// versionStamp identifies a record version for comparison.
type versionStamp struct {
	Version uint64
	Writer  []byte
}

func (a versionStamp) newerThan(b versionStamp) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	return bytes.Compare(a.Writer, b.Writer) > 0
}

// diffDigests compares the versions two holders hold of a directory
// shard. push lists the key hashes whose local version the remote lacks
// or holds older; pull those the local holder lacks or holds older. Both
// are sorted.
func diffDigests(local, remote map[wire.Hash]versionStamp) (push, pull []wire.Hash) {
	for k, lv := range local {
		if rv, ok := remote[k]; !ok || lv.newerThan(rv) {
			push = append(push, k)
		}
	}
	for k, rv := range remote {
		if lv, ok := local[k]; !ok || rv.newerThan(lv) {
			pull = append(pull, k)
		}
	}
	sortHashes(push)
	sortHashes(pull)
	return push, pull
}

func sortHashes(h []wire.Hash) {
	slices.SortFunc(h, func(a, b wire.Hash) int { return bytes.Compare(a[:], b[:]) })
}

// chunkPlan is a holder's repair decision for one chunk it holds a shard
// of. Every holder that sees the same state computes the same plan, and
// each acts only on its own part of it.
type chunkPlan struct {
	// Responsible is set on exactly one live holder: the first in XOR
	// order among the candidates that hold a shard. Only it rebuilds.
	Responsible bool
	// Missing are the shard indexes no candidate holds, and Targets the
	// holders to store them on, one per index, in the same order. See
	// assignTargets for the order of choice.
	Missing []int
	Targets []wire.Contact
	// Lost is set when fewer than Params.Data shards remain, so the
	// chunk cannot be rebuilt.
	Lost bool
	// Moves hand shards over to closer holders that hold none: shards
	// held outside the chunk's Total closest candidates, and the extra
	// shards of a close holder that has several.
	Moves []shardMove
	// Drops are surplus copies of an index that a closer candidate among
	// the Total closest also holds: copies outside the Total closest, and
	// second copies within them, which a write that backed up a slow
	// holder, or a rebuild for a holder whose list failed, leaves.
	Drops []shardCopy
}

// shardCopy is one holder's copy of one shard index.
type shardCopy struct {
	Index  int
	Holder wire.Contact
}

// shardMove hands shard Index over from one holder to another.
type shardMove struct {
	Index    int
	From, To wire.Contact
}

// planChunk decides the repair of a chunk coded with p from its candidate
// holders in XOR order and the shard indexes each holds. Candidates in
// silent did not list their shards, so they get none. force makes self
// responsible, for a holder that deleted its own shard as corrupt.
func planChunk(self identity.NodeID, cands []wire.Contact, held map[identity.NodeID][]uint16, silent map[identity.NodeID]bool, p erasure.Params, force bool) chunkPlan {
	var plan chunkPlan
	present := make(map[int]bool)
	first := true
	for _, c := range cands {
		if len(held[c.ID]) == 0 {
			continue
		}
		if first {
			plan.Responsible = c.ID == self
			first = false
		}
		for _, x := range held[c.ID] {
			present[int(x)] = true
		}
	}
	plan.Responsible = plan.Responsible || force
	for i := range p.Total() {
		if !present[i] {
			plan.Missing = append(plan.Missing, i)
		}
	}
	plan.Lost = p.Total()-len(plan.Missing) < p.Data
	a := newAssigner(cands, held, silent, p.Total())
	plan.Targets = a.assign(plan.Missing, true)
	plan.Moves, plan.Drops = planHandover(cands, held, p.Total(), a)
	return plan
}

// planHandover lists the shards to hand over to the empty holders among
// the closest total candidates that a has not given to missing shards,
// and the copies that are surplus because a closer close holder has the
// index. Every drop keeps the copy of a holder closer in XOR order, the
// same order in every holder's view, so the closest holder of an index
// never drops it and two holders never drop each other's copies.
func planHandover(cands []wire.Contact, held map[identity.NodeID][]uint16, total int, a *assigner) ([]shardMove, []shardCopy) {
	closest := cands[:min(total, len(cands))]
	// firstClose is the position of the closest holder of each index
	// among the closest.
	firstClose := make(map[int]int)
	for pos, c := range closest {
		for _, x := range held[c.ID] {
			if _, ok := firstClose[int(x)]; !ok {
				firstClose[int(x)] = pos
			}
		}
	}
	var moves []shardMove
	var drops []shardCopy
	move := func(from wire.Contact, x int) {
		if to := a.assign([]int{x}, false); len(to) == 1 {
			moves = append(moves, shardMove{Index: x, From: from, To: to[0]})
		}
	}
	for _, c := range cands[len(closest):] {
		for _, x := range held[c.ID] {
			if _, ok := firstClose[int(x)]; ok {
				drops = append(drops, shardCopy{Index: int(x), Holder: c})
			} else {
				move(c, int(x))
			}
		}
	}
	for pos, c := range closest {
		var kept []uint16
		for _, x := range held[c.ID] {
			if firstClose[int(x)] < pos {
				drops = append(drops, shardCopy{Index: int(x), Holder: c})
			} else {
				kept = append(kept, x)
			}
		}
		for _, x := range extraShards(kept, pos) {
			move(c, x)
		}
	}
	return moves, drops
}

// extraShards returns the indexes a close holder at position pos should
// hand over when it holds several: all but the one it keeps, which is
// index pos if it holds that (where a writer places it), else the lowest.
func extraShards(indexes []uint16, pos int) []int {
	if len(indexes) < 2 {
		return nil
	}
	keep := slices.Min(indexes)
	if slices.Contains(indexes, uint16(pos)) {
		keep = uint16(pos)
	}
	var extra []int
	for _, x := range indexes {
		if x != keep {
			extra = append(extra, int(x))
		}
	}
	return extra
}

// assigner hands out holders for shards: empty holders first, preferring
// for index i the i-th closest candidate, where a writer puts shard i, so
// that first-choice reads find it.
type assigner struct {
	cands []wire.Contact
	total int
	load  []int // shards held or assigned, by candidate
}

// newAssigner counts each silent candidate as full, so that it is never
// empty and is the least loaded only when every candidate is silent.
func newAssigner(cands []wire.Contact, held map[identity.NodeID][]uint16, silent map[identity.NodeID]bool, total int) *assigner {
	a := &assigner{cands: cands, total: total, load: make([]int, len(cands))}
	for i, c := range cands {
		a.load[i] = len(held[c.ID])
		if silent[c.ID] {
			a.load[i] = math.MaxInt32
		}
	}
	return a
}

// assign returns a holder for each index, or stops at the first it cannot
// place. Missing shards (spill set) may go to any candidate: an empty
// one, closest first, and without empty ones left the candidate holding
// the fewest, closest on ties, so that losing any one node costs as few
// shards as it can. Moves (spill unset) go only to empty candidates among
// the closest total, since anywhere else they would gain nothing.
func (a *assigner) assign(indexes []int, spill bool) []wire.Contact {
	var out []wire.Contact
	for _, x := range indexes {
		limit := min(a.total, len(a.cands))
		if spill {
			limit = len(a.cands)
		}
		i := a.emptyFor(x, limit)
		if i < 0 && spill {
			i = a.leastLoaded()
		}
		if i < 0 {
			break
		}
		a.load[i]++
		out = append(out, a.cands[i])
	}
	return out
}

// emptyFor returns the position of a candidate below limit without shards
// for index x, preferring position x, or -1.
func (a *assigner) emptyFor(x, limit int) int {
	if x < min(a.total, limit) && a.load[x] == 0 {
		return x
	}
	for i := range limit {
		if a.load[i] == 0 {
			return i
		}
	}
	return -1
}

func (a *assigner) leastLoaded() int {
	if len(a.cands) == 0 {
		return -1
	}
	best := 0
	for i := range a.cands {
		if a.load[i] < a.load[best] {
			best = i
		}
	}
	return best
}
