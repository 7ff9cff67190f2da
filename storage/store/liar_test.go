package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// forgeShard returns a shard with the index, code and chunk size of sh
// and a valid hash, whose payload belongs to other data.
func forgeShard(t *testing.T, sh erasure.Shard) erasure.Shard {
	t.Helper()
	other, err := erasure.Encode(sh.Params, testValue(sh.Size, 0xee))
	if err != nil {
		t.Fatal(err)
	}
	return other[sh.Index]
}

func TestDecodeVerified(t *testing.T) {
	p := erasure.Params{Data: 4, Parity: 4}
	data := testValue(10000, 3)
	id := chunk.ID(sha256.Sum256(data))
	good, err := erasure.Encode(p, data)
	if err != nil {
		t.Fatal(err)
	}
	withLiars := func(n int, liars ...int) []erasure.Shard {
		shards := append([]erasure.Shard(nil), good[:n]...)
		for _, i := range liars {
			shards[i] = forgeShard(t, good[i])
		}
		return shards
	}
	tests := []struct {
		name      string
		shards    []erasure.Shard
		wantErr   error
		wantLiars []int
	}{
		{"all good", withLiars(4), nil, nil},
		{"one liar among data+1", withLiars(5, 1), nil, []int{1}},
		{"two liars among all", withLiars(8, 0, 5), nil, []int{0, 5}},
		{"one liar without spare", withLiars(4, 2), errIDMismatch, nil},
		{"too few", withLiars(3), erasure.ErrTooFewShards, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := decodeVerified(id, tt.shards)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("decodeVerified = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeVerified: %v", err)
			}
			if !bytes.Equal(res.data, data) {
				t.Fatal("decodeVerified returned different bytes")
			}
			if len(res.liars) != len(tt.wantLiars) {
				t.Fatalf("liars = %v, want %v", res.liars, tt.wantLiars)
			}
			for i := range res.liars {
				if res.liars[i] != tt.wantLiars[i] {
					t.Fatalf("liars = %v, want %v", res.liars, tt.wantLiars)
				}
			}
		})
	}
}

// TestLyingShardHolder makes one holder respond to every GetShard for
// one data shard with a shard of other data whose hash is valid. Reads
// must still return the value, and repair must rebuild only right shards.
func TestLyingShardHolder(t *testing.T) {
	c := newCluster(t, 6, smallParams(2, 2, 3))
	ctx := context.Background()
	gw := c.node(0)
	value := testValue(3*(64<<10)+100, 7)
	if _, err := gw.store.Put(ctx, "", "liar", "v", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatal(err)
	}

	// Find a data shard, which reads ask for first, on a node other
	// than the gateway, whose own holder it calls without the network.
	var (
		id    engine.ChunkID
		index int
		liar  *testNode
	)
	for _, n := range c.live()[1:] {
		err := n.shards.ScanShards(func(cid engine.ChunkID, x int) error {
			if x < 2 {
				id, index, liar = cid, x, n
				return engine.StopScan
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if liar != nil {
			break
		}
	}
	if liar == nil {
		t.Fatal("no node but the gateway holds a data shard")
	}
	real, err := liar.shards.Get(id, index)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := erasure.MarshalShard(forgeShard(t, real))
	if err != nil {
		t.Fatal(err)
	}
	liar.setIntercept(func(_ context.Context, msg wire.Message) wire.Message {
		if m, ok := msg.(*wire.GetShard); ok && m.Chunk == wire.Hash(id) && int(m.Index) == index {
			return &wire.ShardData{Shard: forged}
		}
		return nil
	})

	for round := range 2 {
		var got bytes.Buffer
		if _, err := gw.store.Get(ctx, "", "liar", "v", &got, GetOptions{}); err != nil {
			t.Fatalf("Get %d with a lying holder: %v", round, err)
		}
		if !bytes.Equal(got.Bytes(), value) {
			t.Fatalf("Get %d with a lying holder returned different bytes", round)
		}
	}

	// Kill an honest holder of the chunk, so that repair rebuilds its
	// shard from shards that may include the forged one.
	var victim *testNode
	for _, n := range c.live()[1:] {
		if held, _ := n.shards.List(id); len(held) > 0 && n != liar {
			victim = n
			break
		}
	}
	if victim == nil {
		t.Fatal("no honest holder of the chunk besides the gateway")
	}
	c.kill(victim)
	rep := repairAll(t, c)
	if rep.ShardsRebuilt == 0 {
		t.Fatalf("repair rebuilt nothing after a holder died: %+v", rep)
	}
	checkShardsBelong(t, c, id)
}

// checkShardsBelong checks that every shard of chunk id held anywhere is
// the one its chunk encodes to.
func checkShardsBelong(t *testing.T, c *testCluster, id engine.ChunkID) {
	t.Helper()
	var stored []erasure.Shard
	for _, n := range c.live() {
		indexes, err := n.shards.List(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range indexes {
			sh, err := n.shards.Get(id, x)
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, sh)
		}
	}
	res, err := decodeVerified(chunk.ID(id), distinctShards(stored))
	if err != nil {
		t.Fatalf("stored shards do not decode to the chunk: %v", err)
	}
	good, err := erasure.Encode(stored[0].Params, res.data)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range stored {
		if sh.Hash != good[sh.Index].Hash {
			t.Errorf("shard %d held after repair does not belong to the chunk", sh.Index)
		}
	}
}

func distinctShards(shards []erasure.Shard) []erasure.Shard {
	seen := make(map[int]bool)
	var out []erasure.Shard
	for _, sh := range shards {
		if !seen[sh.Index] {
			seen[sh.Index] = true
			out = append(out, sh)
		}
	}
	return out
}
