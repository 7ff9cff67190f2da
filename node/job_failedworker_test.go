package node

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestJobReaderOnOneNode runs a job whose reader exists on the first
// node only, over real QUIC, so that every other node fails each unit it
// runs with a permission error until the manager leaves it out. Each
// unit must still commit, on the first node, and the job's counts must
// equal a query's.
//
// With three nodes the two failing ones use at most 4 of a unit's 5
// attempts before they are left out, even when each takes a unit it
// failed again at once. With four, as in the trial that found the fault,
// a unit could fail for good before the scheduler gave a failed unit to
// another worker first. The interleaving that does it is rare, and this
// test passed three runs without that rule. The job/sched tests
// TestOneGoodAmongBadWorkers and TestBadWorkersNeverFailUnit cover it
// deterministically.
func TestJobReaderOnOneNode(t *testing.T) {
	for _, n := range []int{3, 4} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) { runJobReaderOnOneNode(t, n) })
	}
}

func runJobReaderOnOneNode(t *testing.T, n int) {
	nodes, clients := startTrio(t)
	for len(nodes) < n {
		nodes = append(nodes, startLocal(t, filepath.Join(t.TempDir(), "extra"), nodes[0].Addr().String()))
		clients = append(clients, api.NewClient(nodes[len(nodes)-1].APIAddr()))
	}
	for _, nd := range nodes {
		waitFor(t, nd.ID().Short()+" to know the others", func() bool { return len(nd.Peers()) == n-1 })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	u, err := clients[0].CreateUser(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	g := api.Grant{User: "jobs", PublicKeys: u.PublicKeys, Right: api.RightRead}
	if err := clients[0].Grant(ctx, "", "library", g); err != nil {
		t.Fatal(err)
	}
	rows := ulbReadings(t, 5000)
	if _, err := clients[0].WriteReadings(ctx, "", "library", rows); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}
	aggs := []string{"count", "min", "max", "mean"}
	want, err := clients[0].Query(ctx, "", "library", api.QueryRequest{Aggregates: aggs, By: "sensor"})
	if err != nil {
		t.Fatal(err)
	}

	info, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: aggs, By: "sensor",
		SegmentsPerUnit: 1, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitJobDone(ctx, t, clients[0], info.ID)
	t.Logf("%d units, %d workers left out, last error %q", st.Units, st.LeftOut, st.LeftOutError)
	if st.LeftOut != n-1 {
		t.Errorf("%d workers left out, want the %d without the reader", st.LeftOut, n-1)
	}
	if len(st.Groups) != len(want.Groups) {
		t.Fatalf("job returned %d groups, the query %d", len(st.Groups), len(want.Groups))
	}
	for i, gr := range st.Groups {
		w := want.Groups[i]
		if gr.Sensor != w.Sensor || gr.Count != w.Count {
			t.Errorf("group %d: sensor %s count %d; query: sensor %s count %d", i, gr.Sensor, gr.Count, w.Sensor, w.Count)
		}
		for name, f := range gr.Fields {
			wf := w.Fields[name]
			if f.Count != wf.Count || *f.Min != *wf.Min || *f.Max != *wf.Max || *f.Mean != *wf.Mean {
				t.Errorf("sensor %s field %s: job %v %v %v %v, query %v %v %v %v", gr.Sensor, name,
					f.Count, *f.Min, *f.Max, *f.Mean, wf.Count, *wf.Min, *wf.Max, *wf.Mean)
			}
		}
	}
}
