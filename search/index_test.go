package search

import (
	"context"
	"fmt"
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
