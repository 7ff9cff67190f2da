package node

import (
	"context"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestJobMatchesQueryAggregate runs a job with verify 2 on three nodes
// over real QUIC, each reading as its own "jobs" user with a read grant,
// and checks that its per-sensor aggregates equal those of a query on
// one node.
func TestJobMatchesQueryAggregate(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range clients {
		u, err := c.CreateUser(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		g := api.Grant{User: "jobs", PublicKeys: u.PublicKeys, Right: api.RightRead}
		if err := clients[0].Grant(ctx, "", "library", g); err != nil {
			t.Fatal(err)
		}
	}
	all := ulbReadings(t, 600)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}

	aggs := []string{"count", "min", "max", "mean"}
	want, err := clients[0].Query(ctx, "", "library", api.QueryRequest{Aggregates: aggs, By: "sensor"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: aggs, By: "sensor",
		Verify: 2, SegmentsPerUnit: 1, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	var st *api.JobStatus
	for st == nil || !st.Done {
		if st, err = clients[0].Job(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job not done: %+v", st)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if st.Failed != 0 || st.Committed != st.Units || st.Units == 0 {
		t.Fatalf("job status %+v, want every unit committed", st)
	}
	if len(st.Groups) != len(want.Groups) {
		t.Fatalf("job returned %d groups, the query %d", len(st.Groups), len(want.Groups))
	}
	for i, g := range st.Groups {
		w := want.Groups[i]
		if g.Sensor != w.Sensor || g.Count != w.Count || len(g.Fields) != len(w.Fields) {
			t.Fatalf("group %d: sensor %s count %d fields %d; query: sensor %s count %d fields %d",
				i, g.Sensor, g.Count, len(g.Fields), w.Sensor, w.Count, len(w.Fields))
		}
		for name, f := range g.Fields {
			wf := w.Fields[name]
			if f.Count != wf.Count || *f.Min != *wf.Min || *f.Max != *wf.Max || *f.Mean != *wf.Mean {
				t.Errorf("sensor %s field %s: job %v %v %v %v, query %v %v %v %v", g.Sensor, name,
					f.Count, *f.Min, *f.Max, *f.Mean, wf.Count, *wf.Min, *wf.Max, *wf.Mean)
			}
		}
	}

	// A job canceled at once ends canceled, unless it finished first.
	info2, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: aggs, SegmentsPerUnit: 1, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].CancelJob(ctx, info2.ID); err != nil {
		t.Fatal(err)
	}
	st2, err := clients[0].Job(ctx, info2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !st2.Canceled && !st2.Done {
		t.Errorf("job after cancel: %+v, want it canceled", st2)
	}

	jobs, err := clients[0].Jobs(ctx)
	if err != nil || len(jobs) != 2 || jobs[0].ID != info.ID || jobs[1].ID != info2.ID {
		t.Errorf("Jobs = %+v, %v; want the two jobs in order", jobs, err)
	}
	if _, err := clients[1].Job(ctx, info.ID); err == nil {
		t.Error("a node that did not submit the job reported its status")
	}
}
