package hierarchy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
)

// modeRun is what one mode measured on the comparison network.
type modeRun struct {
	perNodeMinute float64 // messages sent per live node and minute
	exact         float64 // share of lookups with exactly the true K closest
	participants  int
}

// measureMode builds 1,000 nodes in 50 groups of 20, runs ten minutes for
// the network to settle, counts every message over the next 30 minutes,
// during which nobody looks anything up, and then checks 200 lookups from
// random nodes that are not DHT participants (any node in Flat mode)
// against brute force over the DHT participants.
func measureMode(t *testing.T, mode hierarchy.Mode) modeRun {
	t.Helper()
	opts := hierarchytest.Options{Seed: 30, NoCodec: true, Config: hierarchy.Config{Mode: mode}}
	net := buildNetwork(t, opts, 50, 20)
	net.RunFor(10 * time.Minute)

	before := net.Stats().Total()
	const window = 30 * time.Minute
	net.RunFor(window)
	run := modeRun{
		perNodeMinute: float64(net.Stats().Total()-before) / float64(len(net.Live())) / window.Minutes(),
		participants:  len(net.Participants()),
	}

	const lookups = 200
	exact := 0
	for range lookups {
		from := net.Live()[net.Rand().IntN(len(net.Live()))]
		for from.Machine.IsRepresentative() {
			from = net.Live()[net.Rand().IntN(len(net.Live()))]
		}
		target := randomID(net.Rand())
		res, err := net.LookupWait(from, target, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(contactIDs(res.Closest), trueClosest(net, from, target, 20)) {
			exact++
		}
	}
	run.exact = float64(exact) / lookups
	if s := net.Stats().StuckTicks; s != 0 {
		t.Errorf("%v: %d ticks left a deadline in the past", mode, s)
	}
	return run
}

// TestFlatVersusHierarchical compares both modes on the same network:
// lookups must be as correct in both, and the hierarchy must send at most
// half the maintenance traffic of flat Kademlia.
func TestFlatVersusHierarchical(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 nodes for 40 minutes of virtual time in each mode")
	}
	flat := measureMode(t, hierarchy.Flat)
	tiered := measureMode(t, hierarchy.Hierarchical)
	ratio := tiered.perNodeMinute / flat.perNodeMinute
	t.Logf("flat: %.1f messages per node and minute, %.1f%% of lookups exact over %d participants",
		flat.perNodeMinute, 100*flat.exact, flat.participants)
	t.Logf("hierarchical: %.1f messages per node and minute, %.1f%% of lookups exact over %d representatives",
		tiered.perNodeMinute, 100*tiered.exact, tiered.participants)
	t.Logf("maintenance ratio hierarchical/flat: %.2f", ratio)

	for _, r := range []struct {
		name string
		run  modeRun
	}{{"flat", flat}, {"hierarchical", tiered}} {
		if r.run.exact < 0.99 {
			t.Errorf("%s: %.1f%% of lookups exact, want at least 99%%", r.name, 100*r.run.exact)
		}
	}
	if tiered.participants != 150 {
		t.Errorf("%d representatives in 50 groups, want 150", tiered.participants)
	}
	if ratio > 0.5 {
		t.Errorf("hierarchical sends %.2f times the maintenance messages of flat, want at most 0.5", ratio)
	}
}
