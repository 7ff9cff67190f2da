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

// TestRepairDropsSecondCloseCopy gives a close holder of a chunk a
// second copy of the index a closer holder has, as a write that backed
// up a slow holder leaves. Repair must drop that copy once the closer
// holder lists it, and leave one shard on each of the closest nodes.
func TestRepairDropsSecondCloseCopy(t *testing.T) {
	p := erasure.Params{Data: 3, Parity: 3}
	c := newCluster(t, 6, smallParams(p.Data, p.Parity, 3))
	ctx := context.Background()
	gw := c.node(0)
	value := testValue(20<<10, 9)
	if _, err := gw.store.Put(ctx, "", "dup", "file", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkPlacement(t, c, p)
	if t.Failed() {
		t.FailNow()
	}

	// The chunk's closest holder keeps its shard, and the farthest one
	// receives a copy of it besides its own.
	var id engine.ChunkID
	err := gw.shards.ScanShards(func(cid engine.ChunkID, _ int) error {
		id = cid
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	closest := sortByDistance(identity.NodeID(id), contactsOf(c.live()))
	keeper, spare := nodeByID(c, closest[0]), nodeByID(c, closest[len(closest)-1])
	indexes, err := keeper.shards.List(id)
	if err != nil || len(indexes) != 1 {
		t.Fatalf("closest holder lists shards %v, %v; want one", indexes, err)
	}
	sh, err := keeper.shards.Get(id, indexes[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := spare.shards.Put(id, sh); err != nil {
		t.Fatal(err)
	}

	rep := repairAll(t, c)
	if rep.ShardsDropped != 1 {
		t.Errorf("repair dropped %d shards, want the one second copy", rep.ShardsDropped)
	}
	if rep.ShardsRebuilt != 0 || rep.ShardsMoved != 0 {
		t.Errorf("repair rebuilt %d and moved %d shards, want none", rep.ShardsRebuilt, rep.ShardsMoved)
	}
	if held, err := keeper.shards.List(id); err != nil || !slices.Equal(held, indexes) {
		t.Errorf("closest holder lists shards %v, %v after repair; want %v", held, err, indexes)
	}
	checkPlacement(t, c, p)

	var got bytes.Buffer
	if _, err := gw.store.Get(ctx, "", "dup", "file", &got, GetOptions{}); err != nil {
		t.Fatalf("Get after repair: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Fatalf("Get after repair returned %d bytes that differ from the %d written", got.Len(), len(value))
	}
}
