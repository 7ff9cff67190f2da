package sched

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSplitKeepsSegmentsWhole(t *testing.T) {
	segs := []Segment{
		{Key: "a", Readings: 40}, {Key: "b", Readings: 50}, {Key: "c", Readings: 20},
		{Key: "d", Readings: 250}, {Key: "e", Readings: 0}, {Key: "f", Readings: 100},
	}
	units, err := Split(segs, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b"}, {"c"}, {"d"}, {"e", "f"}}
	if len(units) != len(want) {
		t.Fatalf("%d units, want %d: %+v", len(units), len(want), units)
	}
	for i, u := range units {
		var keys []string
		sum := 0
		for _, s := range u.Segments {
			keys = append(keys, s.Key)
			sum += s.Readings
		}
		if !slices.Equal(keys, want[i]) {
			t.Errorf("unit %d holds %v, want %v", i, keys, want[i])
		}
		if u.ID != UnitID(i) || u.Readings != sum {
			t.Errorf("unit %d has ID %d and %d readings, want %d", i, u.ID, u.Readings, sum)
		}
	}
}

func TestSplitRejects(t *testing.T) {
	if _, err := Split(nil, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("unit size 0: error %v, want ErrInvalid", err)
	}
	if _, err := Split([]Segment{{Key: "x", Readings: -1}}, 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative readings: error %v, want ErrInvalid", err)
	}
}

func sizes(n, readings int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = readings
	}
	return s
}

func noHolders(int) []WorkerID { return nil }

func runningUnits(w *worker) []UnitID {
	var ids []UnitID
	for _, a := range w.running {
		ids = append(ids, a.Unit.ID)
	}
	return ids
}

func TestJoiningWorkerGetsUnitAtOnce(t *testing.T) {
	c := newCluster(t, Config{SlotsPerWorker: 2}, makeUnits(sizes(5, 10), noHolders))
	a := c.addWorker(TierUpper)
	if got := runningUnits(c.workers[a]); !slices.Equal(got, []UnitID{0, 1}) {
		t.Fatalf("first worker runs %v, want [0 1]", got)
	}
	b := c.addWorker(TierMiddle)
	if got := runningUnits(c.workers[b]); !slices.Equal(got, []UnitID{2, 3}) {
		t.Fatalf("second worker runs %v, want [2 3]", got)
	}
}

