package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/storage/engine"
)

// TestHoldersFollowPlacement writes a value inline, one cut into chunks
// and a batch packed into a segment, each in a namespace of its own. The
// eight nodes use a 2+1 code and two directory replicas, so most nodes
// hold none of a value. Holders must name the nodes the placement rule
// picks: the two closest to the namespace's directory shard for the
// inline value, and the three closest to each chunk the write stored
// for the others (one of the two a batch stores). The chunks are found on the holders, not from the
// store's own records. A write under load may leave spare copies on
// farther nodes (a hedged write), so the test compares with the rule
// rather than with every node holding a shard.
func TestHoldersFollowPlacement(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 8, smallParams(2, 1, 2))
	s := c.node(0).store

	if _, err := s.Put(ctx, "", "inline", "v", bytes.NewReader(testValue(100, 1)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got := holdersOf(t, s, "inline", []string{"v"})
	want := closestNodes(c, 2, DirectoryID("inline", 0))
	if !sameNodes(got[0], want) || len(dirHolders(t, c, "inline")) == 0 {
		t.Errorf("inline value: Holders = %v, want the directory's closest %v", short(got[0]), short(want))
	}

	before := heldChunks(t, c)
	if _, err := s.Put(ctx, "", "chunked", "v", bytes.NewReader(testValue(100<<10, 2)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	chunks := newChunks(t, c, before)
	want = closestNodes(c, 3, chunks...)
	got = holdersOf(t, s, "chunked", []string{"v"})
	if len(chunks) != 2 || !sameNodes(got[0], want) {
		t.Errorf("chunked value in %d chunks: Holders = %v, want the chunks' closest %v", len(chunks), short(got[0]), short(want))
	}

	before = heldChunks(t, c)
	batch := make([]BatchRecord, 5)
	keys := make([]string, len(batch))
	for i := range batch {
		keys[i] = fmt.Sprintf("docs/%d", i)
		batch[i] = BatchRecord{Key: keys[i], Value: testValue(40+i, byte(i))}
	}
	if _, err := s.PutBatch(ctx, "", "packed", batch); err != nil {
		t.Fatal(err)
	}
	// A batch stores two chunks: the segment of values and the segment
	// of the records' versions, which directory holders read. The values
	// are the bytes a reader fetches.
	chunks = newChunks(t, c, before)
	if len(chunks) != 2 {
		t.Fatalf("batch stored %d new chunks, want a value segment and a version segment", len(chunks))
	}
	for i, ids := range holdersOf(t, s, "packed", keys) {
		a, b := closestNodes(c, 3, chunks[0]), closestNodes(c, 3, chunks[1])
		if !sameNodes(ids, a) && !sameNodes(ids, b) {
			t.Errorf("packed record %s: Holders = %v, want the closest of one segment, %v or %v",
				keys[i], short(ids), short(a), short(b))
		}
	}
}

// TestHoldersOfMissingKey checks that a key with no record gets no
// holders and does not fail the call for the others.
func TestHoldersOfMissingKey(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 4, smallParams(2, 1, 2))
	s := c.node(0).store
	if _, err := s.Put(ctx, "", "ns", "here", bytes.NewReader([]byte("x")), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got := holdersOf(t, s, "ns", []string{"missing", "here"})
	if len(got[0]) != 0 || len(got[1]) != 2 {
		t.Errorf("Holders = %v, %v; want none for the missing key and two for the other", short(got[0]), short(got[1]))
	}
	if _, err := s.Holders(ctx, "", "ns", []string{""}); err == nil {
		t.Error("Holders accepted an empty key")
	}
}

func holdersOf(t *testing.T, s *Store, ns string, keys []string) [][]identity.NodeID {
	t.Helper()
	got, err := s.Holders(context.Background(), "", ns, keys)
	if err != nil {
		t.Fatalf("Holders in %q: %v", ns, err)
	}
	if len(got) != len(keys) {
		t.Fatalf("Holders returned %d lists for %d keys", len(got), len(keys))
	}
	return got
}

// dirHolders returns the nodes that hold a record of namespace ns.
func dirHolders(t *testing.T, c *testCluster, ns string) []identity.NodeID {
	t.Helper()
	var out []identity.NodeID
	for _, n := range c.live() {
		dirs, err := n.holder.heldDirs()
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(dirs, func(d dirRef) bool { return d.Namespace == ns }) {
			out = append(out, n.id.ID)
		}
	}
	return out
}

// heldChunks returns the chunks any node holds a shard of.
func heldChunks(t testing.TB, c *testCluster) map[engine.ChunkID]bool {
	t.Helper()
	held := make(map[engine.ChunkID]bool)
	for _, n := range c.live() {
		err := n.shards.ScanShards(func(id engine.ChunkID, _ int) error {
			held[id] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return held
}

// newChunks returns the chunks held now that were not held before.
func newChunks(t *testing.T, c *testCluster, before map[engine.ChunkID]bool) []identity.NodeID {
	t.Helper()
	var out []identity.NodeID
	for id := range heldChunks(t, c) {
		if !before[id] {
			out = append(out, identity.NodeID(id))
		}
	}
	return out
}

// closestNodes returns the union of the n nodes closest to each target.
func closestNodes(c *testCluster, n int, targets ...identity.NodeID) []identity.NodeID {
	var out []identity.NodeID
	for _, target := range targets {
		for _, cl := range sortByDistance(target, contactsOf(c.live()))[:n] {
			if !slices.Contains(out, cl.ID) {
				out = append(out, cl.ID)
			}
		}
	}
	return out
}

func sameNodes(a, b []identity.NodeID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !slices.Contains(b, id) {
			return false
		}
	}
	return true
}

func short(ids []identity.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Short()
	}
	return out
}
