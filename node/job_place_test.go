package node

import (
	"context"
	"github.com/yuinet/yui/network/wire"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/sensor"
)

func startAt(t *testing.T, dir, position string, bootstrap ...string) *Node {
	t.Helper()
	n, err := Start(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0",
		Bootstrap: bootstrap, DiscoveryPort: -1, Position: position,
		Logger: testLogger(t).With("dir", filepath.Base(dir))})
	if err != nil {
		t.Fatalf("start node in %s: %v", dir, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestJobReportsInClusterBytes runs a job on a node in Brussels that
// derives its cluster from the readings it ingests, a second node placed
// in Brussels and a third in Turin, over readings located in Brussels.
// Every byte a worker read is counted as inside the cluster when the
// worker is in Brussels and outside when it is in Turin.
func TestJobReportsInClusterBytes(t *testing.T) {
	base := t.TempDir()
	first := startAt(t, filepath.Join(base, "a"), "")
	nodes := []*Node{first,
		startAt(t, filepath.Join(base, "b"), "50.81,4.38", first.Addr().String()),
		startAt(t, filepath.Join(base, "c"), "45.07,7.69", first.Addr().String()),
	}
	var clients []*api.Client
	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know the 2 others", func() bool { return len(n.Peers()) == 2 })
		clients = append(clients, api.NewClient(n.APIAddr()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
	readings := ulbReadings(t, 300)
	for i := range readings {
		readings[i].Location = sensor.GeoPoint(50.85, 4.35)
	}
	if _, err := clients[0].WriteReadings(ctx, "", "library", readings); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}

	want := []string{"50.5,4.0", "50.5,4.0", "45.0,7.5"}
	for i, c := range clients {
		s, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Cluster != want[i] {
			t.Errorf("node %d is in cluster %q, want %q", i, s.Cluster, want[i])
		}
		if s.ComputeTier == "" {
			t.Errorf("node %d reports no compute tier", i)
		}
	}

	// The first node has no position, so it registers as a holder of
	// its sensors' cell once it has ingested their readings.
	waitFor(t, "the node placed by its sensors to register in their cell", func() bool {
		members, err := nodes[2].storage.store.ClusterMembers(ctx, "50.5,4.0")
		return err == nil && slices.ContainsFunc(members, func(c wire.Contact) bool { return c.ID == first.ID() })
	})

	info, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: []string{"count"},
		By: "sensor", SegmentsPerUnit: 1, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitJob(t, ctx, clients[0], info.ID)
	if st.Failed != 0 || st.Committed != st.Units || st.Units == 0 {
		t.Fatalf("job status %+v, want every unit committed", st)
	}
	l := st.Locality
	if l == nil {
		t.Fatal("job status has no locality")
	}
	if l.Unknown != 0 || l.Held == 0 {
		t.Errorf("locality %+v: want no unknown bytes, and some read on holders, since every node holds every segment", *l)
	}
	if l.Cluster+l.Remote == 0 {
		t.Errorf("locality %+v counts no bytes", *l)
	}
	if share := float64(l.Cluster) / float64(l.Cluster+l.Remote); l.InClusterShare != share {
		t.Errorf("in-cluster share %v, want %v", l.InClusterShare, share)
	}
}

func waitJob(t *testing.T, ctx context.Context, c *api.Client, id string) *api.JobStatus {
	t.Helper()
	for {
		st, err := c.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job not done: %+v", st)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestSegmentSensor(t *testing.T) {
	cases := map[string]string{
		"readings/2006-11-13T17/19581e27de7ced00-e8d1fdbca044528d": "19581e27de7ced00",
		"a-b": "a",
	}
	for key, want := range cases {
		if got, ok := segmentSensor(key); !ok || got != want {
			t.Errorf("segmentSensor(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{"", "readings/2006-11-13T17/", "he/jobs/j1/3", "readings/x/-abc"} {
		if got, ok := segmentSensor(key); ok {
			t.Errorf("segmentSensor(%q) = %q, want no sensor", key, got)
		}
	}
}

func TestSensorUnitsGroupsBySensor(t *testing.T) {
	seg := func(key string) sched.Segment { return sched.Segment{Key: key, Readings: 1} }
	units := []sched.Unit{
		{ID: 0, Segments: []sched.Segment{seg("readings/h1/aa-1"), seg("readings/h1/bb-2")}, Readings: 2},
		{ID: 1, Segments: []sched.Segment{seg("readings/h2/aa-3")}, Readings: 1},
		{ID: 2, Segments: []sched.Segment{seg("readings/h2/cc-4")}, Readings: 1},
	}
	x := newSensorUnits(units)
	if got := x.units["aa"]; !slices.Equal(got, []sched.UnitID{0, 1}) {
		t.Errorf("sensor aa is read by units %v, want [0 1]", got)
	}
	if got := x.units["cc"]; !slices.Equal(got, []sched.UnitID{2}) {
		t.Errorf("sensor cc is read by units %v, want [2]", got)
	}
}

// TestJobReadsDataInItsCell runs a job over readings located in Brussels
// on 8 nodes in Brussels and 2 in Turin, written in Brussels to a
// namespace placed by cluster and to one placed globally. With placement
// by cluster every node storing the readings is in Brussels, so every
// byte read on a node storing it is read inside the data's cluster. The
// locality of both jobs is logged for BENCHMARKS.md.
func TestJobReadsDataInItsCell(t *testing.T) {
	skipTenNodes(t)
	positions := make([]string, 10)
	for i := range positions {
		positions[i] = "50.81,4.38"
		if i >= 8 {
			positions[i] = "45.07,7.69"
		}
	}
	_, clients := startCells(t, positions)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	readings := ulbReadings(t, 300)
	for i := range readings {
		readings[i].Location = sensor.GeoPoint(50.85, 4.35)
	}

	var jobsKeys [][]byte
	for _, c := range clients {
		u, err := c.CreateUser(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		jobsKeys = append(jobsKeys, u.PublicKeys)
	}
	writer := clients[1]

	locality := make(map[string]*api.JobLocality)
	for _, ns := range []string{"local", "spread"} {
		if ns == "local" {
			if err := writer.SetPlacement(ctx, "", ns, api.PlacementCluster); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := writer.WriteReadings(ctx, "", ns, readings); err != nil {
			t.Fatalf("WriteReadings %s: %v", ns, err)
		}
		for _, keys := range jobsKeys {
			if err := writer.Grant(ctx, "", ns, api.Grant{User: "jobs", PublicKeys: keys, Right: api.RightRead}); err != nil {
				t.Fatal(err)
			}
		}
		info, err := writer.SubmitJob(ctx, "", ns, api.JobRequest{Aggregates: []string{"count"},
			By: "sensor", SegmentsPerUnit: 1, Reader: "jobs"})
		if err != nil {
			t.Fatal(err)
		}
		st := waitJob(t, ctx, writer, info.ID)
		if st.Failed != 0 || st.Committed != st.Units || st.Units == 0 || st.Locality == nil {
			t.Fatalf("%s: job status %+v, want every unit committed", ns, st)
		}
		locality[ns] = st.Locality
		t.Logf("%s: %d units, locality %+v", ns, st.Units, *st.Locality)
	}

	l := locality["local"]
	if l.Held == 0 || l.Unknown != 0 {
		t.Errorf("cluster placement: locality %+v; want bytes read on holders and none of unknown place", *l)
	}
	if l.Held > l.Cluster {
		t.Errorf("cluster placement: %d bytes read on holders, more than the %d read in the data's cluster", l.Held, l.Cluster)
	}
}
