package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

// The search benchmark stores the ULB library readings replayed under
// many sensor ids on 8 nodes on real QUIC, then measures queries. Replay
// k names mote m "ulb{k}-{m}" and tags its readings with the text field
// site = "site{k}", at the original times and Intel lab positions; 133
// replays of the 7,563 readings give 1,005,879 readings. Set
// YUI_SEARCH_BENCH_REPLAYS to use fewer.
//
//	go test -run '^$' -bench BenchmarkSearch -benchtime 1000x -timeout 60m ./node/

// benchReplays is the default number of replays of the ULB file.
const benchReplays = 133

// searchBench is the cluster and data the search benchmarks share, loaded
// once per process.
var searchBench struct {
	once    sync.Once
	nodes   []*Node
	base    []sensor.Reading
	replays int
	err     error
}

func loadSearchBench(b *testing.B) {
	if testing.Short() {
		b.Skip("loads a million readings; skipped with -short")
	}
	sb := &searchBench
	sb.once.Do(func() {
		sb.replays = benchReplays
		if v, err := strconv.Atoi(os.Getenv("YUI_SEARCH_BENCH_REPLAYS")); err == nil && v > 0 {
			sb.replays = v
		}
		sb.nodes, sb.err = startBenchCluster(8)
		if sb.err != nil {
			return
		}
		sb.base = ulbReadings(b, 1<<20)
		start := time.Now()
		var retries int
		retries, sb.err = loadReplays(sb.nodes[0], sb.base, sb.replays)
		b.Logf("stored %d readings in %s with %d writes retried", len(sb.base)*sb.replays, time.Since(start).Round(time.Second), retries)
		if sb.err == nil {
			sb.err = checkPeers(sb.nodes)
		}
	})
	if sb.err != nil {
		b.Fatal(sb.err)
	}
}

// startBenchCluster starts n upper-tier nodes on 127.0.0.1 that know one
// another. They stay up until the process exits, for the benchmarks that
// share them, so their data folders under the system's temporary folder
// are removed by the next run instead.
func startBenchCluster(n int) ([]*Node, error) {
	base := filepath.Join(os.TempDir(), "yui-search-bench")
	if err := os.RemoveAll(base); err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*Node
	for i := range n {
		cfg := Config{
			DataDir: filepath.Join(base, strconv.Itoa(i)), Listen: "127.0.0.1:0", API: "127.0.0.1:0",
			DiscoveryPort: -1, MQTT: MQTTOff, Tier: TierUpper, Logger: quiet,
		}
		if i > 0 {
			cfg.Bootstrap = []string{nodes[0].Addr().String()}
		}
		node, err := Start(context.Background(), cfg)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, node)
	}
	deadline := time.Now().Add(time.Minute)
	for _, node := range nodes {
		for len(node.Peers()) < n-1 {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("node %s knows %d peers after a minute, want %d", node.ID().Short(), len(node.Peers()), n-1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes, nil
}

// checkPeers fails when a node no longer knows every other node. Queries
// would then read postings from other holders than the writes chose, and
// find less than was stored, so the figures would mean nothing.
func checkPeers(nodes []*Node) error {
	for i, n := range nodes {
		if got := len(n.Peers()); got < len(nodes)-1 {
			return fmt.Errorf("node %d (%s) knows %d peers after the load, want %d", i, n.ID().Short(), got, len(nodes)-1)
		}
	}
	return nil
}

// loadReplays writes the replays through the node's search writer, two
// replays at a time, each in one Write. A Write that fails, as one does
// when a holder of the loaded machine misses a request timeout, is sent
// again: writes are idempotent, since keys and entries follow from the
// contents. It returns the number of retries.
func loadReplays(n *Node, base []sensor.Reading, replays int) (int, error) {
	ctx := context.Background()
	slots := make(chan struct{}, 2)
	errs := make(chan error, replays)
	var retries atomic.Int64
	var wg sync.WaitGroup
	for k := range replays {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			readings := replay(base, k)
			var err error
			for attempt := range 5 {
				if err = n.search.writer.Write(ctx, "", "bench", readings); err == nil {
					break
				}
				retries.Add(1)
				time.Sleep(time.Duration(attempt+1) * 5 * time.Second)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return int(retries.Load()), err
		}
	}
	return int(retries.Load()), nil
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
// generator, and reports the latency percentiles and readings returned.
func benchQueries(b *testing.B, next func(rng *rand.Rand) search.Query) {
	loadSearchBench(b)
	sb := &searchBench
	q := sb.nodes[0].search.querier
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

// randomWindow returns an hour-long window inside the ULB file's span.
func randomWindow(rng *rand.Rand) (time.Time, time.Time) {
	base := searchBench.base
	first, last := base[0].Time, base[len(base)-1].Time
	from := first.Add(time.Duration(rng.Int64N(int64(last.Sub(first) - time.Hour))))
	return from, from.Add(time.Hour)
}

// BenchmarkSearchSensorTime queries one sensor over one hour.
func BenchmarkSearchSensorTime(b *testing.B) {
	benchQueries(b, func(rng *rand.Rand) search.Query {
		from, to := randomWindow(rng)
		mote := searchBench.base[rng.IntN(len(searchBench.base))].Source
		return search.Query{Namespace: "bench", Sensor: fmt.Sprintf("ulb%d-%s", rng.IntN(searchBench.replays), mote), From: from, To: to}
	})
}

// BenchmarkSearchField queries one site, a text field that 19 sensors
// carry, over one hour.
func BenchmarkSearchField(b *testing.B) {
	benchQueries(b, func(rng *rand.Rand) search.Query {
		from, to := randomWindow(rng)
		site := sensor.Text(fmt.Sprintf("site%d", rng.IntN(searchBench.replays)))
		return search.Query{Namespace: "bench", From: from, To: to,
			Where: []search.Condition{{Field: "site", Op: search.Equal, Value: site}}}
	})
}

// BenchmarkSearchFieldLimit queries one site with no time range for its
// first 100 readings.
func BenchmarkSearchFieldLimit(b *testing.B) {
	benchQueries(b, func(rng *rand.Rand) search.Query {
		site := sensor.Text(fmt.Sprintf("site%d", rng.IntN(searchBench.replays)))
		return search.Query{Namespace: "bench", Limit: 100,
			Where: []search.Condition{{Field: "site", Op: search.Equal, Value: site}}}
	})
}
