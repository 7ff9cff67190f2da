package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// TestChunkHandoverOnJoin writes to 12 nodes, where the default code
// scales to 6+6, and adds 12 nodes. Every record must read before repair.
// One repair pass must move every shard to the chunk's 12 closest nodes,
// one shard each, after which every record must still read.
func TestChunkHandoverOnJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("24-node cluster")
	}
	params := DefaultNamespaceParams()
	params.Chunking.Size = 64 << 10
	c := newCluster(t, 12, params)
	ctx := context.Background()
	gw := c.node(0)
	values := map[string][]byte{}
	for i, size := range []int{100, 150 << 10, 200 << 10} {
		key := fmt.Sprint("file-", i)
		values[key] = testValue(size, byte(i))
		if _, err := gw.store.Put(ctx, "", "grow", key, bytes.NewReader(values[key]), PutOptions{}); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	var batch []BatchRecord
	for i := range 20 {
		key := fmt.Sprint("small-", i)
		values[key] = testValue(300+i, byte(50+i))
		batch = append(batch, BatchRecord{Key: key, Value: values[key]})
	}
	if _, err := gw.store.PutBatch(ctx, "", "grow", batch); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}

	readAll := func(stage string) {
		t.Helper()
		for key, want := range values {
			var got bytes.Buffer
			if _, err := gw.store.Get(ctx, "", "grow", key, &got, GetOptions{}); err != nil {
				t.Fatalf("Get %s %s: %v", key, stage, err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("Get %s %s returned %d bytes that differ from the %d written", key, stage, got.Len(), len(want))
			}
		}
	}

	for i := range 12 {
		c.add(100+i, params)
	}
	// Until repair runs, shards are where they were written, among
	// nodes that are no longer the closest.
	readAll("before repair")
	rep := repairAll(t, c)
	t.Logf("repair after 12 nodes joined: %+v", rep)
	if rep.ShardsMoved == 0 {
		t.Fatal("repair moved no shards to the nodes that joined")
	}
	if rep.ShardsRebuilt != 0 || rep.ChunksLost != 0 {
		t.Errorf("repair rebuilt %d shards and lost %d chunks; want neither, since no node failed", rep.ShardsRebuilt, rep.ChunksLost)
	}
	checkPlacement(t, c, erasure.Params{Data: 6, Parity: 6})
	if again := repairAll(t, c); again.ShardsMoved+again.ShardsDropped+again.ShardsRebuilt != 0 {
		t.Errorf("second repair pass still moved, dropped or rebuilt shards: %+v", again)
	}

	// The old nodes no longer hold the chunks, so reads must find the
	// shards on the new closest nodes.
	readAll("after handover")
}

// checkPlacement checks that every chunk any node holds has exactly one
// shard on each of its p.Total() closest nodes and none elsewhere.
func checkPlacement(t *testing.T, c *testCluster, p erasure.Params) {
	t.Helper()
	holders := make(map[engine.ChunkID]map[identity.NodeID][]int)
	for _, n := range c.live() {
		err := n.shards.ScanShards(func(id engine.ChunkID, index int) error {
			if holders[id] == nil {
				holders[id] = make(map[identity.NodeID][]int)
			}
			holders[id][n.id.ID] = append(holders[id][n.id.ID], index)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(holders) == 0 {
		t.Fatal("no node holds a shard")
	}
	for id, byNode := range holders {
		closest := sortByDistance(identity.NodeID(id), contactsOf(c.live()))[:p.Total()]
		var indexes []int
		for _, cl := range closest {
			if len(byNode[cl.ID]) != 1 {
				t.Errorf("chunk %x: closest node %s holds shards %v, want one", id[:4], cl.ID.Short(), byNode[cl.ID])
			}
			indexes = append(indexes, byNode[cl.ID]...)
		}
		for node, held := range byNode {
			if !slices.ContainsFunc(closest, func(cl wire.Contact) bool { return cl.ID == node }) {
				t.Errorf("chunk %x: node %s outside the %d closest still holds shards %v", id[:4], node.Short(), p.Total(), held)
			}
		}
		slices.Sort(indexes)
		if want := seq(p.Total()); !slices.Equal(indexes, want) {
			t.Errorf("chunk %x: closest nodes hold indexes %v, want %v", id[:4], indexes, want)
		}
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
