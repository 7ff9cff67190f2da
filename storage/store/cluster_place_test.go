package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

const (
	cellA = "50.5,4.0" // Brussels
	cellB = "45.0,7.5" // Turin
)

// joinCells puts the nodes in their cells and registers each with its
// cell's directory.
func joinCells(t *testing.T, cells map[*testNode]string) {
	t.Helper()
	for n, cell := range cells {
		n.cell.Store(&cell)
		if err := n.store.JoinCluster(context.Background(), cell); err != nil {
			t.Fatalf("JoinCluster %s on %s: %v", cell, n.id.ID.Short(), err)
		}
	}
}

// chunkPlaces lists, for each chunk held anywhere that is not in skip,
// the nodes holding a shard of it, the distinct indexes held, and the
// cell its holders keep for it.
type chunkPlace struct {
	holders []*testNode
	indexes map[int]bool
	cell    string
}

func chunkPlaces(t *testing.T, c *testCluster, skip map[engine.ChunkID]bool) map[engine.ChunkID]*chunkPlace {
	t.Helper()
	out := make(map[engine.ChunkID]*chunkPlace)
	for _, n := range c.live() {
		err := n.shards.ScanShards(func(id engine.ChunkID, index int) error {
			if skip[id] {
				return nil
			}
			p := out[id]
			if p == nil {
				p = &chunkPlace{indexes: make(map[int]bool)}
				out[id] = p
			}
			if !slices.Contains(p.holders, n) {
				p.holders = append(p.holders, n)
			}
			p.indexes[index] = true
			if cell := n.holder.chunkCell(wire.Hash(id)); cell != "" {
				if p.cell != "" && p.cell != cell {
					t.Errorf("chunk %x is kept in cells %s and %s", id[:8], p.cell, cell)
				}
				p.cell = cell
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestClusterPlacement writes a namespace placed by cluster from cell A
// and checks that every shard of its values lies on cell A's holders,
// that a node of cell B reads it back, that losing a third of cell A's
// holders loses nothing after repair, and that a namespace without the
// parameter, and one written from a cell with too few holders, still
// spread over the whole network.
func TestClusterPlacement(t *testing.T) {
	if testing.Short() {
		t.Skip("24-node cluster")
	}
	ctx := context.Background()
	c := newCluster(t, 24, smallParams(31, 17, 17))
	nodes := c.live()
	cells := make(map[*testNode]string)
	inA := make(map[identity.NodeID]bool)
	for i, n := range nodes {
		switch {
		case i < 12:
			cells[n] = cellA
			inA[n.id.ID] = true
		case i < 18:
			cells[n] = cellB
		}
	}
	joinCells(t, cells)
	gw, reader := nodes[0], nodes[12]
	readerUser, err := reader.store.PublicUser("")
	if err != nil {
		t.Fatal(err)
	}

	// The namespace placed by cluster, written from cell A.
	const ns = "local"
	if err := gw.store.SetPlacement(ctx, "", ns, PlaceCluster); err != nil {
		t.Fatalf("SetPlacement: %v", err)
	}
	if err := gw.store.Grant(ctx, "", ns, "", readerUser, Read); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	before := heldChunks(t, c)
	values := map[string][]byte{}
	for i, size := range []int{100, 3000, 300 << 10} {
		key := fmt.Sprintf("file-%d", i)
		values[key] = testValue(size, byte(i))
		if _, err := gw.store.Put(ctx, "", ns, key, bytes.NewReader(values[key]), PutOptions{}); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	var batch []BatchRecord
	var batchKeys []string
	for i := range 20 {
		key := fmt.Sprintf("small-%02d", i)
		values[key] = testValue(10+i*7, byte(100+i))
		batch = append(batch, BatchRecord{Key: key, Value: values[key]})
		batchKeys = append(batchKeys, key)
	}
	if _, err := gw.store.PutBatch(ctx, "", ns, batch); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}

	// 1 + 1 + 5 chunks of the values written alone and 1 value segment,
	// all in cell A on 6+6 shards. The version segment is placed globally.
	code := ScaledParams(erasure.Params{Data: 31, Parity: 17}, 12)
	checkInCell := func(stage string, wantIndexes int) map[engine.ChunkID]*chunkPlace {
		t.Helper()
		places := chunkPlaces(t, c, before)
		inCell := 0
		for id, p := range places {
			if p.cell == "" {
				continue
			}
			inCell++
			if p.cell != cellA {
				t.Errorf("%s: chunk %x is kept in cell %s, want %s", stage, id[:8], p.cell, cellA)
			}
			for _, h := range p.holders {
				if !inA[h.id.ID] {
					t.Errorf("%s: chunk %x has a shard on %s, outside cell %s", stage, id[:8], h.id.ID.Short(), cellA)
				}
			}
			if len(p.indexes) < wantIndexes {
				t.Errorf("%s: chunk %x has %d distinct shards, want %d", stage, id[:8], len(p.indexes), wantIndexes)
			}
		}
		if inCell != 8 || len(places) > inCell+1 {
			t.Errorf("%s: %d new chunks, %d of them in a cell; want 8 in cell %s and at most 1 version segment",
				stage, len(places), inCell, cellA)
		}
		return places
	}
	checkInCell("after writing", code.Total())

	readAll := func(stage string, from *testNode) {
		t.Helper()
		for key, want := range values {
			var got bytes.Buffer
			if _, err := from.store.Get(ctx, "", ns, key, &got, GetOptions{}); err != nil {
				t.Fatalf("%s: Get %s: %v", stage, key, err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("%s: Get %s returned %d bytes that differ from the %d written", stage, key, got.Len(), len(want))
			}
		}
		got, err := from.store.GetBatch(ctx, "", ns, batchKeys)
		if err != nil {
			t.Fatalf("%s: GetBatch: %v", stage, err)
		}
		for i, v := range got {
			if v.Err != nil || !bytes.Equal(v.Value, values[batchKeys[i]]) {
				t.Fatalf("%s: GetBatch %s: %v, %d bytes", stage, batchKeys[i], v.Err, len(v.Value))
			}
		}
	}
	readAll("cell B reads", reader)

	// The scheduler's holders of a key are cell A's holders.
	lists, err := gw.store.Holders(ctx, "", ns, []string{"file-2", "small-03"})
	if err != nil {
		t.Fatal(err)
	}
	for i, list := range lists {
		if len(list) == 0 {
			t.Errorf("Holders gave key %d no holders", i)
		}
		for _, id := range list {
			if !inA[id] {
				t.Errorf("Holders lists %s for key %d, outside cell %s", id.Short(), i, cellA)
			}
		}
	}

	// A third of cell A's holders fail at once; the gateway survives.
	c.kill(nodes[1:5]...)
	readAll("after killing 4 of cell A's 12", reader)
	rep := repairAll(t, c)
	t.Logf("repair after killing 4 of cell A: %+v", rep)
	if rep.ShardsRebuilt == 0 || rep.ChunksLost != 0 {
		t.Errorf("repair rebuilt %d shards and lost %d chunks; want some rebuilt and none lost", rep.ShardsRebuilt, rep.ChunksLost)
	}
	checkInCell("after repair", code.Total())

	// Repair restored the full code, so 2 more losses cost nothing.
	c.kill(nodes[5:7]...)
	readAll("after killing 2 more of cell A", reader)

	// A namespace without the parameter spreads over the whole network.
	before = heldChunks(t, c)
	spread := testValue(300<<10, 7)
	if _, err := gw.store.Put(ctx, "", "spread", "file", bytes.NewReader(spread), PutOptions{}); err != nil {
		t.Fatalf("Put spread: %v", err)
	}
	checkGlobal(t, c, before, inA, "namespace without placement")

	// Cell B has 6 holders, fewer than minClusterHolders, so a write from
	// there falls back to global placement and still reads back.
	before = heldChunks(t, c)
	if err := reader.store.SetPlacement(ctx, "", "turin", PlaceCluster); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.store.Put(ctx, "", "turin", "file", bytes.NewReader(spread), PutOptions{}); err != nil {
		t.Fatalf("Put turin: %v", err)
	}
	checkGlobal(t, c, before, inA, "cell with too few holders")
	var got bytes.Buffer
	if _, err := reader.store.Get(ctx, "", "turin", "file", &got, GetOptions{}); err != nil || !bytes.Equal(got.Bytes(), spread) {
		t.Fatalf("Get turin: %v, %d bytes", err, got.Len())
	}
}

// checkGlobal checks that the chunks written since before carry no cell
// and have shards outside cell A.
func checkGlobal(t *testing.T, c *testCluster, before map[engine.ChunkID]bool, inA map[identity.NodeID]bool, stage string) {
	t.Helper()
	places := chunkPlaces(t, c, before)
	if len(places) == 0 {
		t.Fatalf("%s: no chunk written", stage)
	}
	for id, p := range places {
		if p.cell != "" {
			t.Errorf("%s: chunk %x is kept in cell %s", stage, id[:8], p.cell)
		}
		if !slices.ContainsFunc(p.holders, func(h *testNode) bool { return !inA[h.id.ID] }) {
			t.Errorf("%s: chunk %x lies only in cell A", stage, id[:8])
		}
	}
}

// BenchmarkClusterReadShare writes 1 MiB values from a gateway in cell A
// of a 24-node network (12 nodes in cell A, 6 in cell B, 6 without a
// cell) and reads them back there. It reports the share of the shards
// fetched, and of the shards stored, that lie on cell A's holders, with
// placement by cluster and without. Shards of one chunk have one size,
// so the shares are shares of bytes too.
func BenchmarkClusterReadShare(b *testing.B) {
	for _, pl := range []Placement{PlaceGlobal, PlaceCluster} {
		b.Run(pl.String(), func(b *testing.B) {
			ctx := context.Background()
			c := newCluster(b, 24, smallParams(31, 17, 17))
			nodes := c.live()
			inA := make(map[identity.NodeID]bool)
			var fetchedA, fetched atomic.Int64
			for i, n := range nodes {
				cell := ""
				switch {
				case i < 12:
					cell = cellA
					inA[n.id.ID] = true
				case i < 18:
					cell = cellB
				}
				if cell != "" {
					n.cell.Store(&cell)
					if err := n.store.JoinCluster(ctx, cell); err != nil {
						b.Fatal(err)
					}
				}
				n.setIntercept(func(_ context.Context, msg wire.Message) wire.Message {
					if _, ok := msg.(*wire.GetShard); ok {
						fetched.Add(1)
						if inA[n.id.ID] {
							fetchedA.Add(1)
						}
					}
					return nil
				})
			}
			gw := nodes[0]
			if err := gw.store.SetPlacement(ctx, "", "bench", pl); err != nil {
				b.Fatal(err)
			}
			before := heldChunks(b, c)
			value := testValue(1<<20, 3)
			for i := range 4 {
				if _, err := gw.store.Put(ctx, "", "bench", fmt.Sprint("v", i), bytes.NewReader(value), PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				for i := range 4 {
					if _, err := gw.store.Get(ctx, "", "bench", fmt.Sprint("v", i), io.Discard, GetOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			var stored, storedA int64
			for _, n := range c.live() {
				err := n.shards.ScanShards(func(id engine.ChunkID, _ int) error {
					if !before[id] {
						stored++
						if inA[n.id.ID] {
							storedA++
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*float64(fetchedA.Load())/float64(fetched.Load()), "%fetched-in-cell")
			b.ReportMetric(100*float64(storedA)/float64(stored), "%stored-in-cell")
		})
	}
}

// TestClusterRepairWaitsForMembers checks that repair leaves a chunk
// placed in a cell alone while the cell's directory lists no holder,
// rather than planning over the holder alone and calling the chunk lost.
func TestClusterRepairWaitsForMembers(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 10, smallParams(31, 17, 17))
	nodes := c.live()
	cells := make(map[*testNode]string)
	for _, n := range nodes[:8] {
		cells[n] = cellA
	}
	joinCells(t, cells)
	gw := nodes[0]
	if err := gw.store.SetPlacement(ctx, "", "local", PlaceCluster); err != nil {
		t.Fatal(err)
	}
	value := testValue(100<<10, 1)
	if _, err := gw.store.Put(ctx, "", "local", "v", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.holder.members.mu.Lock()
		n.holder.members.cells = nil
		n.holder.members.mu.Unlock()
	}
	rep := repairAll(t, c)
	if rep.ChunksLost != 0 || rep.ShardsMoved != 0 || rep.ShardsRebuilt != 0 {
		t.Errorf("repair without the cell's members: %+v; want nothing lost, moved or rebuilt", rep)
	}
	if rep.Errors == 0 {
		t.Errorf("repair without the cell's members counted no error: %+v", rep)
	}

	// Once the members register again, the value reads back from them.
	joinCells(t, cells)
	var got bytes.Buffer
	if _, err := gw.store.Get(ctx, "", "local", "v", &got, GetOptions{}); err != nil || !bytes.Equal(got.Bytes(), value) {
		t.Fatalf("Get after registering again: %v, %d bytes", err, got.Len())
	}
	if _, err := nodes[9].store.Get(ctx, "", "local", "v", io.Discard, GetOptions{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("Get by a user without a grant: %v, want ErrForbidden", err)
	}
}
