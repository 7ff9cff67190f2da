package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// cellSetup starts a network with inA nodes in cell A and the rest in
// cell B, and sets namespace "local" to placement by cluster. It writes
// one value from node 0, so the gateway caches cell A's member list as it
// is before any node dies.
func cellSetup(t *testing.T, inA, total int) (*testCluster, map[identity.NodeID]bool) {
	t.Helper()
	c := newCluster(t, total, smallParams(31, 17, 17))
	cells := make(map[*testNode]string)
	members := make(map[identity.NodeID]bool)
	for i, n := range c.live() {
		cells[n] = cellB
		if i < inA {
			cells[n] = cellA
			members[n.id.ID] = true
		}
	}
	joinCells(t, cells)
	gw := c.node(0)
	ctx := context.Background()
	if err := gw.store.SetPlacement(ctx, "", "local", PlaceCluster); err != nil {
		t.Fatalf("SetPlacement: %v", err)
	}
	if _, err := gw.store.Put(ctx, "", "local", "first", bytes.NewReader(testValue(1000, 1)), PutOptions{}); err != nil {
		t.Fatalf("Put before any node died: %v", err)
	}
	return c, members
}

// codeHolders returns, for one chunk, the live nodes holding a shard of
// code p and the number of distinct indexes of that code they hold.
func codeHolders(t *testing.T, c *testCluster, id engine.ChunkID, p erasure.Params) (nodes []*testNode, indexes int) {
	t.Helper()
	seen := make(map[int]bool)
	for _, n := range c.live() {
		held, err := n.shards.List(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range held {
			sh, err := n.shards.Get(id, x)
			if err != nil || sh.Params != p {
				continue
			}
			seen[x] = true
			nodes = append(nodes, n)
		}
	}
	return nodes, len(seen)
}

// TestCellWriteReplacesKilledHolders kills 2 of the 10 holders of cell A
// after the gateway cached the cell's members. The 10 listed holders code
// a chunk 5+5 with no holder to spare, so the write used to fail until
// the gateway took the dead ones for down. It must now store every chunk
// as 4+4 on the 8 live holders of the cell, within the same request.
func TestCellWriteReplacesKilledHolders(t *testing.T) {
	c, inA := cellSetup(t, 10, 14)
	gw, reader := c.node(0), c.node(12)
	ctx := context.Background()
	c.kill(c.node(3), c.node(6))

	before := heldChunks(t, c)
	value := testValue(200<<10, 2)
	if _, err := gw.store.Put(ctx, "", "local", "after", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatalf("first Put after killing 2 of the cell's 10 holders: %v", err)
	}

	places := chunkPlaces(t, c, before)
	if len(places) != 4 {
		t.Fatalf("the 200 KiB value stored %d new chunks, want 4 of 64 KiB or less", len(places))
	}
	want := erasure.Params{Data: 4, Parity: 4}
	for id, p := range places {
		if p.cell != cellA {
			t.Errorf("chunk %x is kept in cell %q, want %s", id[:8], p.cell, cellA)
		}
		holders, indexes := codeHolders(t, c, id, want)
		if indexes != want.Total() {
			t.Errorf("chunk %x has %d distinct shards coded %v on live nodes, want %d", id[:8], indexes, want, want.Total())
		}
		for _, n := range holders {
			if !inA[n.id.ID] {
				t.Errorf("chunk %x has a %v shard on %s, outside cell A", id[:8], want, n.id.ID.Short())
			}
		}
		if distinct := len(uniqueNodes(holders)); distinct != want.Total() {
			t.Errorf("chunk %x has its %d shards on %d nodes, want one each", id[:8], want.Total(), distinct)
		}
	}

	readerUser, err := reader.store.PublicUser("")
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.store.Grant(ctx, "", "local", "", readerUser, Read); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	var got bytes.Buffer
	if _, err := reader.store.Get(ctx, "", "local", "after", &got, GetOptions{}); err != nil {
		t.Fatalf("Get from cell B: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Errorf("cell B read %d bytes that differ from the %d written", got.Len(), len(value))
	}
}

// TestCellOfEightWriteAfterKill kills one holder of a cell of exactly 8.
// The code 4+4 the cell promises then finds 7 live holders in the cell,
// and the eighth shard goes to the closest node outside it, within the
// same request. The record keeps the cell, readers decode from the 7,
// and repair later moves the eighth shard into the cell.
func TestCellOfEightWriteAfterKill(t *testing.T) {
	c, inA := cellSetup(t, 8, 12)
	gw, batcher := c.node(0), c.node(1)
	ctx := context.Background()
	batchUser, err := batcher.store.PublicUser("")
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.store.Grant(ctx, "", "local", "", batchUser, Write); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	c.kill(c.node(5))

	before := heldChunks(t, c)
	value := testValue(100<<10, 3)
	if _, err := gw.store.Put(ctx, "", "local", "after", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatalf("first Put after killing 1 of the cell's 8 holders: %v", err)
	}
	places := chunkPlaces(t, c, before)
	if len(places) != 2 {
		t.Fatalf("the 100 KiB value stored %d new chunks, want 2", len(places))
	}
	want := erasure.Params{Data: 4, Parity: 4}
	for id := range places {
		holders, indexes := codeHolders(t, c, id, want)
		if indexes != want.Total() {
			t.Errorf("chunk %x has %d distinct shards coded %v on live nodes, want %d", id[:8], indexes, want, want.Total())
		}
		var outside int
		for _, n := range holders {
			if !inA[n.id.ID] {
				outside++
			}
			if got := n.holder.chunkCell(wireHash(id)); got != cellA {
				t.Errorf("holder %s keeps chunk %x in cell %q, want %s", n.id.ID.Short(), id[:8], got, cellA)
			}
		}
		if outside != 1 {
			t.Errorf("chunk %x has %d shards outside cell A, want the 1 replacement", id[:8], outside)
		}
		if distinct := len(uniqueNodes(holders)); distinct != want.Total() {
			t.Errorf("chunk %x has its %d shards on %d nodes, want one each", id[:8], want.Total(), distinct)
		}
	}

	var got bytes.Buffer
	if _, err := gw.store.Get(ctx, "", "local", "after", &got, GetOptions{}); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Errorf("read %d bytes that differ from the %d written", got.Len(), len(value))
	}

	// A batch through another gateway of the cell, which has not read
	// the cell's members yet, meets the dead holder as the first write
	// did, and its value segment is placed the same way.
	before = heldChunks(t, c)
	batch := []BatchRecord{{Key: "b1", Value: testValue(300, 6)}, {Key: "b2", Value: testValue(500, 7)}}
	if _, err := batcher.store.PutBatch(ctx, "", "local", batch); err != nil {
		t.Fatalf("first PutBatch through another gateway after the kill: %v", err)
	}
	// The batch stores one value segment in the cell and its version
	// segment globally.
	inCell := 0
	for _, p := range chunkPlaces(t, c, before) {
		if p.cell == cellA {
			inCell++
		}
	}
	if inCell != 1 {
		t.Errorf("the batch stored %d chunks in cell A, want its 1 value segment", inCell)
	}
	got.Reset()
	if _, err := batcher.store.Get(ctx, "", "local", "b2", &got, GetOptions{}); err != nil {
		t.Fatalf("Get b2: %v", err)
	}
	if !bytes.Equal(got.Bytes(), batch[1].Value) {
		t.Errorf("b2 read back as %d bytes that differ from the %d written", got.Len(), len(batch[1].Value))
	}

	// The first gateway dropped the dead holder from its list of the
	// cell, and 7 live holders are too few for the cell, so its next
	// write is placed globally.
	before = heldChunks(t, c)
	if _, err := gw.store.Put(ctx, "", "local", "later", bytes.NewReader(testValue(100<<10, 4)), PutOptions{}); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	checkGlobal(t, c, before, inA, "second Put")

	// Repair moves the first value's outside shards into the cell.
	if rep := repairAll(t, c); rep.ChunksLost != 0 {
		t.Errorf("repair lost %d chunks", rep.ChunksLost)
	}
	for id := range places {
		holders, indexes := codeHolders(t, c, id, want)
		if indexes != want.Total() {
			t.Errorf("after repair chunk %x has %d distinct shards coded %v, want %d", id[:8], indexes, want, want.Total())
		}
		for _, n := range holders {
			if !inA[n.id.ID] {
				t.Errorf("after repair chunk %x still has a shard on %s, outside cell A", id[:8], n.id.ID.Short())
			}
		}
	}
}

// uniqueNodes returns nodes without repeats.
func uniqueNodes(nodes []*testNode) map[*testNode]bool {
	out := make(map[*testNode]bool)
	for _, n := range nodes {
		out[n] = true
	}
	return out
}

// TestCellWriteTooFewLive kills 5 of the 8 holders of cell A. The 3 left
// cannot hold the 4 data shards readers of the cell need, so the write
// fails, and its error names how many holders it needed and how many
// responded.
func TestCellWriteTooFewLive(t *testing.T) {
	c, inA := cellSetup(t, 8, 12)
	gw := c.node(0)
	ctx := context.Background()
	c.kill(c.node(1), c.node(2), c.node(3), c.node(4), c.node(5))

	before := heldChunks(t, c)
	value := testValue(10<<10, 5)
	_, err := gw.store.Put(ctx, "", "local", "after", bytes.NewReader(value), PutOptions{})
	if err == nil {
		t.Fatal("Put with 3 of the cell's 8 holders alive succeeded; want an error")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %v, want ErrUnavailable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "needs 4") || !strings.Contains(msg, "3 responded") {
		t.Errorf("error %q does not state that 4 holders were needed and 3 responded", msg)
	}

	// As the error states, a retry places the value globally, because
	// the gateway dropped the dead holders from its list of the cell.
	// The value is the same, so its chunk is too, and the cell holders
	// that stored shards of it in the failed write keep them.
	if _, err := gw.store.Put(ctx, "", "local", "after", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatalf("retried Put: %v", err)
	}
	outside := 0
	for _, p := range chunkPlaces(t, c, before) {
		for _, n := range p.holders {
			if !inA[n.id.ID] {
				outside++
			}
		}
	}
	if outside == 0 {
		t.Error("the retried Put stored no shard outside cell A")
	}
	var got bytes.Buffer
	if _, err := gw.store.Get(ctx, "", "local", "after", &got, GetOptions{}); err != nil {
		t.Fatalf("Get after the retry: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Errorf("read %d bytes that differ from the %d written", got.Len(), len(value))
	}
}

// wireHash returns a chunk's ID as a holder keeps it.
func wireHash(id engine.ChunkID) [32]byte { return [32]byte(id) }
