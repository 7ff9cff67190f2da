package sched

import (
	"slices"
	"testing"
	"time"
)

func expectRuns(t *testing.T, c *cluster, id WorkerID, want []UnitID, reason string) {
	t.Helper()
	if got := runningUnits(c.workers[id]); !slices.Equal(got, want) {
		t.Fatalf("worker %s runs %v, want %v: %s", id, got, want, reason)
	}
}

func TestOutsiderWaitsForLocalityWait(t *testing.T) {
	units := clusteredUnits([]string{"a", "a", ""}, [][]WorkerID{nil, {"h"}, nil})
	units[2].Segments[0].Holders = []WorkerID{"h"}
	c := newCluster(t, Config{LocalityWait: 5 * time.Second}, units)
	join(t, c, "in-a", TierUpper, "a") // takes unit 0 of its cluster
	join(t, c, "h", TierUpper, "b")    // takes unit 1, which it holds
	join(t, c, "far", TierUpper, "b")
	expectRuns(t, c, "far", nil, "unit 2 waits for its holder")
	if got, want := c.mgr.NextDeadline(), start.Add(5*time.Second); !got.Equal(want) {
		t.Fatalf("next deadline %v, want the end of the wait %v", got, want)
	}
	c.advance(4 * time.Second)
	expectRuns(t, c, "far", nil, "the wait is not over")
	c.advance(time.Second)
	expectRuns(t, c, "far", []UnitID{2}, "the wait is over")
}

func TestLocalWorkerTakesWaitingUnitFirst(t *testing.T) {
	units := clusteredUnits([]string{"a", "a"}, [][]WorkerID{nil, nil})
	c := newCluster(t, Config{}, units)
	join(t, c, "far", TierUpper, "b")
	join(t, c, "in-a", TierUpper, "a") // takes unit 0
	expectRuns(t, c, "far", nil, "units of a wait for a's worker")
	c.advance(time.Second)
	report(t, c, "in-a", 10, "") // and then takes unit 1
	expectRuns(t, c, "in-a", []UnitID{1}, "a freed worker takes the waiting unit of its cluster")
	expectRuns(t, c, "far", nil, "unit 1 went to its cluster's worker")
}

func TestNoLocalWorkerReleasesAtOnce(t *testing.T) {
	t.Run("holder", func(t *testing.T) {
		units := clusteredUnits([]string{"", ""}, [][]WorkerID{{"h"}, {"h"}})
		c := newCluster(t, Config{SlotsPerWorker: 2, LocalityWait: time.Minute}, units)
		join(t, c, "h", TierUpper, "")
		join(t, c, "far", TierUpper, "")
		expectRuns(t, c, "far", nil, "the holder runs both units")
		c.removeWorker("h")
		expectRuns(t, c, "far", []UnitID{0, 1}, "no holder is left in the job")
	})
	t.Run("cluster", func(t *testing.T) {
		units := clusteredUnits([]string{"a", "a"}, [][]WorkerID{nil, nil})
		c := newCluster(t, Config{LocalityWait: time.Minute}, units)
		join(t, c, "in-a", TierUpper, "a") // takes unit 0; unit 1 waits
		join(t, c, "far", TierUpper, "b")
		expectRuns(t, c, "far", nil, "unit 1 waits for a worker of a")
		c.removeWorker("in-a")
		expectRuns(t, c, "far", []UnitID{0}, "no worker of a is left in the job")
		report(t, c, "far", 10, "")
		expectRuns(t, c, "far", []UnitID{1}, "no worker of a is left in the job")
	})
	t.Run("moved", func(t *testing.T) {
		units := clusteredUnits([]string{"a", "a"}, [][]WorkerID{nil, nil})
		c := newCluster(t, Config{LocalityWait: time.Minute}, units)
		join(t, c, "in-a", TierUpper, "a") // takes unit 0; unit 1 waits
		join(t, c, "far", TierUpper, "b")
		if err := c.mgr.UpdateWorker(c.now, WorkerInfo{ID: "in-a", Tier: TierUpper, Cluster: "b"}); err != nil {
			t.Fatal(err)
		}
		c.deliver()
		expectRuns(t, c, "far", []UnitID{1}, "a's only worker moved to b")
	})
	t.Run("lost lease", func(t *testing.T) {
		// A unit whose lease is lost when its place has no other worker
		// goes to any worker at once.
		units := clusteredUnits([]string{"a", "b"}, [][]WorkerID{nil, nil})
		c := newCluster(t, Config{LocalityWait: time.Minute}, units)
		join(t, c, "in-a", TierUpper, "a")
		join(t, c, "in-b", TierUpper, "b")
		join(t, c, "far", TierUpper, "c")
		c.removeWorker("in-a")
		expectRuns(t, c, "far", []UnitID{0}, "a has no worker left")
	})
}

func TestWaitRestartsWhenLeaseLost(t *testing.T) {
	units := clusteredUnits([]string{"a", "a", "a"}, [][]WorkerID{nil, nil, nil})
	c := newCluster(t, Config{LocalityWait: 5 * time.Second}, units)
	join(t, c, "a1", TierUpper, "a") // unit 0
	join(t, c, "a2", TierUpper, "a") // unit 1
	join(t, c, "far", TierUpper, "b")
	c.advance(5 * time.Second)
	expectRuns(t, c, "far", []UnitID{2}, "unit 2 waited long enough")
	c.heartbeat("a1")
	c.heartbeat("a2")
	c.removeWorker("a1") // unit 0 waits again, for a2
	report(t, c, "far", 10, "")
	expectRuns(t, c, "far", nil, "unit 0 became pending again and waits anew")
	c.advance(4 * time.Second)
	c.heartbeat("a2")
	expectRuns(t, c, "far", nil, "unit 0's new wait is not over")
	c.advance(time.Second)
	expectRuns(t, c, "far", []UnitID{0}, "unit 0's new wait is over")
}

func TestLocalityWaitOff(t *testing.T) {
	units := clusteredUnits([]string{"a", "a"}, [][]WorkerID{nil, nil})
	c := newCluster(t, Config{LocalityWait: -1}, units)
	join(t, c, "in-a", TierUpper, "a")
	join(t, c, "far", TierUpper, "b")
	expectRuns(t, c, "far", []UnitID{1}, "the wait is off")
}
