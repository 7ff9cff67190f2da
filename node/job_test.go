package node

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// TestJobMatchesQueryAggregate runs a job with verify 2 on three nodes
// over real QUIC, each reading as its own "jobs" user with a read grant,
// and checks that its per-sensor aggregates equal those of a query on
// one node.
func TestJobMatchesQueryAggregate(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
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

// TestJobAirQualityColumnsByDay runs per-day statistics of every column
// of the first 240 hours of the UCI air-quality file as a job on three
// nodes and compares them with a brute-force computation over the rows.
func TestJobAirQualityColumnsByDay(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "air")
	rows := sharedReadings(t, "air-quality/AirQualityUCI.csv", 240)
	if _, err := clients[0].WriteReadings(ctx, "", "air", rows); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}

	type stats struct {
		count    int
		sum      big.Rat
		min, max float64
	}
	want := make(map[string]map[string]*stats)
	for _, r := range rows {
		day := r.Time.UTC().Truncate(24 * time.Hour).Format(time.RFC3339)
		if want[day] == nil {
			want[day] = make(map[string]*stats)
		}
		for _, f := range r.Fields {
			x, ok := f.Value.Number()
			if !ok {
				continue
			}
			s := want[day][f.Name]
			if s == nil {
				s = &stats{min: x, max: x}
				want[day][f.Name] = s
			}
			s.count++
			s.min, s.max = math.Min(s.min, x), math.Max(s.max, x)
			s.sum.Add(&s.sum, new(big.Rat).SetFloat64(x))
		}
	}

	info, err := clients[0].SubmitJob(ctx, "", "air", api.JobRequest{Aggregates: []string{"count", "sum", "min", "max", "mean"},
		By: "day", SegmentsPerUnit: 8, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitJobDone(ctx, t, clients[0], info.ID)
	if len(st.Groups) != len(want) {
		t.Fatalf("job returned %d days, the rows span %d", len(st.Groups), len(want))
	}
	columns := 0
	for _, g := range st.Groups {
		w := want[g.Start.UTC().Format(time.RFC3339)]
		if len(g.Fields) != len(w) {
			t.Fatalf("day %v: %d numeric columns, want %d", g.Start, len(g.Fields), len(w))
		}
		for name, f := range g.Fields {
			ws := w[name]
			sum, _ := ws.sum.Float64()
			if f.Count != ws.count || *f.Sum != sum || *f.Mean != sum/float64(ws.count) || *f.Min != ws.min || *f.Max != ws.max {
				t.Errorf("day %v column %s: count %d sum %v min %v max %v; want %d %v %v %v",
					g.Start, name, f.Count, *f.Sum, *f.Min, *f.Max, ws.count, sum, ws.min, ws.max)
			}
			columns++
		}
	}
	if columns < 10*len(want) {
		t.Errorf("only %d day-columns compared over %d days", columns, len(want))
	}
}

// waitJobDone polls a job until it is done with every unit committed.
func waitJobDone(ctx context.Context, t *testing.T, c *api.Client, id string) *api.JobStatus {
	t.Helper()
	for {
		st, err := c.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done {
			if st.Failed != 0 || st.Committed != st.Units {
				t.Fatalf("job status %+v, want every unit committed", st)
			}
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job not done: %+v", st)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sharedReadings imports the first n readings of a dataset file under
// shared/data/sensors, with the importer's detection.
func sharedReadings(t *testing.T, rel string, n int) []sensor.Reading {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "shared", "data", "sensors", rel)); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("shared/data/sensors/%s not found in any folder above the test", rel)
		}
	}
	var out []sensor.Reading
	stop := errors.New("enough")
	_, err = importer.ImportFile(filepath.Join(dir, "shared", "data", "sensors", rel), importer.Options{Logger: slog.New(slog.DiscardHandler)},
		func(r sensor.Reading) error {
			if len(out) == n {
				return stop
			}
			out = append(out, r)
			return nil
		})
	if err != nil && !errors.Is(err, stop) {
		t.Fatal(err)
	}
	return out
}

// TestJobFailedSubmissionCanceled makes a node give an unspecified
// address as its own, as it did when listening on every interface, so
// that a manager rejects a job whose backup is that node. It submits
// through that node until that happens: the submitter's copy as backup
// must be canceled, not left to take the job over unknown to the
// submitter.
func TestJobFailedSubmissionCanceled(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Of three IDs, one differs from both others at the first bit where
	// they do not all agree, and is the closest or the farthest from any
	// job. Either of the two others is second-closest to some jobs.
	i := submitterThatCanBeBackup(nodes)
	n := nodes[i]
	ordered := append([]*api.Client{clients[i]}, slices.Delete(slices.Clone(clients), i, i+1)...)
	grantJobsReader(ctx, t, ordered, "library")
	if _, err := clients[i].WriteReadings(ctx, "", "library", ulbReadings(t, 100)); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}
	n.self.Addr = netip.AddrPortFrom(netip.IPv6Unspecified(), n.self.Addr.Port())

	req := api.JobRequest{Aggregates: []string{"count"}, SegmentsPerUnit: 1, Reader: "jobs"}
	failed := false
	for range 50 {
		info, err := clients[i].SubmitJob(ctx, "", "library", req)
		if err != nil {
			if !strings.Contains(err.Error(), "to manager") {
				t.Fatalf("submission failed for another reason: %v", err)
			}
			failed = true
			break
		}
		if _, err := clients[i].CancelJob(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
	}
	if !failed {
		t.Fatal("no submission made the submitter the backup in 50 tries")
	}

	// A backup takes over after jobTakeOver missed pings; give it one more.
	time.Sleep((jobTakeOver + 1) * jobPingEvery)
	n.jobs.mu.Lock()
	defer n.jobs.mu.Unlock()
	for id, mj := range n.jobs.managed {
		if n.jobs.submitted[id] != nil {
			continue
		}
		mj.mu.Lock()
		canceled, role := mj.canceled, mj.role
		mj.mu.Unlock()
		if !canceled {
			t.Errorf("job %s of the failed submission is not canceled on the submitter", id)
		}
		if role == wire.JobManager {
			t.Errorf("job %s of the failed submission was taken over by the submitter", id)
		}
	}
}

// submitterThatCanBeBackup returns the index of a node whose ID shares
// its longest prefix with another node's rather than with the third.
func submitterThatCanBeBackup(nodes []*Node) int {
	best, at := -1, 0
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			if l := identity.CommonPrefixLen(nodes[i].ID(), nodes[j].ID()); l > best {
				best, at = l, i
			}
		}
	}
	return at
}
