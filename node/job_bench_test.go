package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
)

// BenchmarkJobThroughput measures jobs on 1, 2, 4 and 8 nodes in this
// process on real QUIC. The input is the ULB file R1.txt replayed
// jobBenchReplays times under new sensor ids ("r{k}-{mote}"), 30,252
// readings by default; set YUI_JOB_BENCH_REPLAYS to change it. Each
// iteration runs one job of count, min, max, mean, p50 and p99 of every
// field per sensor and hour, with each node's "jobs" user as the reader,
// and the metric is input readings per second from submission to result.
//
//	go test -run '^$' -bench BenchmarkJobThroughput -benchtime 5x -timeout 30m ./node/
func BenchmarkJobThroughput(b *testing.B) {
	replays := jobBenchReplays
	if s := os.Getenv("YUI_JOB_BENCH_REPLAYS"); s != "" {
		var err error
		if replays, err = strconv.Atoi(s); err != nil || replays < 1 {
			b.Fatalf("YUI_JOB_BENCH_REPLAYS=%q: want a positive number", s)
		}
	}
	base := ulbReadings(b, 1<<20)
	var input []sensor.Reading
	for k := range replays {
		for _, r := range base {
			r.Source = fmt.Sprintf("r%d-%s", k, r.Source)
			input = append(input, r)
		}
	}
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			client := startJobBench(b, n, input)
			req := api.JobRequest{Aggregates: []string{"count", "min", "max", "mean", "p50", "p99"}, By: "sensor,hour", Reader: "jobs"}
			b.ResetTimer()
			for range b.N {
				runBenchJob(b, client, req)
			}
			b.ReportMetric(float64(len(input)*b.N)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}

// jobBenchReplays is the default number of replays of R1.txt.
const jobBenchReplays = 4

// startJobBench starts n nodes that know each other, gives each a "jobs"
// user with read access to "library", and writes input there through
// the first. It returns the first node's client.
func startJobBench(b *testing.B, n int, input []sensor.Reading) *api.Client {
	b.Helper()
	base := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if path := os.Getenv("YUI_JOB_BENCH_LOG"); path != "" {
		// A debug log with timestamps shows where a job's time goes:
		// assignment, run and report of each unit.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		quiet = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var nodes []*Node
	for i := range n {
		var boot []string
		if i > 0 {
			boot = []string{nodes[0].Addr().String()}
		}
		nd, err := Start(context.Background(), Config{DataDir: filepath.Join(base, strconv.Itoa(i)), Listen: "127.0.0.1:0",
			API: "127.0.0.1:0", Bootstrap: boot, DiscoveryPort: -1, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, nd := range nodes {
		for len(nd.Peers()) < n-1 {
			if time.Now().After(deadline) {
				b.Fatalf("node %s knows %d peers, want %d", nd.ID().Short(), len(nd.Peers()), n-1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	owner := api.NewClient(nodes[0].APIAddr())
	if _, err := owner.WriteReadings(ctx, "", "library", input); err != nil {
		b.Fatal(err)
	}
	for _, nd := range nodes {
		u, err := api.NewClient(nd.APIAddr()).CreateUser(ctx, "jobs")
		if err != nil {
			b.Fatal(err)
		}
		g := api.Grant{User: "jobs", PublicKeys: u.PublicKeys, Right: api.RightRead}
		if err := owner.Grant(ctx, "", "library", g); err != nil {
			b.Fatal(err)
		}
	}
	return owner
}

// runBenchJob submits a job and waits until every unit committed.
func runBenchJob(b *testing.B, client *api.Client, req api.JobRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	info, err := client.SubmitJob(ctx, "", "library", req)
	if err != nil {
		b.Fatal(err)
	}
	for {
		st, err := client.Job(ctx, info.ID)
		if err != nil {
			b.Fatal(err)
		}
		if st.Done {
			if st.Failed != 0 || st.Committed != st.Units {
				b.Fatalf("job ended with %d of %d units committed, %d failed", st.Committed, st.Units, st.Failed)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
