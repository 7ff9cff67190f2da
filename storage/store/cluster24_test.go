package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// repairAll runs one repair pass on every live node and returns the sum
// of the reports.
func repairAll(t testing.TB, c *testCluster) RepairReport {
	t.Helper()
	var sum RepairReport
	for _, n := range c.live() {
		r, err := NewRepairer(RepairConfig{Holder: n.holder, Network: n, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Run(context.Background())
		if err != nil {
			t.Fatalf("repair on %s: %v", n.id.ID.Short(), err)
		}
		sum.RecordsPushed += rep.RecordsPushed
		sum.RecordsPulled += rep.RecordsPulled
		sum.ShardsRebuilt += rep.ShardsRebuilt
		sum.ChunksLost += rep.ChunksLost
		sum.HandedOver += rep.HandedOver
		sum.BytesSent += rep.BytesSent
		sum.Chunks += rep.Chunks
		sum.ShardsMoved += rep.ShardsMoved
		sum.ShardsDropped += rep.ShardsDropped
		sum.WrongShards += rep.WrongShards
		sum.Lookups += rep.Lookups
		sum.Errors += rep.Errors
	}
	return sum
}

// TestClusterSurvivesFailures writes records to a 24-node cluster with
// the default parameters (scaled to 12+12 and R = 17), kills 8 nodes at
// once, reads everything back, repairs, kills 4 more and reads again.
func TestClusterSurvivesFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("24-node cluster")
	}
	params := DefaultNamespaceParams()
	params.Chunking.Size = 64 << 10
	c := newCluster(t, 24, params)
	ctx := context.Background()
	gw := c.node(0)

	values := map[string][]byte{}
	for i, size := range []int{0, 100, 3000, 64 << 10, 300 << 10, 1 << 20} {
		key := fmt.Sprintf("file-%d", i)
		values[key] = testValue(size, byte(i))
		if _, err := gw.store.Put(ctx, "", "survive", key, bytes.NewReader(values[key]), PutOptions{}); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	var batch []BatchRecord
	for i := range 50 {
		key := fmt.Sprintf("small-%02d", i)
		values[key] = testValue(10+i*7, byte(100+i))
		batch = append(batch, BatchRecord{Key: key, Value: values[key]})
	}
	if _, err := gw.store.PutBatch(ctx, "", "survive", batch); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}

	readAll := func(stage string) {
		t.Helper()
		for key, want := range values {
			var got bytes.Buffer
			if _, err := gw.store.Get(ctx, "", "survive", key, &got, GetOptions{}); err != nil {
				t.Fatalf("%s: Get %s: %v", stage, key, err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("%s: Get %s returned %d bytes that differ from the %d written", stage, key, got.Len(), len(want))
			}
		}
		list, err := gw.store.List(ctx, "", "survive", "")
		if err != nil {
			t.Fatalf("%s: List: %v", stage, err)
		}
		if len(list) != len(values) {
			t.Fatalf("%s: List returned %d records, want %d", stage, len(list), len(values))
		}
	}

	live := c.live()
	c.kill(live[1:9]...)
	readAll("after killing 8")

	rep := repairAll(t, c)
	t.Logf("repair after killing 8: %+v", rep)
	if rep.ShardsRebuilt == 0 || rep.ChunksLost != 0 {
		t.Errorf("repair rebuilt %d shards and lost %d chunks; want some rebuilt and none lost", rep.ShardsRebuilt, rep.ChunksLost)
	}
	if again := repairAll(t, c); again.ShardsRebuilt != 0 || again.RecordsPushed != 0 {
		t.Errorf("second repair pass still did work: %+v", again)
	}

	live = c.live()
	c.kill(live[1:5]...)
	readAll("after killing 4 more")
}
