package engine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuinet/yui/storage/erasure"
)

// rawSet writes value at key straight through the engine, bypassing the
// ShardStore's checks, to simulate damage on disk.
func rawSet(t *testing.T, e Engine, key, value []byte) {
	t.Helper()
	commit(t, e, Sync, func(b Batch) { b.Set(key, value) })
}

func TestShardStoreDetectsCorruptValue(t *testing.T) {
	id := chunkID("victim")
	shards := encodeChunk(t, erasure.Params{Data: 4, Parity: 2}, bytes.Repeat([]byte("0123456789"), 400))
	encoded := func(i int) []byte {
		b, err := erasure.MarshalShard(shards[i])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0x20
		return b
	}

	tests := []struct {
		name  string
		value []byte
	}{
		{"payload byte flipped", flip(encoded(2), len(encoded(2))-10)},
		{"chunk size flipped", flip(encoded(2), 6)},
		{"hash flipped", flip(encoded(2), 12)},
		{"truncated", encoded(2)[:100]},
		{"garbage", []byte("this is not a shard")},
		{"empty", []byte{}},
		{"shard of another index", encoded(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openMemory(t)
			s := newStore(t, db)
			if err := s.Put(id, shards[2]); err != nil {
				t.Fatal(err)
			}
			rawSet(t, db, shardKey(id, 2, shards[2].Params), tt.value)

			_, err := s.Get(id, 2)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), "shard 2 of chunk "+id.String()) {
				t.Errorf("error %q does not name the shard", err)
			}

			// Repair: the caller puts a good copy back.
			if err := s.Put(id, shards[2]); err != nil {
				t.Fatalf("Put to repair: %v", err)
			}
			if _, err := s.Get(id, 2); err != nil {
				t.Errorf("Get after repair: %v", err)
			}
		})
	}
}

// TestShardStoreDetectsCorruptTable damages a shard inside a Pebble table
// file while the store is open, as a failing disk would, and Pebble's block
// checksum detects it.
func TestShardStoreDetectsCorruptTable(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	s := newStore(t, db)
	id := chunkID("on disk")
	// Random bytes, so that Pebble stores them uncompressed and the test
	// can find them in the file. 8 KiB keeps Pebble's search for a flipped
	// bit short (see readError).
	data := make([]byte, 8<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	shard := encodeChunk(t, erasure.Replication(2), data)[1]
	if err := s.Put(id, shard); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}

	flipInTable(t, dir, data[4000:4032])

	_, err := s.Get(id, 1)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "shard 1 of chunk "+id.String()) {
		t.Errorf("error %q does not name the shard", err)
	}
}

// flipInTable finds needle in one of the store's table files and flips a
// bit in the middle of it.
func flipInTable(t *testing.T, dir string, needle []byte) {
	t.Helper()
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range tables {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		at := bytes.Index(b, needle)
		if at < 0 {
			continue
		}
		b[at+len(needle)/2] ^= 0x04
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("none of the %d table files in %s contains the shard's bytes", len(tables), dir)
}
