package sched

import (
	"slices"
	"testing"
)

// clusteredUnits returns one-segment units of 10 readings whose data
// lies in the given clusters and is held by the given workers.
func clusteredUnits(clusters []string, holders [][]WorkerID) []Unit {
	units := makeUnits(sizes(len(clusters), 10), func(i int) []WorkerID { return holders[i] })
	for i := range units {
		units[i].Cluster = clusters[i]
	}
	return units
}

func join(t *testing.T, c *cluster, id WorkerID, tier Tier, cluster string) {
	t.Helper()
	c.workers[id] = &worker{id: id, tier: tier}
	if err := c.mgr.Join(c.now, WorkerInfo{ID: id, Tier: tier, Cluster: cluster}); err != nil {
		t.Fatal(err)
	}
	c.deliver()
}

func TestPendingPrefersHolderThenCluster(t *testing.T) {
	units := clusteredUnits(
		[]string{"a", "b", "a", "b", "c"},
		[][]WorkerID{nil, nil, nil, {"holder"}, nil})
	c := newCluster(t, Config{LocalityWait: -1}, units)

	join(t, c, "in-b", TierUpper, "b")
	join(t, c, "holder", TierUpper, "a")
	join(t, c, "nowhere", TierUpper, "z")
	join(t, c, "in-c", TierUpper, "c")
	join(t, c, "unknown", TierUpper, "")

	want := map[WorkerID][]UnitID{
		"in-b":    {1}, // the lowest unit of its cluster
		"holder":  {3}, // the unit it holds, before unit 0 of its cluster
		"nowhere": {0}, // no unit of its cluster: the lowest left
		"in-c":    {4},
		"unknown": {2},
	}
	for id, units := range want {
		if got := runningUnits(c.workers[id]); !slices.Equal(got, units) {
			t.Errorf("worker %s runs %v, want %v", id, got, units)
		}
	}
}

func TestLowerTierPrefersClusterAmongSmall(t *testing.T) {
	units := clusteredUnits([]string{"a", "b", "b"}, [][]WorkerID{nil, nil, nil})
	units[1].Readings, units[1].Segments[0].Readings = 500, 500
	c := newCluster(t, Config{LowerTierMaxReadings: 50}, units)
	join(t, c, "mid", TierMiddle, "z") // takes unit 0
	join(t, c, "weak", TierLower, "b")
	if got := runningUnits(c.workers["weak"]); !slices.Equal(got, []UnitID{2}) {
		t.Fatalf("lower-tier worker of cluster b runs %v, want the small unit of b [2]", got)
	}
}

func TestUpdateWorkerAppliesTier(t *testing.T) {
	units := makeUnits([]int{500, 500}, noHolders)
	c := newCluster(t, Config{}, units)
	join(t, c, "mid", TierMiddle, "") // takes unit 0
	join(t, c, "w", TierLower, "")
	if got := runningUnits(c.workers["w"]); len(got) != 0 {
		t.Fatalf("lower-tier worker runs %v, want none", got)
	}
	if err := c.mgr.UpdateWorker(c.now, WorkerInfo{ID: "w", Tier: TierMiddle}); err != nil {
		t.Fatal(err)
	}
	c.deliver()
	if got := runningUnits(c.workers["w"]); !slices.Equal(got, []UnitID{1}) {
		t.Fatalf("worker raised to the middle tier runs %v, want [1]", got)
	}
	if err := c.mgr.UpdateWorker(c.now, WorkerInfo{ID: "gone"}); err == nil {
		t.Fatal("update of an unknown worker succeeded")
	}
}

// report makes worker id finish its oldest run, having read n bytes of
// data it found in dataCluster.
func report(t *testing.T, c *cluster, id WorkerID, n int64, dataCluster string) {
	t.Helper()
	w := c.workers[id]
	a := w.running[0]
	w.running = w.running[1:]
	r := Report{Worker: id, Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID, Result: resultOf(a.Unit.ID),
		Bytes: n, DataCluster: dataCluster}
	if err := c.mgr.HandleReport(c.now, r); err != nil {
		t.Fatal(err)
	}
	c.deliver()
}

