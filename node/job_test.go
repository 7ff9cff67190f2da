package node

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
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
