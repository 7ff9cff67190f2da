package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// grantJobsReader creates a "jobs" user on every node and grants it
// read access to namespace ns, owned by the first node's default user.
func grantJobsReader(ctx context.Context, t *testing.T, clients []*api.Client, ns string) {
	t.Helper()
	for _, c := range clients {
		u, err := c.CreateUser(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		g := api.Grant{User: "jobs", PublicKeys: u.PublicKeys, Right: api.RightRead}
		if err := clients[0].Grant(ctx, "", ns, g); err != nil {
			t.Fatal(err)
		}
	}
}

// columnValues returns every numeric value of each field of rows.
func columnValues(rows []sensor.Reading) map[string][]float64 {
	out := make(map[string][]float64)
	for _, r := range rows {
		for _, f := range r.Fields {
			if x, ok := f.Value.Number(); ok {
				out[f.Name] = append(out[f.Name], x)
			}
		}
	}
	return out
}

// nearestRank is the brute-force p-th percentile: sort, then take the
// value of rank ceil(p/100 × n), counting from 1.
func nearestRank(values []float64, p float64) float64 {
	s := slices.Sorted(slices.Values(values))
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// bruteHistogram counts values below edges[0], in each [edges[i-1],
// edges[i]), and at or above the last edge.
func bruteHistogram(values, edges []float64) []int64 {
	out := make([]int64, len(edges)+1)
	for _, v := range values {
		i := 0
		for i < len(edges) && v >= edges[i] {
			i++
		}
		out[i]++
	}
	return out
}

// TestJobAirQualityColumnStats runs per-column statistics over every row
// of the UCI air-quality file as a job on three nodes, and compares the
// count, sum, mean, minimum, maximum, percentiles and histograms of each
// of its 13 numeric columns with a brute-force computation over the
// rows: sorting for percentiles, one pass for histograms.
//
// The whole file takes about a minute on 2 cores, mostly to store its
// 9,357 one-hour segments, so with -short or the race detector the test
// takes its first 240 rows (10 days) instead.
func TestJobAirQualityColumnStats(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "air")
	want := 9357
	if testing.Short() || raceDetector {
		want = 240
	}
	rows := sharedReadings(t, "air-quality/AirQualityUCI.csv", want)
	if len(rows) != want {
		t.Fatalf("read %d rows of the air-quality file, want %d", len(rows), want)
	}
	began := time.Now()
	if _, err := clients[0].WriteReadings(ctx, "", "air", rows); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}
	t.Logf("wrote %d rows in %v", len(rows), time.Since(began))
	began = time.Now()

	percentiles := map[string]float64{"p0.1": 0.1, "p1": 1, "p25": 25, "p50": 50, "p90": 90, "p99": 99, "p99.9": 99.9, "p100": 100}
	aggs := []string{"count", "sum", "min", "max", "mean", "histogram"}
	for name := range percentiles {
		aggs = append(aggs, name)
	}
	every := []float64{-200, -100, 0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 1500, 2000}
	temperature := []float64{-10, 0, 5, 10, 15, 20, 25, 30, 35, 40}
	info, err := clients[0].SubmitJob(ctx, "", "air", api.JobRequest{Aggregates: aggs, SegmentsPerUnit: 16, Reader: "jobs",
		Histograms: []api.HistogramEdges{{Edges: every}, {Field: "T", Edges: temperature}}})
	if err != nil {
		t.Fatal(err)
	}
	st := waitJobDone(ctx, t, clients[0], info.ID)
	t.Logf("job of %d units done in %v", st.Units, time.Since(began))
	if st.Error != "" || len(st.Groups) != 1 {
		t.Fatalf("job error %q, %d groups; want one group and no error", st.Error, len(st.Groups))
	}
	g := st.Groups[0]
	columns := columnValues(rows)
	if g.Count != len(rows) || len(g.Fields) != 13 || len(columns) != 13 {
		t.Fatalf("job: %d rows, %d columns; brute force: %d rows, %d columns; want 13", g.Count, len(g.Fields), len(rows), len(columns))
	}
	for name, values := range columns {
		f := g.Fields[name]
		sum := new(big.Rat)
		for _, v := range values {
			sum.Add(sum, new(big.Rat).SetFloat64(v))
		}
		exact, _ := sum.Float64()
		if f.Count != len(values) || *f.Sum != exact || *f.Mean != exact/float64(len(values)) ||
			*f.Min != slices.Min(values) || *f.Max != slices.Max(values) {
			t.Errorf("column %s: count %d sum %v mean %v min %v max %v; want %d %v %v %v %v", name, f.Count, *f.Sum, *f.Mean,
				*f.Min, *f.Max, len(values), exact, exact/float64(len(values)), slices.Min(values), slices.Max(values))
		}
		for p, rank := range percentiles {
			if got, w := f.Percentiles[p], nearestRank(values, rank); got != w {
				t.Errorf("column %s %s = %v, brute force %v", name, p, got, w)
			}
		}
		edges := every
		if name == "T" {
			edges = temperature
		}
		if f.Histogram == nil || !slices.Equal(f.Histogram.Edges, edges) || !slices.Equal(f.Histogram.Counts, bruteHistogram(values, edges)) {
			t.Errorf("column %s histogram %+v, brute force %v over %v", name, f.Histogram, bruteHistogram(values, edges), edges)
		}
	}
}

