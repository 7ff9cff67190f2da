package search

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/store"
)

func newTestIndex(t *testing.T, tier store.Tier) *Index {
	t.Helper()
	eng, err := engine.OpenInMemory(engine.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	x, err := NewIndex(IndexConfig{Engine: eng, Tier: func() store.Tier { return tier }, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestIndexPagesThroughEntries(t *testing.T) {
	x := newTestIndex(t, store.Upper)
	ctx := context.Background()
	token, other := wire.Hash{7}, wire.Hash{8}
	const total = 2500
	for start := 0; start < total; start += wire.MaxIndexPostings {
		var posts []wire.IndexPosting
		for i := start; i < min(total, start+wire.MaxIndexPostings); i++ {
			posts = append(posts, wire.IndexPosting{Token: token, Entry: fmt.Appendf(nil, "entry %d", i)})
		}
		// Another token and a repeat of the first entry must not show.
		posts = append(posts[:len(posts)-1], wire.IndexPosting{Token: other, Entry: []byte("other")})
		if resp := x.HandleMessage(ctx, transport.Peer{}, &wire.IndexAdd{Namespace: "ns", Postings: posts}); resp.Type() != wire.TypeAck {
			t.Fatalf("IndexAdd: %+v", resp)
		}
	}
	x.HandleMessage(ctx, transport.Peer{}, &wire.IndexAdd{Namespace: "ns", Postings: []wire.IndexPosting{{Token: token, Entry: []byte("entry 0")}}})
	x.HandleMessage(ctx, transport.Peer{}, &wire.IndexAdd{Namespace: "other-ns", Postings: []wire.IndexPosting{{Token: token, Entry: []byte("elsewhere")}}})

	seen := make(map[string]bool)
	msg := &wire.IndexLookup{Namespace: "ns", Token: token, Limit: 1000}
	pages := 0
	for {
		resp, ok := x.HandleMessage(ctx, transport.Peer{}, msg).(*wire.IndexEntries)
		if !ok {
			t.Fatal("IndexLookup did not return entries")
		}
		pages++
		for _, e := range resp.Entries {
			if seen[string(e)] {
				t.Fatalf("entry %q returned twice", e)
			}
			seen[string(e)] = true
		}
		if len(resp.Next) == 0 {
			break
		}
		msg = &wire.IndexLookup{Namespace: "ns", Token: token, After: resp.Next, Limit: 1000}
	}
	// Each of the three adds replaced its last entry with another token's.
	if want := total - 3; len(seen) != want {
		t.Errorf("lookup returned %d entries, want %d", len(seen), want)
	}
	if seen["other"] || seen["elsewhere"] {
		t.Error("lookup returned an entry of another token or namespace")
	}
	if pages != 3 {
		t.Errorf("lookup took %d pages of 1000, want 3", pages)
	}
}

func TestIndexRejects(t *testing.T) {
	ctx := context.Background()
	lower := newTestIndex(t, store.Middle)
	add := &wire.IndexAdd{Namespace: "ns", Postings: []wire.IndexPosting{{Entry: []byte{1}}}}
	if e, ok := lower.HandleMessage(ctx, transport.Peer{}, add).(*wire.Error); !ok || e.Code != wire.CodeNotHolder {
		t.Errorf("add at a middle-tier node: %+v, want CodeNotHolder", e)
	}
	upper := newTestIndex(t, store.Upper)
	bad := &wire.IndexLookup{Namespace: "ns", After: []byte("short")}
	if e, ok := upper.HandleMessage(ctx, transport.Peer{}, bad).(*wire.Error); !ok || e.Code != wire.CodeBadRequest {
		t.Errorf("lookup with a cursor of the wrong length: %+v, want CodeBadRequest", e)
	}
	if resp := upper.HandleMessage(ctx, transport.Peer{}, &wire.Ping{}); resp != nil {
		t.Errorf("a ping to the index returned %+v, want nil", resp)
	}
}

// addPostings stores postings through the holder's message handler.
func addPostings(t *testing.T, x *Index, ns string, posts []wire.IndexPosting) {
	t.Helper()
	resp := x.HandleMessage(context.Background(), transport.Peer{}, &wire.IndexAdd{Namespace: ns, Postings: posts})
	if resp.Type() != wire.TypeAck {
		t.Fatalf("IndexAdd: %+v", resp)
	}
}

func TestIndexSyncComparesDigests(t *testing.T) {
	ctx := context.Background()
	a, b := newTestIndex(t, store.Upper), newTestIndex(t, store.Upper)
	// Partition 5, buckets 1 and 2, and a posting of partition 6 that
	// must not count.
	posts := []wire.IndexPosting{
		{Token: wire.Hash{5, 1}, Entry: []byte("one")},
		{Token: wire.Hash{5, 1, 9}, Entry: []byte("two")},
		{Token: wire.Hash{5, 2}, Entry: []byte("three")},
		{Token: wire.Hash{6}, Entry: []byte("elsewhere")},
	}
	addPostings(t, a, "ns", posts)
	// b gets the same postings twice and in another order: a posting added
	// again is still one posting.
	addPostings(t, b, "ns", []wire.IndexPosting{posts[2], posts[0]})
	addPostings(t, b, "ns", posts)

	da, err := a.digest("ns", 5)
	if err != nil {
		t.Fatal(err)
	}
	if da.count != 3 {
		t.Errorf("partition 5 counts %d postings, want 3", da.count)
	}
	if da.buckets[1].Count != 2 || da.buckets[2].Count != 1 {
		t.Errorf("buckets 1 and 2 count %d and %d postings, want 2 and 1", da.buckets[1].Count, da.buckets[2].Count)
	}
	sync := &wire.IndexSync{Namespace: "ns", Partition: 5, Count: da.count, Digest: da.digest}
	resp, ok := b.HandleMessage(ctx, transport.Peer{}, sync).(*wire.IndexBuckets)
	if !ok || len(resp.Buckets) != 0 {
		t.Fatalf("IndexSync to a holder with the same postings: %+v, want no buckets", resp)
	}

	addPostings(t, b, "ns", []wire.IndexPosting{{Token: wire.Hash{5, 2}, Entry: []byte("four")}})
	resp, ok = b.HandleMessage(ctx, transport.Peer{}, sync).(*wire.IndexBuckets)
	if !ok || len(resp.Buckets) != wire.IndexBucketCount {
		t.Fatalf("IndexSync to a holder with another posting: %+v, want %d buckets", resp, wire.IndexBucketCount)
	}
	for i, bucket := range resp.Buckets {
		if differs := bucket != da.buckets[i]; differs != (i == 2) {
			t.Errorf("bucket %d differs: %v, want %v", i, differs, i == 2)
		}
	}
}

func TestIndexListPagesThroughBucket(t *testing.T) {
	ctx := context.Background()
	x := newTestIndex(t, store.Upper)
	const total = 2500
	var posts []wire.IndexPosting
	for i := range total {
		posts = append(posts, wire.IndexPosting{Token: wire.Hash{9, 4, byte(i % 7)}, Entry: fmt.Appendf(nil, "entry %d", i)})
	}
	posts = append(posts, wire.IndexPosting{Token: wire.Hash{9, 5}, Entry: []byte("next bucket")})
	for batch := range slices.Chunk(posts, wire.MaxIndexPostings) {
		addPostings(t, x, "ns", batch)
	}

	seen := make(map[string]bool)
	msg := &wire.IndexList{Namespace: "ns", Partition: 9, Bucket: 4, Limit: 1000}
	pages := 0
	for {
		resp, ok := x.HandleMessage(ctx, transport.Peer{}, msg).(*wire.IndexKeys)
		if !ok {
			t.Fatal("IndexList did not return keys")
		}
		pages++
		for _, k := range resp.Keys {
			if k[0] != 9 || k[1] != 4 {
				t.Fatalf("key %x is outside bucket 4 of partition 9", k)
			}
			if seen[string(k)] {
				t.Fatalf("key %x returned twice", k)
			}
			seen[string(k)] = true
			entry, err := x.entry("ns", k)
			if err != nil {
				t.Fatalf("entry of listed key %x: %v", k, err)
			}
			if id := sha256.Sum256(entry); !bytes.Equal(id[:entryIDLen], k[32:]) {
				t.Fatalf("entry of key %x has another ID", k)
			}
		}
		if len(resp.Next) == 0 {
			break
		}
		msg = &wire.IndexList{Namespace: "ns", Partition: 9, Bucket: 4, After: resp.Next, Limit: 1000}
	}
	if len(seen) != total {
		t.Errorf("list returned %d keys, want %d", len(seen), total)
	}
	if pages != 3 {
		t.Errorf("list took %d pages of 1000, want 3", pages)
	}

	outside := &wire.IndexList{Namespace: "ns", Partition: 9, Bucket: 4, After: make([]byte, wire.IndexKeySize)}
	if e, ok := x.HandleMessage(ctx, transport.Peer{}, outside).(*wire.Error); !ok || e.Code != wire.CodeBadRequest {
		t.Errorf("list with a cursor outside the bucket: %+v, want CodeBadRequest", e)
	}
	lower := newTestIndex(t, store.Middle)
	if e, ok := lower.HandleMessage(ctx, transport.Peer{}, &wire.IndexSync{Namespace: "ns"}).(*wire.Error); !ok || e.Code != wire.CodeNotHolder {
		t.Errorf("sync at a middle-tier node: %+v, want CodeNotHolder", e)
	}
}
