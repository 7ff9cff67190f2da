package kademliatest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
)

// lookupRound runs one lookup for a random key from every live node, one
// after another, and returns their mean virtual duration and how many
// returned exactly the K closest live nodes.
func lookupRound(t *testing.T, net *Network) (mean time.Duration, exact, total int) {
	t.Helper()
	live := net.Live()
	var sum time.Duration
	for _, from := range live {
		var target identity.NodeID
		for i := range target {
			target[i] = byte(net.Rand().Uint32())
		}
		res, err := net.LookupWait(from, target, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		sum += res.Finished.Sub(res.Started)

		want := closestLive(live, from, target, from.Machine.Config().K)
		got := make([]identity.NodeID, len(res.Closest))
		for i, c := range res.Closest {
			got[i] = c.ID
		}
		if slices.Equal(got, want) {
			exact++
		}
	}
	return sum / time.Duration(len(live)), exact, len(live)
}

// closestLive returns the IDs of the k live nodes other than from that are
// closest to target, by brute force.
func closestLive(live []*Node, from *Node, target identity.NodeID, k int) []identity.NodeID {
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

// TestSilentFailuresRecover kills 15 of 50 nodes without a Leave and runs
// rounds of lookups from the survivors, one lookup per node per round,
// one after another. The first rounds wait for dead contacts to time out.
// Once the survivors have evicted and blocked their dead contacts, they
// must neither learn them again from others nor wait for them, so from
// round settle on the mean virtual lookup time must be within 3× of the
// time before the failures. At least 99% of the lookups after the failures
// must find the true K closest live nodes.
//
// PingInterval is an hour so that the liveness pings to contacts silent
// for PingInterval, which would evict the dead ones in any case, cannot
// hide whether the lookups recover by themselves.
func TestSilentFailuresRecover(t *testing.T) {
	const nodes, dead, rounds, settle = 50, 15, 12, 4
	net := New(Options{Seed: 5, Config: kademlia.Config{PingInterval: time.Hour}})
	for range nodes {
		net.AddNode()
	}
	all := net.Nodes()
	net.Join(all[0])
	for i := 1; i < nodes; i++ {
		net.Join(all[i], all[i%min(i, 3)])
		net.RunFor(100 * time.Millisecond)
	}
	net.RunFor(time.Minute)

	baseline, exact, total := lookupRound(t, net)
	if exact != total {
		t.Fatalf("before the failures %d of %d lookups found the true closest nodes", exact, total)
	}

	for _, i := range net.Rand().Perm(nodes)[:dead] {
		net.Kill(all[i])
	}
	var means []string
	var settled time.Duration
	exact, total = 0, 0
	for r := range rounds {
		mean, e, n := lookupRound(t, net)
		means = append(means, fmt.Sprint(mean.Round(time.Millisecond)))
		exact += e
		total += n
		if r >= settle {
			settled += mean
		}
	}
	settled /= rounds - settle
	t.Logf("mean lookup time before the failures %v; per round after: %s",
		baseline.Round(time.Millisecond), strings.Join(means, " "))

	if settled > 3*baseline {
		t.Errorf("from round %d on lookups take %v on average, want at most 3× the %v before the failures",
			settle, settled.Round(time.Millisecond), baseline.Round(time.Millisecond))
	}
	if float64(exact) < 0.99*float64(total) {
		t.Errorf("after the failures %d of %d lookups found the true closest live nodes, want at least 99%%", exact, total)
	}
}