func TestLocalityCountsCommittedBytes(t *testing.T) {
	units := clusteredUnits(
		[]string{"b", "b", "c", "a", "c"},
		[][]WorkerID{{"h"}, nil, nil, nil, nil})
	c := newCluster(t, Config{LocalityWait: -1}, units)
	join(t, c, "h", TierUpper, "b") // holds unit 0 of its cluster
	join(t, c, "x", TierUpper, "b") // takes unit 1 of its cluster
	join(t, c, "y", TierUpper, "a") // takes unit 3 of its cluster
	join(t, c, "z", TierUpper, "")  // of no known cluster, takes unit 2

	report(t, c, "h", 100, "")  // held in the cluster; h then takes unit 4 of cluster c
	report(t, c, "x", 20, "")   // in the data's cluster
	report(t, c, "y", 3, "")    // in the data's cluster
	report(t, c, "z", 7, "")    // unknown
	report(t, c, "h", 4000, "") // outside the cluster

	want := Locality{Cluster: 123, Remote: 4000, Unknown: 7, Held: 100}
	if got := c.mgr.Locality(); got != want {
		t.Fatalf("locality %+v, want %+v", got, want)
	}
	if got := want.Share(); got != 123.0/4130 {
		t.Errorf("share %v, want 123/4130", got)
	}

	snap, err := c.mgr.Snapshot().Encode()
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Restore(c.cfg, s, 2, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Locality(); got != want {
		t.Errorf("restored locality %+v, want %+v", got, want)
	}
}

func TestLocalityTakesWorkerDataCluster(t *testing.T) {
	c := newCluster(t, Config{}, clusteredUnits([]string{""}, [][]WorkerID{nil}))
	join(t, c, "w", TierUpper, "k")
	report(t, c, "w", 50, "k")
	if got, want := c.mgr.Locality(), (Locality{Cluster: 50}); got != want {
		t.Fatalf("locality %+v, want %+v", got, want)
	}
}

func TestLocalityVerifyCountsAgreeingRuns(t *testing.T) {
	c := newCluster(t, Config{Verify: 2, LocalityWait: -1}, clusteredUnits([]string{"a"}, [][]WorkerID{nil}))
	join(t, c, "p", TierUpper, "a")
	join(t, c, "q", TierUpper, "b")
	report(t, c, "p", 10, "")
	report(t, c, "q", 10, "")
	if got, want := c.mgr.Locality(), (Locality{Cluster: 10, Remote: 10}); got != want {
		t.Fatalf("locality %+v, want %+v", got, want)
	}
}

func TestLocalityHeldOutsideCluster(t *testing.T) {
	c := newCluster(t, Config{}, clusteredUnits([]string{"a"}, [][]WorkerID{{"h"}}))
	join(t, c, "h", TierUpper, "b")
	report(t, c, "h", 30, "")
	if got, want := c.mgr.Locality(), (Locality{Remote: 30, Held: 30}); got != want {
		t.Fatalf("locality %+v, want %+v: a holder outside the data's cluster reads outside it", got, want)
	}
}

func TestSetUnitClusterSteersLaterRuns(t *testing.T) {
	c := newCluster(t, Config{}, clusteredUnits([]string{"", "", ""}, [][]WorkerID{nil, nil, nil}))
	if err := c.mgr.SetUnitCluster(2, "k"); err != nil {
		t.Fatal(err)
	}
	if err := c.mgr.SetUnitCluster(2, "other"); err != nil {
		t.Fatal(err)
	}
	join(t, c, "in-k", TierUpper, "k")
	if got := runningUnits(c.workers["in-k"]); !slices.Equal(got, []UnitID{2}) {
		t.Fatalf("worker of cluster k runs %v, want unit 2, set to its cluster", got)
	}
	if got := c.mgr.Snapshot().Units[2].Cluster; got != "k" {
		t.Errorf("snapshot gives unit 2 cluster %q, want k, the first one set", got)
	}
	if err := c.mgr.SetUnitCluster(3, "k"); err == nil {
		t.Error("cluster of unit 3 of 3 set")
	}
}
