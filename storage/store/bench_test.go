package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

var benchSizes = []int{100, 64 << 10, 64 << 20}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPebbleBaseline writes each value once to one local Pebble
// store, synced, with no chunking, coding or network: the floor for
// BenchmarkPut on the same file system.
func BenchmarkPebbleBaseline(b *testing.B) {
	for _, fs := range []string{"mem", "disk"} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("fs=%s/%s", fs, sizeName(size)), func(b *testing.B) {
				benchPebble(b, fs, size)
			})
		}
	}
}

func benchPebble(b *testing.B, fs string, size int) {
	opts := &pebble.Options{Logger: pebbleQuiet{}}
	dir := b.TempDir()
	if fs == "mem" {
		opts.FS, dir = vfs.NewMem(), ""
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := testValue(size, 1)
	b.SetBytes(int64(size))
	i := 0
	for b.Loop() {
		i++
		if err := db.Set(fmt.Appendf(nil, "k%d", i), value, pebble.Sync); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

type pebbleQuiet struct{}

func (pebbleQuiet) Infof(string, ...any)  {}
func (pebbleQuiet) Errorf(string, ...any) {}
func (pebbleQuiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// benchClusters are the cluster shapes of BenchmarkPut and BenchmarkGet:
// Pebble on its in-memory file system, where a sync costs nothing, or in
// temporary folders on disk. On disk every node of the cluster shares the
// machine's one disk, so their fsyncs queue behind one another.
var benchClusters = []struct {
	fs    string
	nodes int
}{{"mem", 3}, {"mem", 8}, {"disk", 3}, {"disk", 8}}

// BenchmarkPut measures sequential Puts through one gateway of a cluster
// on the memory transport with the default namespace parameters (1 MiB
// chunks, 16+16 scaled to the cluster: 1+1 on 3 nodes, 4+4 on 8, R = 3
// or 8). ns/op is the latency of one acknowledged write.
func BenchmarkPut(b *testing.B) {
	for _, bc := range benchClusters {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("fs=%s/nodes=%d/%s", bc.fs, bc.nodes, sizeName(size)), func(b *testing.B) {
				c := newClusterOn(b, bc.nodes, DefaultNamespaceParams(), bc.fs == "disk")
				s := c.node(0).store
				value := testValue(size, 2)
				ctx := context.Background()
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					i++
					if _, err := s.Put(ctx, "", "bench", fmt.Sprint("k", i), bytes.NewReader(value), PutOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				reportOps(b)
			})
		}
	}
}

// BenchmarkGet measures sequential Gets of one stored value, as
// BenchmarkPut writes it.
func BenchmarkGet(b *testing.B) {
	for _, bc := range benchClusters {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("fs=%s/nodes=%d/%s", bc.fs, bc.nodes, sizeName(size)), func(b *testing.B) {
				c := newClusterOn(b, bc.nodes, DefaultNamespaceParams(), bc.fs == "disk")
				s := c.node(0).store
				ctx := context.Background()
				if _, err := s.Put(ctx, "", "bench", "k", bytes.NewReader(testValue(size, 3)), PutOptions{}); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := s.Get(ctx, "", "bench", "k", io.Discard, GetOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				reportOps(b)
			})
		}
	}
}

// BenchmarkRepairAfterLosingThird writes 16 MiB of 1 MiB values and 1000
// small records packed by PutBatch to a 24-node cluster, reports the
// bytes stored per byte written, kills 8 nodes and reports the bytes the
// repair pass sent per byte written. Run it with -benchtime=1x.
func BenchmarkRepairAfterLosingThird(b *testing.B) {
	for b.Loop() {
		c := newCluster(b, 24, DefaultNamespaceParams())
		s := c.node(0).store
		ctx := context.Background()
		var logical int64
		for i := range 16 {
			v := testValue(1<<20, byte(i))
			logical += int64(len(v))
			if _, err := s.Put(ctx, "", "bench", fmt.Sprint("big-", i), bytes.NewReader(v), PutOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		var batch []BatchRecord
		for i := range 1000 {
			batch = append(batch, BatchRecord{Key: fmt.Sprint("small-", i), Value: testValue(200, byte(i))})
			logical += 200
		}
		if _, err := s.PutBatch(ctx, "", "bench", batch); err != nil {
			b.Fatal(err)
		}

		var stored int64
		for _, n := range c.live() {
			u := n.shards.Usage()
			stored += u.ShardBytes + u.MetaBytes
		}
		c.kill(c.live()[1:9]...)
		rep := repairAll(b, c)
		if rep.ChunksLost > 0 {
			b.Fatalf("repair lost %d chunks", rep.ChunksLost)
		}
		b.ReportMetric(float64(stored)/float64(logical), "stored/written")
		b.ReportMetric(float64(rep.BytesSent)/float64(logical), "repair-sent/written")
		b.ReportMetric(float64(rep.ShardsRebuilt), "shards-rebuilt")
		b.ReportMetric(float64(rep.RecordsPushed), "records-pushed")
	}
}

// BenchmarkRepairTraffic writes 64 values of 256 KiB and 1000 small
// records to a 24-node cluster and reports the lookups and requests of
// one repair pass on every node: first with nothing to repair, then after
// 8 nodes are killed.
func BenchmarkRepairTraffic(b *testing.B) {
	for b.Loop() {
		params := DefaultNamespaceParams()
		params.Chunking.Size = 256 << 10
		c := newCluster(b, 24, params)
		s := c.node(0).store
		ctx := context.Background()
		for i := range 64 {
			if _, err := s.Put(ctx, "", "bench", fmt.Sprint("big-", i), bytes.NewReader(testValue(256<<10, byte(i))), PutOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		var batch []BatchRecord
		for i := range 1000 {
			batch = append(batch, BatchRecord{Key: fmt.Sprint("small-", i), Value: testValue(200, byte(i))})
		}
		if _, err := s.PutBatch(ctx, "", "bench", batch); err != nil {
			b.Fatal(err)
		}
		report := func(stage string) {
			lookups, requests := trafficOf(c)
			rep := repairAll(b, c)
			l2, r2 := trafficOf(c)
			b.ReportMetric(float64(l2-lookups), stage+"-lookups")
			b.ReportMetric(float64(r2-requests), stage+"-requests")
			b.ReportMetric(float64(rep.Chunks), stage+"-chunks-checked")
		}
		report("steady")
		c.kill(c.live()[1:9]...)
		report("lost8")
	}
}

// trafficOf sums the lookups and requests made through every live node.
func trafficOf(c *testCluster) (lookups, requests int64) {
	for _, n := range c.live() {
		lookups += n.lookups.Load()
		requests += n.requests.Load()
	}
	return lookups, requests
}
