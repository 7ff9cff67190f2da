package kademliatest

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// run builds a 30-node network with the given options, runs lookups and
// returns a trace of everything observable: every lookup result and the
// final counters.
func run(t *testing.T, opts Options) []string {
	t.Helper()
	net := New(opts)
	for range 30 {
		net.AddNode()
	}
	nodes := net.Nodes()
	for i, n := range nodes {
		net.Join(n, nodes[i/2])
		net.RunFor(50 * time.Millisecond)
	}
	net.RunFor(10 * time.Second)

	var trace []string
	for i := range 20 {
		target := nodes[(i*7)%len(nodes)].Contact.ID
		res, err := net.LookupWait(nodes[i], target, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		trace = append(trace, res.Finished.Format(time.RFC3339Nano))
		for _, c := range res.Closest {
			trace = append(trace, c.String())
		}
	}
	s := net.Stats()
	for _, typ := range []wire.Type{wire.TypePing, wire.TypePong, wire.TypeFindNode, wire.TypeNodes} {
		trace = append(trace, typ.String(), strconv.Itoa(s.Messages[typ]), strconv.Itoa(s.Bytes[typ]))
	}
	return append(trace, strconv.Itoa(s.Lost), strconv.Itoa(s.Undelivered))
}

func TestNetworkDeterministic(t *testing.T) {
	opts := Options{Seed: 42, Loss: 0.01}
	first, second := run(t, opts), run(t, opts)
	if !slices.Equal(first, second) {
		t.Fatal("two runs with the same seed differ")
	}
	opts.Seed = 43
	if other := run(t, opts); slices.Equal(first, other) {
		t.Error("runs with different seeds are identical")
	}
}

func TestDeadNodeTimesOut(t *testing.T) {
	net := New(Options{Seed: 1})
	a, b := net.AddNode(), net.AddNode()
	net.Join(b)
	net.Join(a, b)
	net.RunFor(time.Second)
	if a.Machine.Len() != 1 || b.Machine.Len() != 1 {
		t.Fatalf("tables hold %d and %d contacts after joining, want 1 each", a.Machine.Len(), b.Machine.Len())
	}

	// b's round trip is a few milliseconds, so the request to it times out
	// after the floor of the adaptive timeout.
	net.Kill(b)
	id := net.Lookup(a, b.Contact.ID)
	timeout := a.Machine.Config().MinRequestTimeout
	net.RunFor(timeout - time.Millisecond)
	if _, done := a.Result(id); done {
		t.Fatal("lookup finished before the dead node's request timed out")
	}
	net.RunFor(time.Millisecond)
	res, done := a.Result(id)
	if !done {
		t.Fatal("lookup did not finish when the request timed out")
	}
	if res.Failed != 1 || len(res.Closest) != 0 {
		t.Errorf("lookup result: %d failed, %d closest; want 1 failed and none", res.Failed, len(res.Closest))
	}
	if net.Stats().Undelivered == 0 {
		t.Error("the request to the dead node was not counted as undelivered")
	}
}

func TestLeaveReachesContacts(t *testing.T) {
	net := New(Options{Seed: 1})
	a, b := net.AddNode(), net.AddNode()
	net.Join(b)
	net.Join(a, b)
	net.RunFor(time.Second)

	var removed []identity.NodeID
	net.opts.OnEvent = func(n *Node, ev kademlia.Event) {
		if ev.Kind == kademlia.PeerRemoved {
			removed = append(removed, ev.Peer.ID)
		}
	}
	net.Leave(b)
	net.RunFor(time.Second)
	if a.Machine.Len() != 0 || !slices.Equal(removed, []identity.NodeID{b.Contact.ID}) {
		t.Errorf("after Leave: table holds %d contacts, removed %v; want the leaver removed", a.Machine.Len(), removed)
	}
	if got := net.Stats().Messages[wire.TypeLeave]; got != 1 {
		t.Errorf("counted %d leave messages, want 1", got)
	}
}

func TestMessageLossCounted(t *testing.T) {
	net := New(Options{Seed: 3, Loss: 0.5})
	for range 10 {
		net.AddNode()
	}
	nodes := net.Nodes()
	for _, n := range nodes[1:] {
		net.Join(n, nodes[0])
	}
	net.RunFor(time.Minute)
	s := net.Stats()
	if s.Lost == 0 || s.Lost >= s.TotalMessages() {
		t.Errorf("lost %d of %d messages at 50%% loss", s.Lost, s.TotalMessages())
	}
	if s.StuckTicks != 0 || s.Invalid != 0 {
		t.Errorf("%d stuck ticks, %d invalid messages; want none", s.StuckTicks, s.Invalid)
	}
}

func TestCustomLatency(t *testing.T) {
	const delay = 40 * time.Millisecond
	net := New(Options{Seed: 1, Latency: func(_, _ *Node, _ *rand.Rand) time.Duration { return delay }})
	a, b := net.AddNode(), net.AddNode()
	net.Join(b)
	net.Join(a, b)
	net.RunFor(time.Second)

	start := net.Now()
	res, err := net.LookupWait(a, b.Contact.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Finished.Sub(start); got != 2*delay {
		t.Errorf("lookup over one link took %v, want one round trip of %v", got, 2*delay)
	}
	if p := a.Machine.Peers(); len(p) != 1 || p[0].RTT != 2*delay {
		t.Errorf("peers %v, want b with an RTT of %v", p, 2*delay)
	}
}
