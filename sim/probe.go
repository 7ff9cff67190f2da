package sim

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
)

// dhtMember is a Member that may stay out of the global DHT, as the
// members of a hierarchical group that are not representatives do.
type dhtMember interface {
	InDHT() bool
}

// inDHT reports whether node i takes part in the global DHT, and so can be
// the true result of a lookup.
func (n *Network) inDHT(i int32) bool {
	if d, ok := n.nodes[i].member.(dhtMember); ok {
		return d.InDHT()
	}
	return true
}

// joiner is a Member that reports whether it has joined the global DHT.
type joiner interface {
	Joined() bool
}

// joinedDHT reports whether node i takes part in the global DHT and its
// join lookup has ended.
func (n *Network) joinedDHT(i int32) bool {
	if !n.inDHT(i) {
		return false
	}
	if j, ok := n.nodes[i].member.(joiner); ok {
		return j.Joined()
	}
	return true
}

// Truth returns the truth over the live nodes that take part in the
// global DHT and have joined it: their join lookup has ended, so it has
// reached their closest nodes. A node that is still joining is not yet
// one that lookups must find (see TruthWithJoining).
func (n *Network) Truth() *Truth {
	return n.truthOf(n.joinedDHT)
}

// TruthWithJoining returns the truth over the live nodes that take part
// in the global DHT, those still joining included.
func (n *Network) TruthWithJoining() *Truth {
	return n.truthOf(n.inDHT)
}

func (n *Network) truthOf(counts func(int32) bool) *Truth {
	ids := make([]identity.NodeID, 0, len(n.live))
	for _, i := range n.live {
		if counts(i) {
			ids = append(ids, n.nodes[i].id)
		}
	}
	return NewTruth(ids)
}

// randomKey draws a key uniformly from the ID space.
func randomKey(rng *rand.Rand) identity.NodeID {
	var key identity.NodeID
	for k := 0; k < len(key); k += 8 {
		binary.BigEndian.PutUint64(key[k:], rng.Uint64())
	}
	return key
}

// Probe is the outcome of one lookup run to measure the network.
type Probe struct {
	// Done is false if the node running the lookup left before it ended.
	Done bool
	// Correct reports whether the closest node found is the true closest
	// live participant that had joined when the lookup started.
	Correct bool
	// CorrectWithJoining reports whether it is the true closest live
	// participant when the lookup started, counting those still joining.
	CorrectWithJoining bool
	// TargetLeft reports that the true closest node left during the
	// lookup, so that no result could be correct.
	TargetLeft bool
	Hops       int
	Queried    int
	Latency    time.Duration
}

// probeBatch runs lookups for random keys from random live nodes, all
// started at one moment and judged against the truth of that moment.
type probeBatch struct {
	started time.Duration
	// truth counts the nodes that had joined, withJoining all of them.
	truth, withJoining *Truth
	probes             []Probe
	pending            int
	each               func(*probeBatch) // may be nil
	done               func(*probeBatch)
}

// startProbes starts count lookups now, drawing sources and keys from
// rng, and calls done when all have ended.
func (n *Network) startProbes(count int, rng *rand.Rand, done func(*probeBatch)) {
	n.startProbesEach(count, rng, nil, done)
}

// startProbesEach is startProbes that also calls each after every lookup
// that ends, the last one included, before done.
func (n *Network) startProbesEach(count int, rng *rand.Rand, each, done func(*probeBatch)) {
	b := &probeBatch{
		started: n.Now(), truth: n.Truth(), withJoining: n.TruthWithJoining(),
		probes: make([]Probe, count), pending: count, each: each, done: done,
	}
	if count == 0 {
		done(b)
		return
	}
	for k := range count {
		src, ok := n.RandomLive(rng)
		key := randomKey(rng)
		if !ok {
			b.finish()
			continue
		}
		n.Lookup(src, key, func(r *kademlia.LookupResult) {
			b.probes[k] = n.judge(r, b.truth, b.withJoining)
			b.finish()
		})
	}
}

// judge turns a lookup result into a Probe, given the truth over the
// nodes that had joined and the one counting nodes still joining. A
// lookup is correct if it returns the true closest node that had joined,
// or a participant still joining that is closer still.
func (n *Network) judge(r *kademlia.LookupResult, truth, withJoining *Truth) Probe {
	if r == nil {
		return Probe{}
	}
	p := Probe{
		Done:    true,
		Hops:    r.Hops,
		Queried: r.Queried,
		Latency: r.Finished.Sub(r.Started),
	}
	want, _ := truth.Closest(r.Target)
	wantWithJoining, _ := withJoining.Closest(r.Target)
	if len(r.Closest) > 0 {
		got := r.Closest[0].ID
		p.CorrectWithJoining = got == wantWithJoining
		p.Correct = got == want ||
			withJoining.Contains(got) && identity.CloserTo(r.Target, got, want)
	}
	if !p.Correct {
		p.TargetLeft = !n.aliveID(want)
	}
	return p
}

// aliveID reports whether a live node has the given ID. It scans the live
// nodes, which is fine for the few failed lookups that ask.
func (n *Network) aliveID(id identity.NodeID) bool {
	return slices.ContainsFunc(n.live, func(i int32) bool { return n.nodes[i].id == id })
}

func (b *probeBatch) finish() {
	b.pending--
	if b.each != nil {
		b.each(b)
	}
	if b.pending == 0 {
		b.done(b)
	}
}

// ProbeSummary aggregates probes.
type ProbeSummary struct {
	Lookups, Done, Correct, TargetLeft int
	// CorrectWithJoining counts the lookups that found the true closest
	// node when nodes still joining count too.
	CorrectWithJoining int
}

// Success returns the share of lookups that found the true closest node,
// leaving out those whose target left during the lookup.
func (s ProbeSummary) Success() float64 {
	judged := s.Lookups - s.TargetLeft
	if judged <= 0 {
		return 0
	}
	return float64(s.Correct) / float64(judged)
}

func summarize(probes []Probe) ProbeSummary {
	s := ProbeSummary{Lookups: len(probes)}
	for _, p := range probes {
		if p.Done {
			s.Done++
		}
		if p.Correct {
			s.Correct++
		}
		if p.CorrectWithJoining {
			s.CorrectWithJoining++
		}
		if p.TargetLeft {
			s.TargetLeft++
		}
	}
	return s
}
