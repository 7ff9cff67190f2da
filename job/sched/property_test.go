package sched

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// capable counts the workers that may run any unit.
func (c *cluster) capable() int {
	n := 0
	for _, w := range c.workers {
		if w.tier != TierLower {
			n++
		}
	}
	return n
}

func drawConfig(t *rapid.T) Config {
	return Config{
		LeaseDuration:        10 * time.Second,
		Verify:               rapid.IntRange(1, 2).Draw(t, "verify"),
		MaxAttempts:          1000, // honest workers never fail a unit
		StragglerAfter:       time.Duration(rapid.IntRange(5, 40).Draw(t, "stragglerSeconds")) * time.Second,
		SlotsPerWorker:       rapid.IntRange(1, 3).Draw(t, "slots"),
		LowerTierMaxReadings: rapid.SampledFrom([]int{0, 50, 1000}).Draw(t, "lowerMax"),
		LocalityWait: time.Duration(rapid.SampledFrom([]int{-1, 0, 1, 5, 20}).Draw(t, "waitSeconds")) *
			time.Second,
	}
}

func drawUnits(t *rapid.T) []Unit {
	sizes := rapid.SliceOfN(rapid.IntRange(0, 200), 1, 30).Draw(t, "sizes")
	return makeUnits(sizes, func(i int) []WorkerID {
		return []WorkerID{WorkerID(rapid.SampledFrom([]string{"w000", "w001", "w005", "w009"}).Draw(t, "holder"))}
	})
}

// Under random joins, leaves, stalls, heartbeats, expiries, snapshots
// and failovers to a backup, every unit's result is counted exactly once
// and the job completes while enough capable workers live.
func TestChurnCountsEachUnitOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t)
		c := newCluster(t, cfg, drawUnits(t))
		for range c.cfg.Verify {
			c.addWorker(TierUpper)
		}
		pick := func(t *rapid.T) WorkerID {
			return rapid.SampledFrom(c.ids()).Draw(t, "worker")
		}

		t.Repeat(map[string]func(*rapid.T){
			"join": func(t *rapid.T) {
				c.addWorker(rapid.SampledFrom([]Tier{TierUpper, TierMiddle, TierLower}).Draw(t, "tier"))
			},
			"leave": func(t *rapid.T) {
				id := pick(t)
				if c.workers[id].tier != TierLower && c.capable() <= c.cfg.Verify {
					t.Skip("keep enough capable workers to finish")
				}
				c.removeWorker(id)
			},
			"stall":     func(t *rapid.T) { c.workers[pick(t)].stalled = true },
			"resume":    func(t *rapid.T) { c.workers[pick(t)].stalled = false },
			"heartbeat": func(t *rapid.T) { c.heartbeat(pick(t)) },
			"complete":  func(t *rapid.T) { c.complete(pick(t), false) },
			"advance": func(t *rapid.T) {
				c.advance(time.Duration(rapid.IntRange(1, 15).Draw(t, "seconds")) * time.Second)
			},
			"snapshot": func(t *rapid.T) { c.snapshot() },
			"failover": func(t *rapid.T) { c.failover() },
			"depose": func(t *rapid.T) {
				for _, m := range c.stale {
					m.ObserveEpoch(c.mgr.Epoch())
				}
			},
		})

		c.drain(2000)
		c.checkExactlyOnce()
	})
}