// TestJobCountsRewrittenReadingsOnce writes readings, then writes an
// overlapping batch again, so that some sensor-hours have two segments
// holding the same readings. With one segment per unit a job that read
// the segments one by one would count those readings twice; the job
// must equal the query, which drops the copies, and the readings.
func TestJobCountsRewrittenReadingsOnce(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
	all := ulbReadings(t, 600)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatal(err)
	}
	// Every other reading again: the second batch's segments differ from
	// the first's, so their keys differ too.
	var again []sensor.Reading
	for i := 0; i < len(all); i += 2 {
		again = append(again, all[i])
	}
	if _, err := clients[0].WriteReadings(ctx, "", "library", again); err != nil {
		t.Fatal(err)
	}

	want, err := clients[0].Query(ctx, "", "library", api.QueryRequest{Aggregates: []string{"count"}, By: "sensor"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: []string{"count", "p50"}, By: "sensor",
		SegmentsPerUnit: 1, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitJobDone(ctx, t, clients[0], info.ID)
	perSensor := make(map[string]int)
	for _, r := range all {
		perSensor[r.Source]++
	}
	if len(st.Groups) != len(perSensor) || len(want.Groups) != len(perSensor) {
		t.Fatalf("job %d sensors, query %d, readings %d", len(st.Groups), len(want.Groups), len(perSensor))
	}
	for i, g := range st.Groups {
		if g.Count != perSensor[g.Sensor] || g.Count != want.Groups[i].Count {
			t.Errorf("sensor %s: job counts %d, query %d, readings %d", g.Sensor, g.Count, want.Groups[i].Count, perSensor[g.Sensor])
		}
	}
}

// TestJobRejectsBadSubmissions checks that a reader this node does not
// know or that has no grant, and a negative unit size, fail the
// submission at once with an error that names them.
func TestJobRejectsBadSubmissions(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := clients[0].WriteReadings(ctx, "", "library", ulbReadings(t, 50)); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].CreateUser(ctx, "stranger"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  api.JobRequest
		want string
	}{
		{"unknown reader", api.JobRequest{Aggregates: []string{"count"}, Reader: "nobody"}, `reader "nobody" is not a user of this node`},
		{"reader without grant", api.JobRequest{Aggregates: []string{"count"}, Reader: "stranger"}, `reader "stranger" cannot read`},
		{"negative unit size", api.JobRequest{Aggregates: []string{"count"}, SegmentsPerUnit: -5}, "segments per unit -5"},
		{"bad percentile", api.JobRequest{Aggregates: []string{"p0"}}, `percentile "p0"`},
	} {
		start := time.Now()
		_, err := clients[0].SubmitJob(ctx, "", "library", c.req)
		if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: SubmitJob = %v; want api.ErrInvalid containing %q", c.name, err, c.want)
		}
		t.Logf("%s: rejected after %v", c.name, time.Since(start))
	}
	if jobs, err := clients[0].Jobs(ctx); err != nil || len(jobs) != 0 {
		t.Errorf("Jobs = %v, %v; want no job from rejected submissions", jobs, err)
	}
}