func TestLeavingWorkerUnitsReassigned(t *testing.T) {
	c := newCluster(t, Config{}, makeUnits(sizes(3, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	c.complete(b, false) // b finishes unit 1 and takes unit 2
	c.removeWorker(b)
	c.complete(a, false) // a finishes unit 0 and takes unit 2
	if got := runningUnits(c.workers[a]); !slices.Equal(got, []UnitID{2}) {
		t.Fatalf("remaining worker runs %v, want [2]", got)
	}
	c.drain(100)
	c.checkExactlyOnce()
}

// A worker that stops heartbeating loses its lease at the deadline, and
// its unit goes to another worker. Its late result is dropped once the
// unit has committed.
func TestStalledWorkerLeaseExpires(t *testing.T) {
	c := newCluster(t, Config{LeaseDuration: 10 * time.Second}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	if len(c.workers[b].running) != 0 {
		t.Fatal("second worker got a unit while the only one was running")
	}
	c.workers[a].stalled = true
	c.advance(5 * time.Second)
	c.heartbeat(b)
	if len(c.workers[b].running) != 0 {
		t.Fatal("unit reassigned before its lease expired")
	}
	c.advance(5 * time.Second)
	if got := runningUnits(c.workers[b]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("after expiry the live worker runs %v, want [0]", got)
	}
	c.complete(b, false)
	c.workers[a].stalled = false
	c.complete(a, false) // the late result of the stalled worker
	c.checkExactlyOnce()
}

// A late result from an expired lease counts when the unit has not
// committed in the meantime.
func TestLateResultCounts(t *testing.T) {
	c := newCluster(t, Config{LeaseDuration: 10 * time.Second}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	c.workers[a].stalled = true
	c.advance(10 * time.Second)
	c.workers[a].stalled = false
	c.complete(a, false)
	c.checkExactlyOnce()
	if !c.mgr.Done() {
		t.Fatal("job not done after the late result")
	}
}

func TestStragglerGetsCopy(t *testing.T) {
	cfg := Config{LeaseDuration: 10 * time.Second, StragglerAfter: 20 * time.Second}
	c := newCluster(t, cfg, makeUnits(sizes(2, 10), noHolders))
	slow := c.addWorker(TierUpper)
	fast := c.addWorker(TierUpper)
	c.complete(fast, false) // unit 1 done; nothing pending, fast is idle
	if len(c.workers[fast].running) != 0 {
		t.Fatal("idle worker got a copy before the unit became a straggler")
	}
	if next := c.mgr.NextDeadline(); !next.Equal(start.Add(10 * time.Second)) {
		t.Fatalf("next deadline %v, want the lease deadline", next.Sub(start))
	}
	for range 4 {
		c.advance(5 * time.Second)
		c.heartbeat(slow)
		c.heartbeat(fast)
	}
	if got := runningUnits(c.workers[fast]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("idle worker runs %v, want a copy of unit 0", got)
	}
	c.complete(fast, false)
	if got := c.workers[slow].running; len(got) != 0 {
		t.Fatalf("the straggler's lease was not revoked: %v", got)
	}
	c.checkExactlyOnce()
}

func TestVerifyTwoNeedsAgreement(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, MaxAttempts: 5}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	b := c.addWorker(TierUpper)
	third := c.addWorker(TierUpper)
	if len(c.workers[a].running) != 1 || len(c.workers[b].running) != 1 {
		t.Fatal("verify 2 did not give the unit to both workers")
	}
	if len(c.workers[third].running) != 0 {
		t.Fatal("a third worker got the unit before the results disagreed")
	}

	// b lies: its result differs from a's.
	c.lie(b)
	c.complete(a, false)
	if c.mgr.Done() || len(c.ledger) != 0 {
		t.Fatal("unit committed on disagreeing results")
	}

	if len(c.workers[third].running) != 1 {
		t.Fatal("a third worker did not get the disputed unit")
	}
	if len(c.workers[a].running) != 0 || len(c.workers[b].running) != 0 {
		t.Fatal("a worker that gave a result runs the unit again while a third one may break the tie")
	}
	c.complete(third, false)
	c.checkExactlyOnce()
}

func TestVerifyUsesDistinctWorkers(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, SlotsPerWorker: 4}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	if got := runningUnits(c.workers[a]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("one worker runs %v, want unit 0 once", got)
	}
	c.complete(a, false)
	if c.mgr.Done() {
		t.Fatal("one worker's result committed a unit that needs two")
	}
	c.addWorker(TierUpper)
	c.drain(10)
	c.checkExactlyOnce()
}

func TestLowerTierGetsSmallUnits(t *testing.T) {
	units := makeUnits([]int{500, 500, 500, 500, 500, 20, 500, 30}, noHolders)
	c := newCluster(t, Config{SlotsPerWorker: 4, LowerTierMaxReadings: 50}, units)
	c.addWorker(TierUpper) // takes units 0 to 3
	small := c.addWorker(TierLower)
	if got := runningUnits(c.workers[small]); !slices.Equal(got, []UnitID{5, 7}) {
		t.Fatalf("lower-tier worker runs %v, want the small units [5 7]", got)
	}

	c = newCluster(t, Config{}, units)
	c.addWorker(TierMiddle)
	none := c.addWorker(TierLower)
	if got := runningUnits(c.workers[none]); len(got) != 0 {
		t.Fatalf("lower-tier worker runs %v with LowerTierMaxReadings 0", got)
	}
}

func TestLowerTierAloneTakesAnyUnit(t *testing.T) {
	units := makeUnits([]int{500, 500}, noHolders)
	c := newCluster(t, Config{}, units)
	mid := c.addWorker(TierMiddle)
	weak := c.addWorker(TierLower)
	if got := runningUnits(c.workers[weak]); len(got) != 0 {
		t.Fatalf("lower-tier worker runs %v beside a middle-tier one", got)
	}
	c.removeWorker(mid)
	if got := runningUnits(c.workers[weak]); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("lower-tier worker left alone runs %v, want [0]", got)
	}
	c.drain(10)
	c.checkExactlyOnce()
}

func TestUnitsGoToDataHolders(t *testing.T) {
	units := makeUnits(sizes(4, 10), func(i int) []WorkerID {
		return []WorkerID{[]WorkerID{"w000", "w001", "w001", "w000"}[i]}
	})
	c := newCluster(t, Config{SlotsPerWorker: 2}, units)
	c.addWorker(TierUpper) // w000
	if got := runningUnits(c.workers["w000"]); !slices.Equal(got, []UnitID{0, 3}) {
		t.Fatalf("w000 runs %v, want the units it holds [0 3]", got)
	}
}

func TestFailedRunsFailUnit(t *testing.T) {
	c := newCluster(t, Config{MaxAttempts: 2}, makeUnits(sizes(2, 10), noHolders))
	a := c.addWorker(TierUpper)
	c.complete(a, true) // unit 0 fails once and is run again
	c.complete(a, true) // unit 0 fails for good
	c.complete(a, false)
	if !c.mgr.Done() {
		t.Fatal("job not done after a unit used its attempts")
	}
	if got := c.mgr.Failed(); !slices.Equal(got, []UnitID{0}) {
		t.Fatalf("failed units %v, want [0]", got)
	}
	if c.ledger[0] != 0 || c.ledger[1] != 1 {
		t.Fatalf("ledger %v, want only unit 1", c.ledger)
	}
}

func TestReportRejects(t *testing.T) {
	c := newCluster(t, Config{}, makeUnits(sizes(1, 10), noHolders))
	a := c.addWorker(TierUpper)
	l := c.workers[a].running[0]
	cases := []struct {
		name string
		r    Report
		err  error
	}{
		{"older epoch", Report{Worker: a, Epoch: 0, Lease: l.Lease, Unit: 0}, ErrStaleEpoch},
		{"unknown lease", Report{Worker: a, Epoch: 1, Lease: 99, Unit: 0}, ErrUnknownLease},
		{"other worker", Report{Worker: "w999", Epoch: 1, Lease: l.Lease, Unit: 0}, ErrUnknownLease},
		{"other unit", Report{Worker: a, Epoch: 1, Lease: l.Lease, Unit: 5}, ErrUnknownLease},
	}
	for _, tc := range cases {
		if err := c.mgr.HandleReport(c.now, tc.r); !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
		}
	}
	if err := c.mgr.HandleReport(c.now, Report{Worker: a, Epoch: 2, Lease: l.Lease, Unit: 0}); !errors.Is(err, ErrDeposed) {
		t.Errorf("newer epoch: error %v, want ErrDeposed", err)
	}
	if err := c.mgr.AddWorker(c.now, "late", TierUpper); !errors.Is(err, ErrDeposed) {
		t.Errorf("deposed manager took a worker: %v", err)
	}
}

func TestRestoreRejectsOldEpoch(t *testing.T) {
	m, err := New(Config{}, 3, makeUnits(sizes(1, 1), noHolders))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(Config{}, m.Snapshot(), 3, start); !errors.Is(err, ErrInvalid) {
		t.Fatalf("restore at the snapshot's own epoch: error %v, want ErrInvalid", err)
	}
}

func TestFenceRejectsOlderEpoch(t *testing.T) {
	var f Fence
	for _, e := range []uint64{1, 1, 3} {
		if err := f.Admit(e); err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
	}
	if err := f.Admit(2); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("epoch 2 after 3: error %v, want ErrStaleEpoch", err)
	}
	if f.Epoch() != 3 {
		t.Fatalf("fence at epoch %d, want 3", f.Epoch())
	}
}
