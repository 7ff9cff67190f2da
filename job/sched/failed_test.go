package sched

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// drainWith lets every worker run until the job is done, like drain, but
// the workers in bad fail every run.
func (c *cluster) drainWith(bad map[WorkerID]bool, steps int) {
	for _, w := range c.workers {
		w.stalled = false
	}
	for i := 0; i < steps && !c.mgr.Done(); i++ {
		for _, id := range c.ids() {
			c.heartbeat(id)
			c.complete(id, bad[id])
		}
		c.advance(c.cfg.LeaseDuration / 3)
	}
	if !c.mgr.Done() {
		c.t.Fatalf("job not done after %d rounds: %d units open, %d workers", steps, len(c.mgr.open), len(c.workers))
	}
}

// checkNoneFailed fails unless no unit failed for good and every unit
// counts once.
func (c *cluster) checkNoneFailed() {
	if failed := c.mgr.Failed(); len(failed) > 0 {
		c.t.Fatalf("units %v failed for good while a good worker was in the job", failed)
	}
	c.checkExactlyOnce()
}

func TestFailedUnitRetriedOnSoleWorker(t *testing.T) {
	c := newCluster(t, Config{MaxAttempts: 3}, makeUnits(sizes(2, 10), noHolders))
	a := c.addWorker(TierUpper)
	for attempt := 1; attempt < 3; attempt++ {
		c.complete(a, true)
		if got := runningUnits(c.workers[a]); !slices.Equal(got, []UnitID{0}) {
			t.Fatalf("after %d failures the only worker runs %v, want unit 0 again", attempt, got)
		}
	}
	c.complete(a, true)
	if got := c.mgr.Failed(); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("failed units %v, want [0]", got)
	}
	c.complete(a, false)
	if !c.mgr.Done() {
		t.Fatal("job not done")
	}
}

func TestFailingEverywhereEnds(t *testing.T) {
	c := newCluster(t, Config{MaxAttempts: 5, SlotsPerWorker: 2}, makeUnits(sizes(7, 10), noHolders))
	bad := map[WorkerID]bool{}
	for range 3 {
		bad[c.addWorker(TierUpper)] = true
	}
	c.drainWith(bad, 200)
	if got := c.mgr.Failed(); len(got) != 7 {
		t.Fatalf("failed units %v, want all 7", got)
	}
	for i := range c.mgr.units {
		if n := c.mgr.units[i].attempts; n != 5 {
			t.Errorf("unit %d failed after %d attempts, want 5", i, n)
		}
	}
	if len(c.ledger) != 0 {
		t.Fatalf("ledger %v, want nothing committed", c.ledger)
	}
}

// The teammate's trial: the job's reader exists on one node only, so
// the others fail every unit. Each unit goes to a worker that has not
// failed it, so a unit fails on at most the three bad workers, fewer than
// MaxAttempts, and commits on the good one.
func TestOneGoodAmongBadWorkers(t *testing.T) {
	for _, slots := range []int{1, 3} {
		c := newCluster(t, Config{MaxAttempts: 5, SlotsPerWorker: slots}, makeUnits(sizes(160, 10), noHolders))
		bad := map[WorkerID]bool{}
		for range 3 {
			bad[c.addWorker(TierUpper)] = true
		}
		good := c.addWorker(TierUpper)
		c.drainWith(bad, 2000)
		c.checkNoneFailed()
		for i := range c.mgr.units {
			u := &c.mgr.units[i]
			if u.attempts > 3 {
				t.Errorf("slots %d: unit %d has %d failed attempts, want at most one per bad worker", slots, i, u.attempts)
			}
			if len(u.results) != 1 || u.results[0].worker != good {
				t.Errorf("slots %d: unit %d committed on %s, want %s", slots, i, u.results[0].worker, good)
			}
		}
	}
}

func TestFailedWorkerWaitsForOtherWorker(t *testing.T) {
	c := newCluster(t, Config{LeaseDuration: 10 * time.Second}, makeUnits(sizes(2, 10), noHolders))
	good := c.addWorker(TierUpper) // runs unit 0
	bad := c.addWorker(TierUpper)  // runs unit 1
	c.complete(bad, true)
	if got := runningUnits(c.workers[bad]); len(got) != 0 {
		t.Fatalf("worker that failed unit 1 runs %v while another may take it", got)
	}
	c.complete(good, false)
	if got := runningUnits(c.workers[good]); !slices.Equal(got, []UnitID{1}) {
		t.Fatalf("good worker runs %v, want unit 1", got)
	}

	// The good worker stalls: once it counts as dead, the unit goes back
	// to the worker that failed it.
	c.workers[good].stalled = true
	c.advance(5 * time.Second)
	c.heartbeat(bad)
	if got := runningUnits(c.workers[bad]); len(got) != 0 {
		t.Fatalf("worker that failed unit 1 runs %v before the lease expired", got)
	}
	c.advance(5 * time.Second)
	if got := runningUnits(c.workers[bad]); !slices.Equal(got, []UnitID{1}) {
		t.Fatalf("with the other worker stalled, the worker that failed unit 1 runs %v, want [1]", got)
	}
}

