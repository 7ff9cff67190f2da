package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/sensor"
)

// The query benchmarks store the ULB library readings replayed under
// many sensor ids on an in-process cluster of 8 nodes: real stores and
// index holders on Pebble in temporary folders, joined by the in-memory
// transport. Replay k names mote m "ulb{k}-{m}" and tags its readings
// with the text field site = "site{k}", at the original times and Intel
// lab positions; 133 replays of the 7,563 readings give 1,005,879
// readings. Set YUI_SEARCH_BENCH_REPLAYS to use fewer.
//
//	go test -run '^$' -bench BenchmarkQuery -benchtime 1000x -timeout 60m ./search/

// benchReplays is the default number of replays of the ULB file.
const benchReplays = 133

// queryBench is the cluster and data the query benchmarks share, loaded
// once per process.
var queryBench struct {
	once    sync.Once
	cluster *testCluster
	base    []sensor.Reading
	replays int
	err     error
}

func loadQueryBench(b *testing.B) *testCluster {
	if testing.Short() {
		b.Skip("stores a million readings; skipped with -short")
	}
	qb := &queryBench
	qb.once.Do(func() {
		qb.replays = benchReplays
		if v, err := strconv.Atoi(os.Getenv("YUI_SEARCH_BENCH_REPLAYS")); err == nil && v > 0 {
			qb.replays = v
		}
		// The cluster outlives this benchmark, so it must not be cleaned
		// up with it: it takes a testing.TB of its own.
		tb, err := newLastingTB(b)
		if err != nil {
			qb.err = err
			return
		}
		qb.cluster = &testCluster{t: tb, mem: transport.NewMemoryNetwork(), disk: true}
		for i := range 8 {
			qb.cluster.add(i, nil)
		}
		qb.base = loadULB(b, 1<<20)
		start := time.Now()
		qb.err = loadReplays(qb.cluster.node(0), qb.base, qb.replays)
		b.Logf("stored %d readings in %s", len(qb.base)*qb.replays, time.Since(start).Round(time.Second))
	})
	if qb.err != nil {
		b.Fatal(qb.err)
	}
	return qb.cluster
}

// lastingTB is a testing.TB for a cluster that several benchmarks share.
// Its cleanups never run and its temporary folders stay until the next
// run removes them, since the cluster lives until the process exits.
type lastingTB struct {
	testing.TB
	dir string
}

func newLastingTB(tb testing.TB) (*lastingTB, error) {
	dir := filepath.Join(os.TempDir(), "yui-query-bench")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	return &lastingTB{TB: tb, dir: dir}, os.MkdirAll(dir, 0o700)
}

func (l *lastingTB) Cleanup(func()) {}

func (l *lastingTB) TempDir() string {
	d, err := os.MkdirTemp(l.dir, "")
	if err != nil {
		l.Fatal(err)
	}
	return d
}

// loadReplays writes the replays through one node's writer, two at a
// time, each in one Write.
func loadReplays(n *testNode, base []sensor.Reading, replays int) error {
	ctx := context.Background()
	errs := make([]error, replays)
	slots := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for k := range replays {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[k] = n.writer.Write(ctx, "", "bench", replay(base, k))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func replay(base []sensor.Reading, k int) []sensor.Reading {
	out := make([]sensor.Reading, len(base))
	site := sensor.Text(fmt.Sprintf("site%d", k))
	for i, r := range base {
		r.Source = fmt.Sprintf("ulb%d-%s", k, r.Source)
		r.Fields = append(slices.Clip(r.Fields), sensor.Field{Name: "site", Value: site})
		out[i] = r
	}
	return out
}

// benchQueries runs one query per iteration, made by next from a seeded
// generator, and reports latency percentiles and readings returned.
func benchQueries(b *testing.B, next func(rng *rand.Rand) Query) {
	c := loadQueryBench(b)
	q := c.node(0).querier
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	var latencies []time.Duration
	found := 0
	for b.Loop() {
		query := next(rng)
		start := time.Now()
		rs, err := q.Query(ctx, "", query)
		latencies = append(latencies, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) == 0 {
			b.Fatalf("query %+v found nothing", query)
		}
		found += len(rs)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(found)/float64(len(latencies)), "readings/query")
}

// randomHour returns an hour-long window inside the ULB file's span.
func randomHour(rng *rand.Rand) (time.Time, time.Time) {
	base := queryBench.base
	first, last := base[0].Time, base[len(base)-1].Time
	from := first.Add(time.Duration(rng.Int64N(int64(last.Sub(first) - time.Hour))))
	return from, from.Add(time.Hour)
}

// BenchmarkQuerySensorTime queries one sensor over one hour.
func BenchmarkQuerySensorTime(b *testing.B) {
	benchQueries(b, func(rng *rand.Rand) Query {
		from, to := randomHour(rng)
		mote := queryBench.base[rng.IntN(len(queryBench.base))].Source
		return Query{Namespace: "bench", Sensor: fmt.Sprintf("ulb%d-%s", rng.IntN(queryBench.replays), mote), From: from, To: to}
	})
}

// BenchmarkQueryField queries one site, a text field that 19 sensors
// carry, over one hour.
func BenchmarkQueryField(b *testing.B) {
	benchQueries(b, func(rng *rand.Rand) Query {
		from, to := randomHour(rng)
		site := sensor.Text(fmt.Sprintf("site%d", rng.IntN(queryBench.replays)))
		return Query{Namespace: "bench", From: from, To: to, Where: []Condition{{Field: "site", Op: Equal, Value: site}}}
	})
}

// BenchmarkQueryFieldLimit queries one site with no time range for its
// first 100 readings.
func BenchmarkQueryFieldLimit(b *testing.B) {
	benchQueries(b, func(rng *rand.Rand) Query {
		site := sensor.Text(fmt.Sprintf("site%d", rng.IntN(queryBench.replays)))
		return Query{Namespace: "bench", Limit: 100, Where: []Condition{{Field: "site", Op: Equal, Value: site}}}
	})
}
