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

// measureMode builds groups groups of 20 nodes, runs ten minutes for the
// network to settle, and counts every message over the next window, with
// no lookups running. Then it checks lookups from random nodes that are
// not DHT participants (any node in Flat mode) against brute force over
// the DHT participants.
func measureMode(t *testing.T, mode hierarchy.Mode, groups int, window time.Duration, lookups int) modeRun {
	t.Helper()
	opts := hierarchytest.Options{Seed: 30, NoCodec: true, Config: hierarchy.Config{Mode: mode}}
	net := buildNetwork(t, opts, groups, 20)
	net.RunFor(10 * time.Minute)

	before := net.Stats().Total()
	net.RunFor(window)
	run := modeRun{
		perNodeMinute: float64(net.Stats().Total()-before) / float64(len(net.Live())) / window.Minutes(),
		participants:  len(net.Participants()),
	}

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
	run.exact = float64(exact) / float64(lookups)
	if s := net.Stats().StuckTicks; s != 0 {
		t.Errorf("%v: %d ticks left a deadline in the past", mode, s)
	}
	return run
}

// TestFlatVersusHierarchical compares both modes on the same network of
// 1,000 nodes in 50 groups of 20, over 30 minutes: lookups must be as
// correct in both, and the hierarchy must send at most half the
// maintenance traffic of flat Kademlia. Under the race detector it runs
// 300 nodes for 15 minutes instead, to keep the suite within its budget.
func TestFlatVersusHierarchical(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 nodes for 40 minutes of virtual time in each mode")
	}
	groups, window, lookups := 50, 30*time.Minute, 200
	if raceEnabled {
		groups, window, lookups = 15, 15*time.Minute, 100
	}
	flat := measureMode(t, hierarchy.Flat, groups, window, lookups)
	tiered := measureMode(t, hierarchy.Hierarchical, groups, window, lookups)
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
	if tiered.participants != 3*groups {
		t.Errorf("%d representatives in %d groups, want %d", tiered.participants, groups, 3*groups)
	}
	if ratio > 0.5 {
		t.Errorf("hierarchical sends %.2f times the maintenance messages of flat, want at most 0.5", ratio)
	}
}
