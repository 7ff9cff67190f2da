package store

import (
	"bytes"
	"sync"
	"testing"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
)

func newTestMetaStore(t *testing.T) metaStore {
	t.Helper()
	eng, err := engine.OpenInMemory(engine.Options{Logger: quietLogger(), CacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	shards, err := engine.NewShardStore(eng)
	if err != nil {
		t.Fatal(err)
	}
	return metaStore{s: shards, eng: eng, tables: new(sync.Map)}
}

// TestPackedHeadCompact checks that a packed head is stored in
// compactHeadLen bytes, since every record of a batch keeps one on each
// of its R directory holders, and that it reads back whole.
func TestPackedHeadCompact(t *testing.T) {
	m := newTestMetaStore(t)
	writer := bytes.Repeat([]byte{7}, 32)
	key := recordKey("ns", 3, wire.Hash{9})
	head := &recordHead{Version: 1<<40 + 5, Writer: writer, Packed: &wire.PackedRef{Segment: wire.Hash{1, 2, 3}, Index: 499}}
	if err := m.putHead(key, head); err != nil {
		t.Fatal(err)
	}

	raw, err := m.s.GetMeta(engine.MetaHeader, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != compactHeadLen {
		t.Errorf("packed head takes %d bytes, want %d", len(raw), compactHeadLen)
	}
	got, err := m.getHead(key)
	if err != nil {
		t.Fatal(err)
	}
	checkHead(t, got, head)
}

// TestPackedHeadCBOR checks the heads that keep the CBOR form: a packed
// head with wrapped keys a grant added, and one stored in the CBOR form
// before the compact form existed.
func TestPackedHeadCBOR(t *testing.T) {
	m := newTestMetaStore(t)
	writer := bytes.Repeat([]byte{7}, 32)
	ref := &wire.PackedRef{Segment: wire.Hash{4, 5, 6}, Index: 12}

	granted := &recordHead{Version: 77, Writer: writer, Packed: ref,
		Wraps: []wire.Wrap{{Reader: wire.Hash{8}, Key: []byte("wrapped key")}}}
	key := recordKey("ns", 0, wire.Hash{1})
	if err := m.putHead(key, granted); err != nil {
		t.Fatal(err)
	}
	got, err := m.getHead(key)
	if err != nil {
		t.Fatal(err)
	}
	checkHead(t, got, granted)

	old := &recordHead{Version: 78, Writer: writer, Packed: ref}
	tk, err := m.ensureTable(ref.Segment, writer)
	if err != nil {
		t.Fatal(err)
	}
	b, err := marshal("record head", &storedHead{Version: old.Version, Table: tk, Index: ref.Index})
	if err != nil {
		t.Fatal(err)
	}
	key = recordKey("ns", 0, wire.Hash{2})
	if err := m.s.PutMeta(engine.MetaHeader, key, b); err != nil {
		t.Fatal(err)
	}
	if got, err = m.getHead(key); err != nil {
		t.Fatalf("head in the CBOR form: %v", err)
	}
	checkHead(t, got, old)
}

func checkHead(t *testing.T, got, want *recordHead) {
	t.Helper()
	if got.Version != want.Version {
		t.Errorf("version = %d, want %d", got.Version, want.Version)
	}
	if !bytes.Equal(got.Writer, want.Writer) {
		t.Errorf("writer = %x, want %x", got.Writer, want.Writer)
	}
	if got.Packed == nil || *got.Packed != *want.Packed {
		t.Errorf("packed reference = %+v, want %+v", got.Packed, want.Packed)
	}
	if got.Tombstone || got.Expiry != 0 || got.Blob != nil {
		t.Errorf("packed head read back as tombstone %v, expiry %d, blob %v", got.Tombstone, got.Expiry, got.Blob)
	}
	if len(got.Wraps) != len(want.Wraps) {
		t.Fatalf("wrapped keys = %v, want %v", got.Wraps, want.Wraps)
	}
	for i := range got.Wraps {
		if got.Wraps[i].Reader != want.Wraps[i].Reader || !bytes.Equal(got.Wraps[i].Key, want.Wraps[i].Key) {
			t.Errorf("wrapped key %d = %+v, want %+v", i, got.Wraps[i], want.Wraps[i])
		}
	}
}