// TestJobRecordSurvivesRestart runs a job, restarts all three nodes, and
// checks that the submitting node still lists the job and returns its
// result unchanged, that the record is stored in a namespace the
// submitting user alone can read, and that other nodes do not list it.
func TestJobRecordSurvivesRestart(t *testing.T) {
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")}
	nodes, clients := startTrioIn(t, dirs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
	if _, err := clients[0].WriteReadings(ctx, "", "library", ulbReadings(t, 300)); err != nil {
		t.Fatal(err)
	}
	req := api.JobRequest{Aggregates: []string{"count", "mean", "p50", "histogram"}, By: "sensor", Reader: "jobs",
		Histograms: []api.HistogramEdges{{Field: "col3", Edges: []float64{20, 22, 24}}}}
	info, err := clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	before := waitJobDone(ctx, t, clients[0], info.ID)
	if len(before.Groups) == 0 || before.Groups[0].Fields["col3"].Histogram == nil {
		t.Fatalf("job result %+v has no histogram of col3, the temperature", before.Groups)
	}
	ns, err := nodes[0].jobRecordsNamespace("")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job's result in its record", func() bool {
		var b bytes.Buffer
		if _, err := nodes[0].storage.store.Get(ctx, "", ns, jobRecordPrefix+info.ID, &b, store.GetOptions{}); err != nil {
			return false
		}
		rec, _, err := job.DecodeRecord(b.Bytes())
		return err == nil && rec.Final != nil && rec.Final.Done
	})
	var b bytes.Buffer
	if _, err := nodes[0].storage.store.Get(ctx, "jobs", ns, jobRecordPrefix+info.ID, &b, store.GetOptions{}); !errors.Is(err, store.ErrForbidden) {
		t.Errorf("another user read the job record: %v; want store.ErrForbidden", err)
	}

	for _, n := range nodes {
		n.Close()
	}
	nodes, clients = startTrioIn(t, dirs)
	var jobs []api.JobInfo
	waitFor(t, "the restarted node to list the job", func() bool {
		jobs, err = clients[0].Jobs(ctx)
		return err == nil && len(jobs) == 1
	})
	if jobs[0].ID != info.ID || jobs[0].Namespace != "library" || !jobs[0].Created.Equal(info.Created) {
		t.Errorf("after restart Jobs = %+v, want job %s of library created %v", jobs[0], info.ID, info.Created)
	}
	after, err := clients[0].Job(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(before)
	gotJSON, _ := json.Marshal(after)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("status after restart:\n%s\nwant the status before:\n%s", gotJSON, wantJSON)
	}
	if other, err := clients[1].Jobs(ctx); err != nil || len(other) != 0 {
		t.Errorf("another node lists %+v, %v; want no job", other, err)
	}
}

// startTrioIn starts three nodes in dirs, the last two bootstrapping from
// the first, and waits until each knows the others.
func startTrioIn(t *testing.T, dirs []string) ([]*Node, []*api.Client) {
	t.Helper()
	first := startLocal(t, dirs[0])
	nodes := []*Node{first, startLocal(t, dirs[1], first.Addr().String()), startLocal(t, dirs[2], first.Addr().String())}
	var clients []*api.Client
	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know the 2 others", func() bool { return len(n.Peers()) == 2 })
		clients = append(clients, api.NewClient(n.APIAddr()))
	}
	return nodes, clients
}

// TestJobGroupsByCellAndHour groups ULB readings, which carry the Intel
// lab's plane positions, by 5-metre cell and hour, and compares each
// group's readings and median temperature with a brute-force grouping.
func TestJobGroupsByCellAndHour(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
	rows := ulbReadings(t, 400)
	if _, err := clients[0].WriteReadings(ctx, "", "library", rows); err != nil {
		t.Fatal(err)
	}
	type key struct {
		column, row int64
		hour        int64
	}
	want := make(map[key][]float64)
	located := 0
	for _, r := range rows {
		if r.Location == nil || r.Location.Kind != sensor.Plane {
			continue
		}
		located++
		k := key{int64(math.Floor(r.Location.X / 5)), int64(math.Floor(r.Location.Y / 5)), r.Time.Unix() / 3600}
		v, _ := r.Get("col3")
		x, ok := v.Number()
		if !ok {
			t.Fatalf("reading %s at %v has no number in col3, the temperature", r.Source, r.Time)
		}
		want[k] = append(want[k], x)
	}
	if located != len(rows) {
		t.Fatalf("%d of %d readings have a plane location; the test needs all", located, len(rows))
	}

	info, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: []string{"count", "p50"}, By: "cell,hour",
		CellSize: 5, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitJobDone(ctx, t, clients[0], info.ID)
	if len(st.Groups) != len(want) {
		t.Fatalf("job returned %d cell-hours, brute force %d", len(st.Groups), len(want))
	}
	for _, g := range st.Groups {
		if g.Cell == nil || g.Start == nil || g.Cell.Kind != "plane" || g.Cell.Size != 5 {
			t.Fatalf("group %+v: want a plane cell of 5 m and an hour", g)
		}
		k := key{g.Cell.Column, g.Cell.Row, g.Start.Unix() / 3600}
		values := want[k]
		if g.Count != len(values) || g.Cell.Min != [2]float64{float64(k.column * 5), float64(k.row * 5)} {
			t.Errorf("cell %d,%d hour %v: %d readings, corner %v; brute force %d readings", k.column, k.row, g.Start, g.Count, g.Cell.Min, len(values))
			continue
		}
		if got, w := g.Fields["col3"].Percentiles["p50"], nearestRank(values, 50); got != w {
			t.Errorf("cell %d,%d hour %v: median %v, brute force %v", k.column, k.row, g.Start, got, w)
		}
	}
}
