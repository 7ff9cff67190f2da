package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	c := newCluster(t, 5, smallParams(2, 2, 3))
	ctx := context.Background()
	for i, size := range []int{0, 100, InlineMax, InlineMax + 1, 64 << 10, 5 << 20} {
		t.Run(sizeName(size), func(t *testing.T) {
			value := testValue(size, byte(i))
			key := "value/" + sizeName(size)
			info, err := c.node(0).store.Put(ctx, "", "rt", key, bytes.NewReader(value), PutOptions{ContentType: "application/octet-stream"})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if info.Size != uint64(size) {
				t.Errorf("Put info size = %d, want %d", info.Size, size)
			}
			var got bytes.Buffer
			rinfo, err := c.node(0).store.Get(ctx, "", "rt", key, &got, GetOptions{})
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got.Bytes(), value) {
				t.Fatalf("Get returned %d bytes that differ from the %d written", got.Len(), size)
			}
			if rinfo.Version != info.Version || rinfo.ContentType != "application/octet-stream" {
				t.Errorf("Get info = %+v, want version %d and the content type", rinfo, info.Version)
			}
		})
	}
}

func TestOverwriteDeleteList(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	s := c.node(1).store
	put := func(key, value string) {
		t.Helper()
		if _, err := s.Put(ctx, "", "docs", key, bytes.NewReader([]byte(value)), PutOptions{}); err != nil {
			t.Fatalf("Put %q: %v", key, err)
		}
	}
	get := func(key string) (string, error) {
		var b bytes.Buffer
		_, err := s.Get(ctx, "", "docs", key, &b, GetOptions{})
		return b.String(), err
	}

	put("a/1", "first")
	put("a/1", "second")
	if got, err := get("a/1"); err != nil || got != "second" {
		t.Fatalf("after overwrite Get = %q, %v; want second", got, err)
	}
	put("a/2", "x")
	put("b/1", "y")

	list, err := s.List(ctx, "", "docs", "a/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "a/1" || list[1].Key != "a/2" {
		t.Fatalf("List a/ = %+v, want a/1 and a/2", list)
	}

	if err := s.Delete(ctx, "", "docs", "a/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := get("a/1"); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrDeleted) {
		t.Fatalf("Get after delete = %v, want ErrDeleted, which is also ErrNotFound", err)
	}
	if err := s.Delete(ctx, "", "docs", "a/1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	list, err = s.List(ctx, "", "docs", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "a/2" || list[1].Key != "b/1" {
		t.Fatalf("List after delete = %+v, want a/2 and b/1", list)
	}

	// Another gateway of the cluster reads with the same user's keys
	// only if it holds them; here it has its own default user.
	var b bytes.Buffer
	if _, err := c.node(2).store.Get(ctx, "", "docs", "a/2", &b, GetOptions{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("Get by another node's user = %v, want ErrForbidden", err)
	}
}

func TestPutBatch(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	s := c.node(0).store
	var records []BatchRecord
	for i := range 300 {
		records = append(records, BatchRecord{Key: "reading/" + sizeName(i), Value: testValue(i*13%4000, byte(i)), ContentType: "text/csv"})
	}
	infos, err := s.PutBatch(ctx, "", "sensors", records)
	if err != nil {
		t.Fatalf("PutBatch: %v", err)
	}
	if len(infos) != len(records) {
		t.Fatalf("PutBatch returned %d infos, want %d", len(infos), len(records))
	}
	for _, r := range records[:40] {
		var b bytes.Buffer
		info, err := s.Get(ctx, "", "sensors", r.Key, &b, GetOptions{})
		if err != nil {
			t.Fatalf("Get %q: %v", r.Key, err)
		}
		if !bytes.Equal(b.Bytes(), r.Value) || info.ContentType != "text/csv" {
			t.Fatalf("Get %q returned %d bytes (%q), want the %d written", r.Key, b.Len(), info.ContentType, len(r.Value))
		}
	}
	list, err := s.List(ctx, "", "sensors", "reading/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(records) {
		t.Errorf("List returned %d records, want %d", len(list), len(records))
	}
}

// TestDefaultChunksOnFewNodes writes a value of full 1 MiB chunks to two
// nodes, where the scaled code is replication and a sealed chunk exceeds
// one shard.
func TestDefaultChunksOnFewNodes(t *testing.T) {
	c := newCluster(t, 2, DefaultNamespaceParams())
	ctx := context.Background()
	value := testValue(2<<20+5, 4)
	if _, err := c.node(0).store.Put(ctx, "", "few", "v", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	var got bytes.Buffer
	if _, err := c.node(1).store.Get(ctx, "", "few", "v", &got, GetOptions{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Get by another node's default user = %v, want ErrForbidden", err)
	}
	if _, err := c.node(0).store.Get(ctx, "", "few", "v", &got, GetOptions{}); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Fatal("Get returned different bytes")
	}
}
