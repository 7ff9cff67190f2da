package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/yuinet/yui/network/wire"
)

// TestGetBatchReadsEveryKind writes packed, inline, chunked, large,
// deleted and missing records and reads them all with one GetBatch, on a
// healthy cluster and again after two of its eight nodes died.
func TestGetBatchReadsEveryKind(t *testing.T) {
	c := newCluster(t, 8, smallParams(4, 4, 5))
	ctx := context.Background()
	s := c.node(0).store

	want := map[string][]byte{}
	var batch []BatchRecord
	for i := range 300 {
		key := fmt.Sprintf("packed/%03d", i)
		want[key] = testValue(20+i%200, byte(i))
		batch = append(batch, BatchRecord{Key: key, Value: want[key]})
	}
	batch = append(batch, BatchRecord{Key: "packed/empty", Value: nil})
	want["packed/empty"] = []byte{}
	if _, err := s.PutBatch(ctx, "", "many", batch); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	put := func(key string, value []byte) {
		t.Helper()
		if _, err := s.Put(ctx, "", "many", key, bytes.NewReader(value), PutOptions{}); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	want["inline"] = testValue(300, 1)
	put("inline", want["inline"])
	want["chunked"] = testValue(20<<10, 2)
	put("chunked", want["chunked"])
	put("large", testValue(MaxBatchValue+1, 3))
	put("deleted", testValue(10, 4))
	if err := s.Delete(ctx, "", "many", "deleted"); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	keys := []string{"missing", "large", "deleted"}
	for k := range want {
		keys = append(keys, k)
	}
	check := func(stage string) {
		t.Helper()
		got, err := s.GetBatch(ctx, "", "many", keys)
		if err != nil {
			t.Fatalf("%s: GetBatch: %v", stage, err)
		}
		if len(got) != len(keys) {
			t.Fatalf("%s: GetBatch returned %d results for %d keys", stage, len(got), len(keys))
		}
		for i, k := range keys {
			checkBatchValue(t, stage, k, got[i], want[k])
		}
	}
	check("healthy")
	c.kill(c.live()[2:4]...)
	check("after two of eight died")
}

func checkBatchValue(t *testing.T, stage, key string, got BatchValue, want []byte) {
	t.Helper()
	switch key {
	case "missing", "deleted":
		if !errors.Is(got.Err, ErrNotFound) {
			t.Errorf("%s: %s: error %v, want ErrNotFound", stage, key, got.Err)
		}
		if deleted := errors.Is(got.Err, ErrDeleted); deleted != (key == "deleted") {
			t.Errorf("%s: %s: error %v is ErrDeleted: %v", stage, key, got.Err, deleted)
		}
	case "large":
		if !errors.Is(got.Err, ErrInvalid) {
			t.Errorf("%s: %s: error %v, want ErrInvalid for a value over MaxBatchValue", stage, key, got.Err)
		}
	default:
		if got.Err != nil {
			t.Errorf("%s: %s: %v", stage, key, got.Err)
			return
		}
		if !bytes.Equal(got.Value, want) {
			t.Errorf("%s: %s: %d bytes that differ from the %d written", stage, key, len(got.Value), len(want))
		}
		if got.Info.Key != key || got.Info.Size != uint64(len(want)) {
			t.Errorf("%s: %s: info names %q of %d bytes", stage, key, got.Info.Key, got.Info.Size)
		}
	}
}

// TestGetBatchRepairsHolders empties one directory holder and checks
// that a batched read stores the records on it again.
func TestGetBatchRepairsHolders(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	s := c.node(0).store
	var keys []string
	var batch []BatchRecord
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("k%02d", i))
		batch = append(batch, BatchRecord{Key: keys[i], Value: testValue(50, byte(i))})
	}
	if _, err := s.PutBatch(ctx, "", "heal", batch); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}

	var emptied *testNode
	for _, n := range c.live() {
		dirs, err := n.holder.heldDirs()
		if err != nil {
			t.Fatal(err)
		}
		if len(dirs) == 1 {
			if err := n.holder.dropDir(dirs[0]); err != nil {
				t.Fatal(err)
			}
			emptied = n
			break
		}
	}
	if emptied == nil {
		t.Fatal("no node holds the directory")
	}

	got, err := s.GetBatch(ctx, "", "heal", keys)
	if err != nil {
		t.Fatalf("GetBatch: %v", err)
	}
	for i, r := range got {
		if r.Err != nil || !bytes.Equal(r.Value, batch[i].Value) {
			t.Fatalf("%s: %v, %d bytes", keys[i], r.Err, len(r.Value))
		}
	}
	held := 0
	dirs, _ := emptied.holder.heldDirs()
	for _, d := range dirs {
		err := emptied.holder.scanDir(d.Namespace, d.Dir, wire.Hash{}, func(wire.Hash, *recordHead, *wire.Record) error {
			held++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if held != len(keys) {
		t.Errorf("emptied holder holds %d records after the read, want %d", held, len(keys))
	}
}
