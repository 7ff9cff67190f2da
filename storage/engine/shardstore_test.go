package engine

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/yuinet/yui/storage/erasure"
)

func newStore(t testing.TB, e Engine) *ShardStore {
	t.Helper()
	s, err := NewShardStore(e)
	if err != nil {
		t.Fatalf("NewShardStore: %v", err)
	}
	return s
}

func chunkID(name string) ChunkID { return ChunkID(sha256.Sum256([]byte(name))) }

func encodeChunk(t testing.TB, p erasure.Params, data []byte) []erasure.Shard {
	t.Helper()
	shards, err := erasure.Encode(p, data)
	if err != nil {
		t.Fatal(err)
	}
	return shards
}

func encodedSize(t testing.TB, s erasure.Shard) int64 {
	t.Helper()
	b, err := erasure.MarshalShard(s)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b))
}

// recount computes Usage from the stored keys, to check the counters.
func recount(t testing.TB, e Engine) Usage {
	t.Helper()
	var u Usage
	err := e.Scan(nil, nil, func(key, value []byte) error {
		switch key[0] {
		case prefixShard:
			u.Shards++
			u.ShardBytes += int64(len(value))
		case prefixHeader, prefixTombstone:
			u.MetaEntries++
			u.MetaBytes += int64(len(value))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func checkUsage(t testing.TB, s *ShardStore, e Engine, want Usage) {
	t.Helper()
	if got := s.Usage(); got != want {
		t.Errorf("Usage() = %+v, want %+v", got, want)
	}
	if got := recount(t, e); got != want {
		t.Errorf("stored keys add up to %+v, want %+v", got, want)
	}
}

func TestShardStorePutGet(t *testing.T) {
	db := openMemory(t)
	s := newStore(t, db)
	id := chunkID("chunk")
	shards := encodeChunk(t, erasure.Params{Data: 4, Parity: 2}, bytes.Repeat([]byte("data"), 1000))

	var want Usage
	for _, sh := range shards {
		if err := s.Put(id, sh); err != nil {
			t.Fatalf("Put shard %d: %v", sh.Index, err)
		}
		want.Shards++
		want.ShardBytes += encodedSize(t, sh)
	}
	for _, sh := range shards {
		got, err := s.Get(id, sh.Index)
		if err != nil {
			t.Fatalf("Get shard %d: %v", sh.Index, err)
		}
		if !reflect.DeepEqual(got, sh) {
			t.Errorf("shard %d differs after Put and Get", sh.Index)
		}
	}
	checkUsage(t, s, db, want)

	indexes, err := s.List(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(indexes, want) {
		t.Errorf("List = %v, want %v", indexes, want)
	}
	other, err := s.List(chunkID("other"))
	if err != nil || len(other) != 0 {
		t.Errorf("List(other chunk) = %v, %v; want nothing", other, err)
	}
}

func TestShardStoreOverwriteAndDelete(t *testing.T) {
	db := openMemory(t)
	s := newStore(t, db)
	id := chunkID("c")
	small := encodeChunk(t, erasure.Replication(2), []byte("small"))[0]
	large := encodeChunk(t, erasure.Replication(2), bytes.Repeat([]byte("L"), 500))[0]

	for _, sh := range []erasure.Shard{small, large, large} {
		if err := s.Put(id, sh); err != nil {
			t.Fatal(err)
		}
	}
	checkUsage(t, s, db, Usage{Shards: 1, ShardBytes: encodedSize(t, large)})

	if err := s.Delete(id, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(id, 0); err != nil {
		t.Errorf("deleting a missing shard = %v, want nil", err)
	}
	checkUsage(t, s, db, Usage{})
	if _, err := s.Get(id, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
}

func TestShardStoreGetMissing(t *testing.T) {
	s := newStore(t, openMemory(t))
	id := chunkID("absent")
	_, err := s.Get(id, 3)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "shard 3 of chunk "+id.String()) {
		t.Errorf("error %q does not name the shard", err)
	}
}

func TestShardStoreRejects(t *testing.T) {
	s := newStore(t, openMemory(t))
	id := chunkID("c")
	damaged := encodeChunk(t, erasure.Params{Data: 2, Parity: 1}, []byte("abcdef"))[1]
	damaged.Payload = bytes.Clone(damaged.Payload)
	damaged.Payload[0] ^= 1

	if err := s.Put(id, damaged); !errors.Is(err, ErrInvalid) || !errors.Is(err, erasure.ErrCorrupt) {
		t.Errorf("Put(damaged shard) = %v, want ErrInvalid and erasure.ErrCorrupt", err)
	}
	if _, err := s.Get(id, -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get(index -1) = %v, want ErrInvalid", err)
	}
	if _, err := s.Get(id, erasure.MaxShards); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get(index %d) = %v, want ErrInvalid", erasure.MaxShards, err)
	}
	if err := s.Delete(id, 1<<16); !errors.Is(err, ErrInvalid) {
		t.Errorf("Delete(index 65536) = %v, want ErrInvalid", err)
	}
}

func TestShardStoreScanShards(t *testing.T) {
	s := newStore(t, openMemory(t))
	ids := []ChunkID{chunkID("x"), chunkID("y")}
	for _, id := range ids {
		for _, sh := range encodeChunk(t, erasure.Params{Data: 2, Parity: 1}, []byte(id.String())) {
			if err := s.Put(id, sh); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.PutMeta(MetaHeader, []byte("h"), []byte("not a shard")); err != nil {
		t.Fatal(err)
	}

	var got []string
	err := s.ScanShards(func(id ChunkID, index int) error {
		got = append(got, fmt.Sprintf("%s/%d", id.String()[:4], index))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	slices.SortFunc(ids, func(a, b ChunkID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		for i := range 3 {
			want = append(want, fmt.Sprintf("%s/%d", id.String()[:4], i))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ScanShards visited %v, want %v", got, want)
	}
}

func TestShardStoreMeta(t *testing.T) {
	db := openMemory(t)
	s := newStore(t, db)
	mustPut := func(kind MetaKind, key, value string) {
		t.Helper()
		if err := s.PutMeta(kind, []byte(key), []byte(value)); err != nil {
			t.Fatalf("PutMeta(%v, %q): %v", kind, key, err)
		}
	}
	mustPut(MetaHeader, "rec1", "signed header 1")
	mustPut(MetaHeader, "rec2", "signed header 2")
	mustPut(MetaTombstone, "rec1", "deleted")
	mustPut(MetaHeader, "rec2", "header 2, replaced")

	got, err := s.GetMeta(MetaHeader, []byte("rec1"))
	if err != nil || string(got) != "signed header 1" {
		t.Errorf("GetMeta(header rec1) = %q, %v", got, err)
	}
	got, err = s.GetMeta(MetaTombstone, []byte("rec1"))
	if err != nil || string(got) != "deleted" {
		t.Errorf("GetMeta(tombstone rec1) = %q, %v; the keyspaces must be separate", got, err)
	}

	var headers []string
	err = s.ScanMeta(MetaHeader, func(key, value []byte) error {
		headers = append(headers, string(key)+"="+string(value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"rec1=signed header 1", "rec2=header 2, replaced"}; !slices.Equal(headers, want) {
		t.Errorf("ScanMeta(header) = %q, want %q", headers, want)
	}
	checkUsage(t, s, db, Usage{MetaEntries: 3, MetaBytes: int64(len("signed header 1") + len("header 2, replaced") + len("deleted"))})

	if err := s.DeleteMeta(MetaHeader, []byte("rec1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeta(MetaHeader, []byte("rec1")); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetMeta after DeleteMeta = %v, want ErrNotFound", err)
	}
	checkUsage(t, s, db, Usage{MetaEntries: 2, MetaBytes: int64(len("header 2, replaced") + len("deleted"))})
}

func TestShardStoreMetaEmptyValue(t *testing.T) {
	db := openMemory(t)
	s := newStore(t, db)
	if err := s.PutMeta(MetaTombstone, []byte("k"), nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMeta(MetaTombstone, []byte("k"))
	if err != nil || len(got) != 0 {
		t.Errorf("GetMeta = %q, %v; want an empty value", got, err)
	}
	checkUsage(t, s, db, Usage{MetaEntries: 1})
}

func TestShardStoreMetaRejects(t *testing.T) {
	s := newStore(t, openMemory(t))
	tests := []struct {
		name       string
		kind       MetaKind
		key, value []byte
	}{
		{"unknown kind", MetaKind('s'), []byte("k"), nil},
		{"empty key", MetaHeader, nil, nil},
		{"long key", MetaHeader, make([]byte, MaxMetaKeySize+1), nil},
		{"large value", MetaTombstone, []byte("k"), make([]byte, MaxMetaValueSize+1)},
	}
	for _, tt := range tests {
		if err := s.PutMeta(tt.kind, tt.key, tt.value); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutMeta = %v, want ErrInvalid", tt.name, err)
		}
	}
	if err := s.ScanMeta(MetaKind('s'), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("ScanMeta(shard prefix) = %v, want ErrInvalid", err)
	}
}

func TestShardStoreUsageSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	s := newStore(t, db)
	sh := encodeChunk(t, erasure.Params{Data: 2, Parity: 1}, []byte("persist me"))[2]
	if err := s.Put(chunkID("p"), sh); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(MetaHeader, []byte("r"), []byte("hdr")); err != nil {
		t.Fatal(err)
	}
	want := s.Usage()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDisk(t, dir)
	s = newStore(t, db)
	checkUsage(t, s, db, want)
	if _, err := s.Get(chunkID("p"), 2); err != nil {
		t.Errorf("Get after reopen: %v", err)
	}
}

func TestShardStoreConcurrentWrites(t *testing.T) {
	db := openDisk(t, t.TempDir())
	s := newStore(t, db)
	p := erasure.Params{Data: 2, Parity: 1}

	// Eight goroutines write, overwrite and delete shards of four chunks,
	// so several of them race on the same keys.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				id := chunkID(fmt.Sprint(i % 4))
				shards := encodeChunk(t, p, bytes.Repeat([]byte{byte(g)}, 10+g*i))
				sh := shards[i%3]
				var err error
				if (g+i)%5 == 0 {
					err = s.Delete(id, sh.Index)
				} else {
					err = s.Put(id, sh)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()

	want := recount(t, db)
	if got := s.Usage(); got != want {
		t.Errorf("Usage() = %+v, stored keys add up to %+v", got, want)
	}
	reopened := newStore(t, db)
	if got := reopened.Usage(); got != want {
		t.Errorf("persisted counters = %+v, stored keys add up to %+v", got, want)
	}
}

func TestShardStoreFormat(t *testing.T) {
	db := openMemory(t)
	commit(t, db, Sync, func(b Batch) { b.Set([]byte("zz"), []byte("foreign")) })
	_, err := NewShardStore(db)
	if err == nil {
		t.Fatal("NewShardStore accepted an engine with foreign data")
	}
	if !strings.Contains(err.Error(), "no format version") {
		t.Errorf("NewShardStore on foreign data = %v, want a missing format error", err)
	}

	db = openMemory(t)
	newStore(t, db)
	commit(t, db, Sync, func(b Batch) { b.Set(formatKey, encodeInt64(3)) })
	_, err = NewShardStore(db)
	if err == nil {
		t.Fatal("NewShardStore accepted store format 3")
	}
	if !strings.Contains(err.Error(), "format 3") {
		t.Errorf("NewShardStore on format 3 = %v, want it to name the format", err)
	}
}

// TestShardStoreAnotherCode puts shard 1 of a chunk coded two ways: the
// second replaces the first, and the listing names its code.
func TestShardStoreAnotherCode(t *testing.T) {
	db := openMemory(t)
	s := newStore(t, db)
	id := chunkID("c")
	data := bytes.Repeat([]byte("two codes"), 100)
	a := encodeChunk(t, erasure.Params{Data: 4, Parity: 2}, data)
	b := encodeChunk(t, erasure.Params{Data: 3, Parity: 2}, data)
	for _, sh := range []erasure.Shard{a[0], a[1], b[1]} {
		if err := s.Put(id, sh); err != nil {
			t.Fatal(err)
		}
	}
	checkUsage(t, s, db, Usage{Shards: 2, ShardBytes: encodedSize(t, a[0]) + encodedSize(t, b[1])})
	refs, err := s.ListCodes(id)
	if err != nil {
		t.Fatal(err)
	}
	want := []ShardRef{{0, a[0].Params}, {1, b[1].Params}}
	if !slices.Equal(refs, want) {
		t.Errorf("ListCodes = %v, want %v", refs, want)
	}
	got, err := s.Get(id, 1)
	if err != nil || got.Hash != b[1].Hash {
		t.Errorf("Get(1) = shard of %v, %v; want the second put, of %v", got.Params, err, b[1].Params)
	}

	// Deleting by code leaves a shard of another code.
	if err := s.DeleteCode(id, 1, a[1].Params); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(id, 1); err != nil {
		t.Errorf("DeleteCode of code %v removed the shard of code %v: %v", a[1].Params, b[1].Params, err)
	}
	if err := s.DeleteCode(id, 1, b[1].Params); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, s, db, Usage{Shards: 1, ShardBytes: encodedSize(t, a[0])})
}

// TestShardStoreReadsFormat1 opens a store that format 1 wrote, with a
// shard key without its code: the store is marked format 2, the shard
// reads and lists with an unknown code, and a Put at its index replaces
// it with the counters kept exact.
func TestShardStoreReadsFormat1(t *testing.T) {
	db := openMemory(t)
	id := chunkID("old")
	data := []byte("written by format 1")
	a := encodeChunk(t, erasure.Params{Data: 2, Parity: 1}, data)
	b := encodeChunk(t, erasure.Params{Data: 1, Parity: 1}, data)
	value, err := erasure.MarshalShard(a[0])
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, Sync, func(bt Batch) {
		bt.Set(formatKey, encodeInt64(1))
		bt.Set(indexPrefix(id, 0), value)
		bt.AddInt64(counterShards, 1)
		bt.AddInt64(counterShardBytes, int64(len(value)))
	})
	s := newStore(t, db)
	if v, err := db.Get(formatKey); err != nil || !bytes.Equal(v, encodeInt64(2)) {
		t.Errorf("format after open = %x, %v; want 2", v, err)
	}
	if got, err := s.Get(id, 0); err != nil || got.Hash != a[0].Hash {
		t.Fatalf("Get of a format 1 shard = %v", err)
	}
	if refs, err := s.List(id); err != nil || !slices.Equal(refs, []int{0}) {
		t.Errorf("List = %v, %v; want index 0", refs, err)
	}
	refs, err := s.ListCodes(id)
	if err != nil || !slices.Equal(refs, []ShardRef{{0, a[0].Params}}) {
		t.Errorf("ListCodes = %v, %v; want index 0 coded %v", refs, err, a[0].Params)
	}
	if _, err := db.Get(shardKey(id, 0, a[0].Params)); err != nil {
		t.Errorf("the listed shard is not stored again under a key with its code: %v", err)
	}
	checkUsage(t, s, db, Usage{Shards: 1, ShardBytes: int64(len(value))})
	if err := s.Put(id, b[0]); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, s, db, Usage{Shards: 1, ShardBytes: encodedSize(t, b[0])})
	if got, err := s.Get(id, 0); err != nil || got.Params != b[0].Params {
		t.Errorf("Get after Put = %v, %v; want code %v", got.Params, err, b[0].Params)
	}
}
