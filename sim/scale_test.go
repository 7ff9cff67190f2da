package sim

import (
	"testing"
	"time"
)

// TestTenThousandNodes builds 10,000 nodes in each mode and keeps them
// under churn. Both networks must converge, with lookups that find the
// true closest node. The hierarchy must send less maintenance traffic
// than flat Kademlia, at no worse lookup success.
func TestTenThousandNodes(t *testing.T) {
	if raceEnabled {
		// About 3.5 minutes of CPU time without the race detector, whose
		// instrumentation makes it about five times slower.
		t.Skip("10,000 simulated nodes are too slow under the race detector; run go test ./sim without -race")
	}
	opts := MaintenanceOptions{
		Build:  BuildOptions{Nodes: 10_000},
		Warmup: 2 * time.Minute, Window: 5 * time.Minute, Probes: 1000,
	}
	runs := map[Mode]MaintenanceResult{}
	for _, mode := range []Mode{Flat, Hier} {
		n := newTestNetwork(t, Config{Seed: 10_000, Mode: mode})
		res, err := Maintenance(n, opts)
		if err != nil {
			t.Fatal(err)
		}
		runs[mode] = res
		b := res.Build

		if !b.Converged {
			t.Errorf("%v: not converged %v after the last join", mode, b.End-b.LastJoin)
			continue
		}
		t.Logf("%v: converged %v after the last join", mode, b.ConvergedAt-b.LastJoin)
		last := b.Checks[len(b.Checks)-1]
		if s := last.Success(); s < 0.99 {
			t.Errorf("%v: %.2f%% of the last check's lookups found the true closest node, want 99%%", mode, 100*s)
		}
		if res.Stats.SizeMismatches != 0 {
			t.Errorf("%v: %d computed message sizes differ from the encoding", mode, res.Stats.SizeMismatches)
		}
		if res.Stats.StuckTicks != 0 {
			t.Errorf("%v: %d ticks left a deadline in the past", mode, res.Stats.StuckTicks)
		}
	}

	flat, hier := runs[Flat], runs[Hier]
	flatRate := steadyRate(&flat)
	hierRate := steadyRate(&hier)
	flatSuccess := summarize(flat.Probes).Success()
	hierSuccess := summarize(hier.Probes).Success()
	t.Logf("steady messages per node-minute: flat %.2f, hier %.2f, ratio %.3f", flatRate, hierRate, hierRate/flatRate)
	t.Logf("lookup success under churn: flat %.2f%%, hier %.2f%%", 100*flatSuccess, 100*hierSuccess)
	if hierRate >= flatRate {
		t.Errorf("hier sends %.2f messages per node-minute, flat %.2f: want less", hierRate, flatRate)
	}
	// 1,000 lookups measure a success near 99.7% to about ±0.2
	// percentage points (one standard error), so "no worse" allows half
	// a point.
	if hierSuccess < flatSuccess-0.005 {
		t.Errorf("hier lookup success %.2f%% is below flat's %.2f%%", 100*hierSuccess, 100*flatSuccess)
	}
	// Flat Kademlia is the baseline, not Yui's mode: with this seed and
	// churn it finds the true closest node in about 98.4% of lookups,
	// because a node that left is still listed in buckets until a
	// refresh evicts it. It only has to stay near that figure; the
	// hierarchy must reach 99%.
	if flatSuccess < 0.97 {
		t.Errorf("flat: %.2f%% of lookups under churn found the true closest node, want 97%%", 100*flatSuccess)
	}
	if hierSuccess < 0.99 {
		t.Errorf("hier: %.2f%% of lookups under churn found the true closest node, want 99%%", 100*hierSuccess)
	}
}

// steadyRate returns the maintenance messages per node-minute: all the
// traffic of nodes past their join period, during the window.
func steadyRate(r *MaintenanceResult) float64 {
	m, _ := classTotals(&r.Traffic, []trafficClass{classSteady})
	return m / r.NodeMinutes
}
