package sched

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// lie makes worker id finish its oldest run with a wrong result of its
// own, as a faulty worker or a transient difference would.
func (c *cluster) lie(id WorkerID) {
	w := c.workers[id]
	w.faulty = true
	c.complete(id, false)
	w.faulty = false
}

func TestDisagreeingPairFails(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, MaxAttempts: 3}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	for round := 1; round <= 3; round++ {
		if got := runningUnits(c.workers[a]); !slices.Equal(got, []UnitID{0}) {
			t.Fatalf("round %d: worker a runs %v, want unit 0", round, got)
		}
		if got := runningUnits(c.workers[b]); !slices.Equal(got, []UnitID{0}) {
			t.Fatalf("round %d: worker b runs %v, want unit 0", round, got)
		}
		c.complete(a, false)
		c.lie(b)
	}
	if !c.mgr.Done() {
		t.Fatalf("job not done after 3 rounds of disagreeing results: %d units open", len(c.mgr.open))
	}
	if got := c.mgr.Failed(); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("failed units %v, want [0]", got)
	}
	if n := c.mgr.units[0].attempts; n != 3 {
		t.Errorf("unit failed after %d attempts, want 3", n)
	}
	if len(c.ledger) != 0 {
		t.Fatalf("ledger %v, want nothing committed", c.ledger)
	}
	reason := c.mgr.FailureReason(0)
	for _, want := range []string{"results disagree", "workers " + string(a) + " and " + string(b), "3 attempts"} {
		if !strings.Contains(reason, want) {
			t.Errorf("failure reason %q does not contain %q", reason, want)
		}
	}
}

func TestDisagreeOnceThenCommit(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, MaxAttempts: 3}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	c.lie(b)
	c.complete(a, false)
	if c.mgr.Done() {
		t.Fatal("job done on disagreeing results")
	}
	c.complete(a, false)
	c.complete(b, false)
	if !c.mgr.Done() {
		t.Fatal("job not done after the rerun agreed")
	}
	if got := c.mgr.Failed(); len(got) != 0 {
		t.Fatalf("failed units %v, want none", got)
	}
	if n := c.mgr.units[0].attempts; n != 1 {
		t.Errorf("unit used %d attempts, want 1", n)
	}
	if r := c.mgr.FailureReason(0); r != "" {
		t.Errorf("committed unit has failure reason %q", r)
	}
	c.checkExactlyOnce()
}

func TestDisputeThirdWorkerLeaves(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, MaxAttempts: 3}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	third := c.addWorker(TierUpper)
	c.lie(b)
	c.complete(a, false)
	if got := runningUnits(c.workers[third]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("third worker runs %v, want unit 0 to break the tie", got)
	}
	c.removeWorker(third)
	if got := runningUnits(c.workers[a]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("after the third worker left, worker a runs %v, want unit 0 again", got)
	}
	if got := runningUnits(c.workers[b]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("after the third worker left, worker b runs %v, want unit 0 again", got)
	}
	c.drain(10)
	c.checkExactlyOnce()
	if n := c.mgr.units[0].attempts; n != 1 {
		t.Errorf("unit used %d attempts, want 1", n)
	}
}

func TestDisputeThirdWorkerStalls(t *testing.T) {
	cfg := Config{Verify: 2, MaxAttempts: 3, LeaseDuration: 10 * time.Second}
	c := newCluster(t, cfg, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	third := c.addWorker(TierUpper)
	c.lie(b)
	c.complete(a, false)
	c.workers[third].stalled = true
	if next := c.mgr.NextDeadline(); !next.Equal(c.now.Add(10 * time.Second)) {
		t.Fatalf("next deadline in %v, want the third worker's lease deadline in 10s", next.Sub(c.now))
	}
	for range 2 {
		c.advance(5 * time.Second)
		c.heartbeat(a)
		c.heartbeat(b)
	}
	if got := runningUnits(c.workers[a]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("after the third worker stalled, worker a runs %v, want unit 0 again", got)
	}
	c.complete(a, false)
	c.complete(b, false)
	if !c.mgr.Done() {
		t.Fatal("job not done after the rerun agreed")
	}
	c.checkExactlyOnce()
}

// A round of Verify 3 cut short by leaving workers counts one attempt,
// and the unit then waits for enough workers as a new job would.
func TestDisputeShortRoundCounts(t *testing.T) {
	c := newCluster(t, Config{Verify: 3, MaxAttempts: 3}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	third := c.addWorker(TierUpper)
	c.lie(b)
	c.complete(a, false)
	c.removeWorker(third)
	if n := c.mgr.units[0].attempts; n != 1 {
		t.Fatalf("unit used %d attempts after a round cut short, want 1", n)
	}
	if len(c.mgr.units[0].results) != 0 {
		t.Fatalf("unit keeps %d results that cannot agree", len(c.mgr.units[0].results))
	}
	c.complete(a, false)
	c.complete(b, false)
	if c.mgr.Done() {
		t.Fatal("unit committed on two results with verify 3")
	}
	c.addWorker(TierUpper)
	c.drain(10)
	c.checkExactlyOnce()
}

// Digests that differ dispute a unit like results that differ.
func TestDisputeByDigest(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, MaxAttempts: 2}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	for round := 1; round <= 2; round++ {
		for _, id := range []WorkerID{a, b} {
			run := c.workers[id].running[0]
			c.workers[id].running = c.workers[id].running[1:]
			err := c.mgr.HandleReport(c.now, Report{Worker: id, Epoch: run.Epoch, Lease: run.Lease, Unit: run.Unit.ID,
				Result: resultOf(run.Unit.ID), Digest: []byte("digest of " + string(id))})
			if err != nil {
				t.Fatal(err)
			}
			c.deliver()
		}
	}
	if got := c.mgr.Failed(); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("failed units %v, want [0] after equal results with different digests", got)
	}
}
