package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

func TestHolderQuota(t *testing.T) {
	c := newCluster(t, 1, smallParams(1, 0, 1))
	n := c.node(0)
	h, err := NewHolder(HolderConfig{Shards: n.shards, Engine: n.eng, Tier: Upper, Quota: 1000, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	shards, err := erasure.Encode(erasure.Params{Data: 1, Parity: 0}, make([]byte, 2000))
	if err != nil {
		t.Fatal(err)
	}
	b, err := erasure.MarshalShard(shards[0])
	if err != nil {
		t.Fatal(err)
	}
	resp := h.HandleMessage(context.Background(), transportPeer(n.Self()), &wire.PutShard{Chunk: wire.Hash{1}, Shard: b})
	if e, ok := resp.(*wire.Error); !ok || e.Code != wire.CodeFull {
		t.Fatalf("PutShard over quota = %#v, want CodeFull", resp)
	}
	if got := h.Stats().Rejected[RejectFull]; got != 1 {
		t.Errorf("Rejected[full] = %d, want 1", got)
	}
	if got := h.Stats().ShardsHeld; got != 0 {
		t.Errorf("holder keeps %d shards after a rejected put, want 0", got)
	}
}

func TestTombstoneSweep(t *testing.T) {
	c := newCluster(t, 1, smallParams(1, 0, 1))
	n := c.node(0)
	ctx := context.Background()
	if _, err := n.store.Put(ctx, "", "ns", "gone", strings.NewReader("v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Delete(ctx, "", "ns", "gone"); err != nil {
		t.Fatal(err)
	}
	before := n.holder.Stats().MetaEntries

	if dropped, err := n.holder.Sweep(time.Now()); err != nil || dropped != 0 {
		t.Fatalf("Sweep within the grace period = %d, %v; want 0", dropped, err)
	}
	dropped, err := n.holder.Sweep(time.Now().Add(DefaultTombstoneGrace + time.Hour))
	if err != nil || dropped != 1 {
		t.Fatalf("Sweep after the grace period = %d, %v; want 1", dropped, err)
	}
	if after := n.holder.Stats().MetaEntries; after != before-2 {
		t.Errorf("metadata entries %d -> %d, want the tombstone and its index entry gone", before, after)
	}
	if err := n.store.Delete(ctx, "", "ns", "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete after the sweep = %v, want ErrNotFound", err)
	}
}

// TestLargeHeaderStoredInParts writes a value whose header lists so many
// chunks that its record version exceeds one metadata value, so holders
// store it as parts, and reads it back after repair copies it.
func TestLargeHeaderStoredInParts(t *testing.T) {
	params := smallParams(1, 1, 2)
	params.Chunking.Size = 64
	c := newCluster(t, 3, params)
	ctx := context.Background()
	value := testValue(64*1000, 5)
	if _, err := c.node(0).store.Put(ctx, "", "parts", "v", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	parts := 0
	for _, n := range c.live() {
		err := n.holder.meta.scan(engine.MetaHeader, []byte{metaPart}, []byte{metaPart + 1}, func(_, _ []byte) error {
			parts++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if parts == 0 {
		t.Fatal("no holder stored the record version as parts")
	}

	c.kill(c.live()[1])
	c.add(9, params)
	repairAll(t, c)
	c.kill(c.live()[1])
	var got bytes.Buffer
	if _, err := c.node(0).store.Get(ctx, "", "parts", "v", &got, GetOptions{}); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Fatal("Get returned different bytes")
	}
}

// TestDirectoryHandover writes records to a small cluster, adds nodes
// closer to the directory and checks that repair moves the directory to
// them and that the former holders drop it.
func TestDirectoryHandover(t *testing.T) {
	params := smallParams(1, 1, 2)
	c := newCluster(t, 3, params)
	ctx := context.Background()
	gw := c.node(0)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := gw.store.Put(ctx, "", "moving", k, strings.NewReader("value "+k), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Nodes get random IDs, so the first two joiners are made closer to
	// the directory than every node; otherwise about one run in 35 would
	// keep both closest among the first three, with nothing to hand over.
	for i := range 12 {
		if i < 2 {
			c.addCloser(20+i, params, DirectoryID("moving", 0))
		} else {
			c.add(20+i, params)
		}
	}
	rep := repairAll(t, c)
	if rep.HandedOver == 0 {
		t.Fatalf("repair handed nothing over after 12 nodes joined: %+v", rep)
	}

	closest := sortByDistance(DirectoryID("moving", 0), contactsOf(c.live()))[:2]
	for _, n := range c.live() {
		dirs, err := n.holder.heldDirs()
		if err != nil {
			t.Fatal(err)
		}
		isClosest := n.id.ID == closest[0].ID || n.id.ID == closest[1].ID
		if isClosest != (len(dirs) == 1) {
			t.Errorf("node %s: among the 2 closest %v, holds %d directory shards", n.id.ID.Short(), isClosest, len(dirs))
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		var got bytes.Buffer
		if _, err := gw.store.Get(ctx, "", "moving", k, &got, GetOptions{}); err != nil || got.String() != "value "+k {
			t.Errorf("Get %s after handover = %q, %v", k, got.String(), err)
		}
	}
}

func contactsOf(nodes []*testNode) []wire.Contact {
	out := make([]wire.Contact, len(nodes))
	for i, n := range nodes {
		out[i] = n.Self()
	}
	return out
}

// TestRepairPullsEachVersionOnce empties one of three directory holders
// but for one record and checks that its repair pass fetches each missing
// version from one peer, not from both.
func TestRepairPullsEachVersionOnce(t *testing.T) {
	c := newCluster(t, 3, smallParams(1, 1, 3))
	ctx := context.Background()
	const records = 20
	for i := range records {
		key := fmt.Sprint("k", i)
		if _, err := c.node(0).store.Put(ctx, "", "pull", key, strings.NewReader("value "+key), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lagging, source := c.node(1), c.node(2)
	ref := dirRef{Namespace: "pull", Dir: 0}
	var kept *wire.PutRecord
	err := source.holder.scanDir(ref.Namespace, ref.Dir, wire.Hash{}, func(_ wire.Hash, _ *recordHead, rec *wire.Record) error {
		kept = &wire.PutRecord{Namespace: ref.Namespace, Dir: ref.Dir, Record: *rec}
		return engine.StopScan
	})
	if err != nil || kept == nil {
		t.Fatalf("read a record from the source holder: %v", err)
	}
	if err := lagging.holder.dropDir(ref); err != nil {
		t.Fatal(err)
	}
	if resp := lagging.holder.HandleMessage(ctx, transportPeer(source.Self()), kept); resp == nil {
		t.Fatal("PutRecord of the kept record got no response")
	} else if _, ok := resp.(*wire.Ack); !ok {
		t.Fatalf("PutRecord of the kept record = %#v, want Ack", resp)
	}

	r, err := NewRepairer(RepairConfig{Holder: lagging.holder, Network: lagging, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RecordsPulled != records-1 {
		t.Errorf("repair pulled %d record versions, want the %d missing ones once each", rep.RecordsPulled, records-1)
	}
}
