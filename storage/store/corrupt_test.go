package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// rawShardKey is the engine key of a shard coded p, as package engine
// lays it out: 's', the chunk ID, then the index, Data and Parity as 2
// big-endian bytes each.
func rawShardKey(id engine.ChunkID, index int, p erasure.Params) []byte {
	k := append([]byte{'s'}, id[:]...)
	k = binary.BigEndian.AppendUint16(k, uint16(index))
	k = binary.BigEndian.AppendUint16(k, uint16(p.Data))
	return binary.BigEndian.AppendUint16(k, uint16(p.Parity))
}

// flipShard damages one byte of a stored shard's payload in the engine,
// below the shard store's checks, as a bad disk would.
func flipShard(t *testing.T, n *testNode, id engine.ChunkID, index int) {
	t.Helper()
	refs, err := n.shards.ListCodes(id)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(refs, func(r engine.ShardRef) bool { return r.Index == index })
	if i < 0 {
		t.Fatalf("node holds no shard %d", index)
	}
	key := rawShardKey(id, index, refs[i].Params)
	value, err := n.eng.Get(key)
	if err != nil {
		t.Fatalf("read raw shard: %v", err)
	}
	value[len(value)-1] ^= 0x40
	b := n.eng.NewBatch()
	defer b.Close()
	b.Set(key, value)
	if err := b.Commit(engine.Sync); err != nil {
		t.Fatal(err)
	}
}

// shardHolder returns the node holding shard index of chunk id.
func shardHolder(t *testing.T, c *testCluster, id engine.ChunkID, index int) *testNode {
	t.Helper()
	for _, n := range c.live() {
		if _, err := n.shards.Get(id, index); err == nil {
			return n
		}
	}
	t.Fatalf("no node holds shard %d of chunk %v", index, id)
	return nil
}

func firstChunk(t *testing.T, n *testNode) engine.ChunkID {
	t.Helper()
	var id engine.ChunkID
	found := false
	err := n.shards.ScanShards(func(c engine.ChunkID, _ int) error {
		id, found = c, true
		return engine.StopScan
	})
	if err != nil || !found {
		t.Fatalf("node holds no shard: %v", err)
	}
	return id
}

func TestCorruptShardDetectedAndRepaired(t *testing.T) {
	c := newCluster(t, 5, smallParams(2, 2, 3))
	ctx := context.Background()
	value := testValue(64<<10+1, 9) // one full chunk and one byte more
	gw := c.node(0)
	if _, err := gw.store.Put(ctx, "", "disk", "v", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatal(err)
	}

	// Damage a data shard, which a read asks for first. Each chunk has
	// shards on 4 of the 5 nodes, so take the chunk from one that holds
	// any.
	var id engine.ChunkID
	for _, n := range c.live() {
		if n.holder.Stats().ShardsHeld > 0 {
			id = firstChunk(t, n)
			break
		}
	}
	victim := shardHolder(t, c, id, 0)
	flipShard(t, victim, id, 0)
	if _, err := victim.shards.Get(id, 0); err == nil {
		t.Fatal("flipped shard still reads as valid")
	}

	var got bytes.Buffer
	if _, err := gw.store.Get(ctx, "", "disk", "v", &got, GetOptions{}); err != nil {
		t.Fatalf("Get with a corrupt shard: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Fatal("Get with a corrupt shard returned different bytes")
	}
	if n := victim.holder.Stats().CorruptShards; n != 1 {
		t.Errorf("victim counted %d corrupt shards, want 1", n)
	}

	repairAll(t, c)
	sh, err := victim.shards.Get(id, 0)
	if err != nil {
		t.Fatalf("after repair, shard 0 on the victim: %v", err)
	}
	if err := sh.Verify(); err != nil {
		t.Errorf("rebuilt shard does not verify: %v", err)
	}
}

func TestScrubFindsCorruptShard(t *testing.T) {
	c := newCluster(t, 5, smallParams(2, 2, 3))
	ctx := context.Background()
	if _, err := c.node(0).store.Put(ctx, "", "disk", "v", bytes.NewReader(testValue(20000, 3)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var victim *testNode
	for _, n := range c.live() {
		if n.holder.Stats().ShardsHeld > 0 {
			victim = n
			break
		}
	}
	id := firstChunk(t, victim)
	indexes, err := victim.shards.List(id)
	if err != nil || len(indexes) == 0 {
		t.Fatalf("List = %v, %v", indexes, err)
	}
	flipShard(t, victim, id, indexes[0])

	r, err := NewRepairer(RepairConfig{Holder: victim.holder, Network: victim, Scrub: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.CorruptDropped != 1 || rep.ShardsRebuilt != 1 {
		t.Fatalf("scrub pass dropped %d and rebuilt %d shards, want 1 and 1", rep.CorruptDropped, rep.ShardsRebuilt)
	}
	sh, err := victim.shards.Get(id, indexes[0])
	if err != nil || sh.Verify() != nil {
		t.Fatalf("shard after scrub and repair: %v", err)
	}
	if sh.Params != (erasure.Params{Data: 2, Parity: 2}) {
		t.Errorf("rebuilt shard has code %v, want 2+2", sh.Params)
	}
}