func TestFailedWorkerRetriesAfterOthersLeave(t *testing.T) {
	c := newCluster(t, Config{}, makeUnits(sizes(3, 10), noHolders))
	good := c.addWorker(TierUpper) // runs unit 0
	bad := c.addWorker(TierUpper)  // runs unit 1
	c.complete(bad, true)          // fails unit 1, takes unit 2
	if got := runningUnits(c.workers[bad]); !slices.Equal(got, []UnitID{2}) {
		t.Fatalf("worker that failed unit 1 runs %v, want unit 2", got)
	}
	c.complete(bad, true) // fails unit 2 and has no other unit to take
	if got := runningUnits(c.workers[bad]); len(got) != 0 {
		t.Fatalf("worker that failed units 1 and 2 runs %v while another may take them", got)
	}
	c.removeWorker(good)
	if got := runningUnits(c.workers[bad]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("after the other worker left, the remaining one runs %v, want unit 0", got)
	}
	c.complete(bad, true) // fails unit 0; every unit has failed on it
	if got := runningUnits(c.workers[bad]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("sole worker runs %v, want unit 0 again", got)
	}

	// A worker that joins takes the failed units before the one that
	// failed them gets them again.
	joined := c.addWorker(TierUpper)
	if got := runningUnits(c.workers[joined]); !slices.Equal(got, []UnitID{1}) {
		t.Fatalf("joining worker runs %v, want unit 1", got)
	}
	c.complete(bad, true) // fails unit 0 again; unit 2 is left for the joined worker
	if got := runningUnits(c.workers[bad]); len(got) != 0 {
		t.Fatalf("worker that failed every unit runs %v beside a worker that failed none", got)
	}
	c.drainWith(map[WorkerID]bool{bad: true}, 100)
	c.checkNoneFailed()
}

// A worker that failed a unit gets no copy of it when it straggles on
// another worker, because the copy would only use up an attempt.
func TestFailedWorkerGetsNoCopy(t *testing.T) {
	cfg := Config{LeaseDuration: 10 * time.Second, StragglerAfter: 20 * time.Second}
	c := newCluster(t, cfg, makeUnits(sizes(1, 10), noHolders))
	bad := c.addWorker(TierUpper)
	slow := c.addWorker(TierUpper)
	c.complete(bad, true)
	if got := runningUnits(c.workers[slow]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("other worker runs %v, want unit 0", got)
	}
	for range 6 {
		c.advance(5 * time.Second)
		c.heartbeat(slow)
		c.heartbeat(bad)
	}
	if got := runningUnits(c.workers[bad]); len(got) != 0 {
		t.Fatalf("worker that failed unit 0 runs %v, a copy of it", got)
	}
	fresh := c.addWorker(TierUpper)
	if got := runningUnits(c.workers[fresh]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("joining worker runs %v, want a copy of the straggler", got)
	}
	c.complete(fresh, false)
	c.checkExactlyOnce()
}

func TestVerifyTwoAvoidsFailedWorker(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, MaxAttempts: 3}, makeUnits(sizes(1, 10), noHolders))
	good := c.addWorker(TierUpper)
	bad := c.addWorker(TierUpper)
	third := c.addWorker(TierUpper) // idle: the unit runs on two workers
	c.complete(bad, true)
	if got := runningUnits(c.workers[third]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("third worker runs %v, want unit 0", got)
	}
	if got := runningUnits(c.workers[bad]); len(got) != 0 {
		t.Fatalf("worker that failed unit 0 runs %v", got)
	}
	c.complete(good, false)
	c.complete(third, false)
	c.checkNoneFailed()
}