// Once a backup has taken over, a worker that has heard from it refuses
// the old manager's assignments, the new manager rejects the old epoch's
// reports, and nothing the old manager commits is counted.
func TestStaleManagerRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t)
		cfg.Verify = 1
		c := newCluster(t, cfg, drawUnits(t))
		workers := rapid.IntRange(1, 5).Draw(t, "workers")
		for range workers {
			c.addWorker(TierUpper)
		}
		c.snapshot()
		old := c.mgr
		c.failover()
		if c.mgr.Epoch() != old.Epoch()+1 {
			t.Fatalf("new epoch %d after %d", c.mgr.Epoch(), old.Epoch())
		}

		// Every worker is in the snapshot, so the new manager reached all
		// that had a free slot. Make the rest hear from it too, as its
		// heartbeat replies would.
		for _, w := range c.workers {
			if err := w.fence.Admit(c.mgr.Epoch()); err != nil {
				t.Fatal(err)
			}
		}

		// The old manager runs on: its workers finish their old runs, it
		// reassigns them, and its leases expire and are handed out again.
		admittedOld := c.admitted[old.Epoch()]
		for range rapid.IntRange(1, 20).Draw(t, "rounds") {
			for _, id := range c.ids() {
				c.complete(id, false)
				if err := old.Heartbeat(c.now, id); err != nil {
					t.Fatal(err)
				}
			}
			c.advance(time.Duration(rapid.IntRange(1, 30).Draw(t, "seconds")) * time.Second)
		}
		if n := c.admitted[old.Epoch()] - admittedOld; n > 0 {
			t.Fatalf("workers admitted %d assignments of the deposed epoch %d", n, old.Epoch())
		}

		// A report of the old epoch reaches the new manager.
		err := c.mgr.HandleReport(c.now, Report{Worker: c.ids()[0], Epoch: old.Epoch(), Lease: 1, Unit: 0})
		if !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("new manager took an old-epoch report: %v", err)
		}

		c.drain(2000)
		c.checkExactlyOnce()
	})
}

// A faulty worker under Verify 2 gives results that never agree with
// anyone's. Under random joins, leaves, stalls and expiries, no unit
// keeps disagreeing results that no live worker could settle (checked
// after every event), and no wrong result commits. The job ends, and
// each unit commits once or fails for disagreeing results.
func TestFaultyWorkerUnderVerify(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t)
		cfg.Verify = 2
		cfg.MaxAttempts = rapid.IntRange(1, 6).Draw(t, "maxAttempts")
		c := newCluster(t, cfg, drawUnits(t))
		faulty := c.addWorker(TierUpper)
		c.workers[faulty].faulty = true
		for range rapid.IntRange(1, 3).Draw(t, "honest") {
			c.addWorker(TierUpper)
		}
		pick := func(t *rapid.T) WorkerID {
			return rapid.SampledFrom(c.ids()).Draw(t, "worker")
		}

		t.Repeat(map[string]func(*rapid.T){
			"join": func(t *rapid.T) {
				c.addWorker(rapid.SampledFrom([]Tier{TierUpper, TierMiddle, TierLower}).Draw(t, "tier"))
			},
			"leave": func(t *rapid.T) {
				id := pick(t)
				if id == faulty {
					t.Skip("keep the faulty worker")
				}
				c.removeWorker(id)
			},
			"stall":     func(t *rapid.T) { c.workers[pick(t)].stalled = true },
			"resume":    func(t *rapid.T) { c.workers[pick(t)].stalled = false },
			"heartbeat": func(t *rapid.T) { c.heartbeat(pick(t)) },
			"complete":  func(t *rapid.T) { c.complete(pick(t), false) },
			"advance": func(t *rapid.T) {
				c.advance(time.Duration(rapid.IntRange(1, 15).Draw(t, "seconds")) * time.Second)
			},
		})

		// Without a second capable worker, a unit too large for the
		// lower tier could never reach two results.
		if c.capable() < 2 {
			c.addWorker(TierUpper)
		}
		c.drain(2000)
		failed := c.mgr.Failed()
		for _, u := range c.units {
			n := c.ledger[u.ID]
			if slices.Contains(failed, u.ID) {
				if n != 0 {
					t.Fatalf("failed unit %d counted %d times", u.ID, n)
				}
				if r := c.mgr.FailureReason(u.ID); !strings.Contains(r, "results disagree") {
					t.Fatalf("unit %d failed with reason %q, want disagreeing results", u.ID, r)
				}
				continue
			}
			if n != 1 {
				t.Fatalf("unit %d counted %d times, want 1", u.ID, n)
			}
		}
	})
}
