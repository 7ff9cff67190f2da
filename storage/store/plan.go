package store

import (
	"bytes"
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
	// reconciles with or hands over to.
	Peers []wire.Contact
}

// planDirectory decides, from the closest holders in XOR order (which
// include self when it holds data), whether self keeps a directory shard
// and with whom it reconciles.
func planDirectory(self identity.NodeID, closest []wire.Contact, replicas int) dirPlan {
	var p dirPlan
	for _, c := range closest[:min(len(closest), replicas)] {
		if c.ID == self {
			p.Keep = true
			continue
		}
		p.Peers = append(p.Peers, c)
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
// of.
type chunkPlan struct {
	// Responsible is set on exactly one live holder: the first in XOR
	// order among the candidates that hold a shard. Only it rebuilds.
	Responsible bool
	// Missing are the shard indexes no candidate holds, and Targets the
	// holders to store them on, one per index, in the same order:
	// candidates that hold no shard first, in XOR order. With fewer
	// candidates than shards, the rest go to the candidates holding the
	// fewest, so that losing any one node costs as few shards as it can.
	Missing []int
	Targets []wire.Contact
	// Lost is set when fewer than Params.Data shards remain, so the
	// chunk cannot be rebuilt.
	Lost bool
}

// planChunk decides the repair of a chunk coded with p from its candidate
// holders in XOR order and the shard indexes each holds. force makes self
// responsible, for a holder that deleted its own shard as corrupt.
func planChunk(self identity.NodeID, cands []wire.Contact, held map[identity.NodeID][]uint16, p erasure.Params, force bool) chunkPlan {
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
	plan.Targets = pickTargets(cands, held, len(plan.Missing))
	return plan
}

// pickTargets returns n holders for new shards: each time the candidate
// holding the fewest shards, the closest on ties.
func pickTargets(cands []wire.Contact, held map[identity.NodeID][]uint16, n int) []wire.Contact {
	if len(cands) == 0 {
		return nil
	}
	load := make([]int, len(cands))
	for i, c := range cands {
		load[i] = len(held[c.ID])
	}
	targets := make([]wire.Contact, 0, n)
	for range n {
		best := 0
		for i := range cands {
			if load[i] < load[best] {
				best = i
			}
		}
		load[best]++
		targets = append(targets, cands[best])
	}
	return targets
}