// With Verify 2 and a bad worker beside a single good one, no other
// worker may give the second result, so the bad worker runs the unit
// again until it fails for good and the job ends.
func TestVerifyTwoWithOneBadWorkerEnds(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, MaxAttempts: 3}, makeUnits(sizes(1, 10), noHolders))
	good := c.addWorker(TierUpper)
	bad := c.addWorker(TierUpper)
	c.complete(good, false)
	c.drainWith(map[WorkerID]bool{bad: true}, 20)
	if got := c.mgr.Failed(); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("failed units %v, want [0]", got)
	}
	if n := c.mgr.units[0].attempts; n != 3 {
		t.Fatalf("unit 0 failed after %d attempts, want 3", n)
	}
}

// A lower-tier worker that may not run a large unit does not count as a
// worker that may take it instead.
func TestFailedWorkerIgnoresLowerTier(t *testing.T) {
	c := newCluster(t, Config{LowerTierMaxReadings: 50}, makeUnits([]int{500}, noHolders))
	bad := c.addWorker(TierUpper)
	c.addWorker(TierLower)
	c.complete(bad, true)
	if got := runningUnits(c.workers[bad]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("worker that failed the large unit runs %v, want it again", got)
	}
}

// After a takeover the new manager does not know which workers failed a
// unit, because the snapshot does not record it. A bad worker may take a
// unit it failed under the old epoch, and only the attempt count carries
// over.
func TestFailedBySetNotInSnapshot(t *testing.T) {
	c := newCluster(t, Config{MaxAttempts: 5}, makeUnits(sizes(2, 10), noHolders))
	good := c.addWorker(TierUpper) // runs unit 0
	bad := c.addWorker(TierUpper)  // runs unit 1
	c.complete(bad, true)
	c.snapshot()
	c.failover()
	if n := c.mgr.units[1].attempts; n != 1 {
		t.Fatalf("unit 1 has %d attempts after the takeover, want 1", n)
	}
	if got := runningUnits(c.workers[bad]); !slices.Contains(got, 1) && !slices.Contains(runningUnits(c.workers[good]), 1) {
		t.Fatalf("no worker runs unit 1 after the takeover")
	}
	c.drainWith(map[WorkerID]bool{bad: true}, 100)
	c.checkNoneFailed()
}

// Under random joins, leaves, stalls and heartbeats, with Verify good
// workers that stay and fewer bad workers than MaxAttempts, no unit
// fails for good and every unit counts once. Takeovers are left out
// because the failed-by sets do not survive them.
func TestBadWorkersNeverFailUnit(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t)
		cfg.MaxAttempts = rapid.IntRange(2, 5).Draw(t, "maxAttempts")
		c := newCluster(t, cfg, drawUnits(t))
		var good []WorkerID
		for range cfg.Verify {
			good = append(good, c.addWorker(TierUpper))
		}
		bad := map[WorkerID]bool{}
		addBad := func(t *rapid.T) {
			if len(bad) >= cfg.MaxAttempts-1 {
				t.Skip("keep fewer bad workers than MaxAttempts")
			}
			bad[c.addWorker(TierUpper)] = true
		}
		pickBad := func(t *rapid.T) WorkerID {
			var ids []WorkerID
			for _, id := range c.ids() {
				if bad[id] {
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				t.Skip("no bad worker in the job")
			}
			return rapid.SampledFrom(ids).Draw(t, "bad")
		}
		for range rapid.IntRange(0, cfg.MaxAttempts-1).Draw(t, "badAtStart") {
			addBad(t)
		}

		t.Repeat(map[string]func(*rapid.T){
			"join":   addBad,
			"leave":  func(t *rapid.T) { c.removeWorker(pickBad(t)) },
			"stall":  func(t *rapid.T) { c.workers[pickBad(t)].stalled = true },
			"resume": func(t *rapid.T) { c.workers[pickBad(t)].stalled = false },
			"fail":   func(t *rapid.T) { c.complete(pickBad(t), true) },
			"commit": func(t *rapid.T) { c.complete(rapid.SampledFrom(good).Draw(t, "good"), false) },
			"advance": func(t *rapid.T) {
				// The good workers stay alive: they are heard from at every
				// step.
				for _, id := range good {
					c.heartbeat(id)
				}
				c.advance(time.Duration(rapid.IntRange(1, 9).Draw(t, "seconds")) * time.Second)
				for _, id := range good {
					c.heartbeat(id)
				}
			},
			"": func(t *rapid.T) {
				if failed := c.mgr.Failed(); len(failed) > 0 {
					t.Fatalf("units %v failed for good while the good workers %v were alive", failed, good)
				}
			},
		})

		c.drainWith(bad, 4000)
		c.checkNoneFailed()
	})
}
