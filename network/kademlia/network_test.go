package kademlia_test

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/kademlia/kademliatest"
)

// buildNetwork adds n nodes that join one after another, 100 ms of
// virtual time apart, each through one of the first seeds nodes, and runs
// the network for a minute so the joins' refresh lookups finish.
func buildNetwork(t testing.TB, seed uint64, n, seeds int) *kademliatest.Network {
	t.Helper()
	net := kademliatest.New(kademliatest.Options{Seed: seed})
	for range n {
		net.AddNode()
	}
	nodes := net.Nodes()
	net.Join(nodes[0])
	for i := 1; i < n; i++ {
		net.Join(nodes[i], nodes[i%min(i, seeds)])
		net.RunFor(100 * time.Millisecond)
	}
	net.RunFor(time.Minute)
	return net
}

func randomID(net *kademliatest.Network) identity.NodeID {
	var id identity.NodeID
	for i := 0; i < len(id); i += 8 {
		binary.BigEndian.PutUint64(id[i:], net.Rand().Uint64())
	}
	return id
}

// trueClosest returns the IDs of the k live nodes other than from that are
// closest to target, by brute force.
func trueClosest(live []*kademliatest.Node, from *kademliatest.Node, target identity.NodeID, k int) []identity.NodeID {
	var ids []identity.NodeID
	for _, n := range live {
		if n != from {
			ids = append(ids, n.Contact.ID)
		}
	}
	slices.SortFunc(ids, func(a, b identity.NodeID) int {
		return identity.Compare(identity.Xor(a, target), identity.Xor(b, target))
	})
	return ids[:min(k, len(ids))]
}

// lookupAccuracy runs lookups for random keys from random live nodes and
// returns the share whose result is exactly the true K closest live nodes,
// with the mean hops and messages per lookup.
func lookupAccuracy(t *testing.T, net *kademliatest.Network, keys int) (exact, hops, msgs float64) {
	t.Helper()
	live := net.Live()
	k := live[0].Machine.Config().K
	matched, totalHops := 0, 0
	before := net.Stats().TotalMessages()
	for range keys {
		from := live[net.Rand().IntN(len(live))]
		target := randomID(net)
		res, err := net.LookupWait(from, target, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]identity.NodeID, len(res.Closest))
		for i, c := range res.Closest {
			got[i] = c.ID
		}
		if slices.Equal(got, trueClosest(live, from, target, k)) {
			matched++
		}
		totalHops += res.Hops
	}
	sent := net.Stats().TotalMessages() - before
	return float64(matched) / float64(keys), float64(totalHops) / float64(keys), float64(sent) / float64(keys)
}

// TestLookupAccuracyWithChurn is the routing acceptance test. In a
// 200-node network, lookups must return the true K closest live nodes at
// least 99% of the time after the joins. The same holds after 30% of the
// nodes leave at once (half silently, half with Leave) and the survivors'
// refresh and liveness timers have run.
func TestLookupAccuracyWithChurn(t *testing.T) {
	const nodes, seeds, keys = 200, 3, 1000
	net := buildNetwork(t, 1, nodes, seeds)

	exact, hops, msgs := lookupAccuracy(t, net, keys)
	t.Logf("after join: %.1f%% exact (%d lookups), %.2f hops, %.1f messages per lookup", 100*exact, keys, hops, msgs)
	if exact < 0.99 {
		t.Errorf("after join: %.1f%% of lookups found the true closest nodes, want at least 99%%", 100*exact)
	}

	all := net.Nodes()
	for j, i := range net.Rand().Perm(nodes)[:nodes*30/100] {
		if j%2 == 0 {
			net.Kill(all[i])
		} else {
			net.Leave(all[i])
		}
	}
	cfg := all[0].Machine.Config()
	net.RunFor(max(cfg.RefreshInterval, cfg.PingInterval) + time.Minute)

	exact, hops, msgs = lookupAccuracy(t, net, keys)
	t.Logf("after churn: %.1f%% exact (%d lookups), %.2f hops, %.1f messages per lookup", 100*exact, keys, hops, msgs)
	if exact < 0.99 {
		t.Errorf("after churn: %.1f%% of lookups found the true closest nodes, want at least 99%%", 100*exact)
	}

	for _, n := range net.Live() {
		for _, p := range n.Machine.Peers() {
			if !all[peerIndex(net, p.ID)].Alive() {
				t.Errorf("node %d still holds departed node %s", n.Index, p.ID.Short())
			}
		}
	}
	if s := net.Stats(); s.StuckTicks != 0 || s.Invalid != 0 {
		t.Errorf("stats: %d stuck ticks, %d invalid messages, want none", s.StuckTicks, s.Invalid)
	}
}

func peerIndex(net *kademliatest.Network, id identity.NodeID) int {
	for _, n := range net.Nodes() {
		if n.Contact.ID == id {
			return n.Index
		}
	}
	return -1
}

var _ = kademlia.Config{}
