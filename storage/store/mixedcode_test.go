package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// twoCodes is a chunk written twice with different codes, as a retried
// write under load writes it when the gateway finds fewer holders the
// second time.
type twoCodes struct {
	id     engine.ChunkID
	value  []byte
	reader *testNode
	// codes maps each code to the nodes holding each of its indexes.
	codes map[erasure.Params]map[int][]*testNode
}

// writeTwoCodes writes a one-chunk value on a 12-node cluster coded 6+2,
// then hides from lookups all nodes but the writer and the five closest
// to the chunk after the three closest, and writes the same value again:
// the chunk ID is the same, and the six holders found code it 4+2. The
// hidden nodes then come back, the closest with shards of the first code.
// A reader that finds eight holders or more again first guesses 6+2.
func writeTwoCodes(t *testing.T) (*testCluster, *twoCodes) {
	t.Helper()
	ctx := context.Background()
	c := newCluster(t, 12, smallParams(6, 2, 3))
	w := c.node(0)
	value := testValue(30<<10, 9)
	before := heldChunks(t, c)
	if _, err := w.store.Put(ctx, "", "mixed", "v", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ids := newChunks(t, c, before)
	if len(ids) != 1 {
		t.Fatalf("value stored %d chunks, want 1", len(ids))
	}
	id := engine.ChunkID(ids[0])

	// Hide the three closest and the farthest, so that six are found.
	var hidden, rest []*testNode
	for _, ct := range sortByDistance(ChunkKey(chunk.ID(id)), contactsOf(c.live())) {
		switch n := nodeByID(c, ct); {
		case n == w:
		case len(hidden) < 3:
			hidden = append(hidden, n)
		default:
			rest = append(rest, n)
		}
	}
	hidden = append(hidden, rest[5:]...)
	c.mu.Lock()
	c.nodes = slices.DeleteFunc(c.nodes, func(n *testNode) bool { return slices.Contains(hidden, n) })
	c.mu.Unlock()
	before = heldChunks(t, c)
	if _, err := w.store.Put(ctx, "", "mixed", "v", bytes.NewReader(value), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if fresh := newChunks(t, c, before); len(fresh) != 0 {
		t.Fatalf("the second write stored %d new chunks; the test needs it to code the same chunk ID again", len(fresh))
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, hidden...)
	c.mu.Unlock()

	tc := &twoCodes{id: id, value: value, reader: w, codes: heldCodes(t, c, id)}
	a, b := erasure.Params{Data: 6, Parity: 2}, erasure.Params{Data: 4, Parity: 2}
	// The second write replaces a shard of the first where a holder got
	// the same index twice, as the writer's own shard when it is among
	// the closest.
	if len(tc.codes) != 2 || len(tc.codes[a]) < a.Data || len(tc.codes[b]) != b.Total() {
		t.Fatalf("holders keep %s; the test needs %d shards of %v and all of %v", describeCodes(tc.codes), a.Data, a, b)
	}
	return c, tc
}

// heldCodes returns, for each code, the live nodes holding each index of
// chunk id.
func heldCodes(t *testing.T, c *testCluster, id engine.ChunkID) map[erasure.Params]map[int][]*testNode {
	t.Helper()
	codes := make(map[erasure.Params]map[int][]*testNode)
	for _, n := range c.live() {
		refs, err := n.shards.ListCodes(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			if codes[r.Params] == nil {
				codes[r.Params] = make(map[int][]*testNode)
			}
			codes[r.Params][r.Index] = append(codes[r.Params][r.Index], n)
		}
	}
	return codes
}

func describeCodes(codes map[erasure.Params]map[int][]*testNode) string {
	var parts []string
	for p, indexes := range codes {
		parts = append(parts, fmt.Sprintf("%d shards of %v", len(indexes), p))
	}
	slices.Sort(parts)
	return fmt.Sprint(parts)
}

// survivors returns how many indexes of each code some node outside
// killed holds.
func (tc *twoCodes) survivors(killed []*testNode) map[erasure.Params]int {
	out := make(map[erasure.Params]int)
	for p, indexes := range tc.codes {
		for _, holders := range indexes {
			if slices.ContainsFunc(holders, func(n *testNode) bool { return !slices.Contains(killed, n) }) {
				out[p]++
			}
		}
	}
	return out
}

// pickKills returns nodes to kill, never the reader, such that neither
// code keeps all its shards, exactly one keeps Data of them, and the
// other keeps more shards than that one: a reader that sticks to the most
// common code, or to one shard per index, fails.
func (tc *twoCodes) pickKills(t *testing.T, c *testCluster) ([]*testNode, erasure.Params) {
	t.Helper()
	var others []*testNode
	for _, n := range c.live() {
		if n != tc.reader {
			others = append(others, n)
		}
	}
	for size := 1; size <= len(others); size++ {
		for mask := range 1 << len(others) {
			var killed []*testNode
			for i, n := range others {
				if mask&(1<<i) != 0 {
					killed = append(killed, n)
				}
			}
			if len(killed) != size {
				continue
			}
			left := tc.survivors(killed)
			var decodable []erasure.Params
			complete := false
			for p, n := range left {
				if n >= p.Data {
					decodable = append(decodable, p)
				}
				complete = complete || n == p.Total()
			}
			if complete || len(decodable) != 1 {
				continue
			}
			d := decodable[0]
			for p, n := range left {
				if p != d && n > left[d] {
					return killed, d
				}
			}
		}
	}
	t.Fatalf("no set of nodes to kill leaves one code decodable behind a larger one; holders keep %s", describeCodes(tc.codes))
	return nil, erasure.Params{}
}

// read reads the value on the writer, whose user alone may, five times,
// since the order shards arrive in varies, and returns the first error.
func (tc *twoCodes) read(t *testing.T) error {
	t.Helper()
	for range 5 {
		var buf bytes.Buffer
		if _, err := tc.reader.store.Get(context.Background(), "", "mixed", "v", &buf, GetOptions{}); err != nil {
			return err
		}
		if !bytes.Equal(buf.Bytes(), tc.value) {
			t.Fatal("read returned other bytes than were written")
		}
	}
	return nil
}

// TestReadMixedCodes reads a chunk whose holders keep shards of two codes
// after nodes fail so that only the code with fewer shards left decodes.
func TestReadMixedCodes(t *testing.T) {
	c, tc := writeTwoCodes(t)
	killed, d := tc.pickKills(t, c)
	c.kill(killed...)
	t.Logf("killed %d nodes; %v shards left by code, %v decodes", len(killed), tc.survivors(killed), d)
	if err := tc.read(t); err != nil {
		t.Fatalf("read with %v decodable: %v", d, err)
	}
}

// TestRepairMixedCodes repairs the chunk of TestReadMixedCodes: repair
// must complete the code that decodes, drop the other code's shards once
// it is complete, and a read must then survive another node failing.
func TestRepairMixedCodes(t *testing.T) {
	c, tc := writeTwoCodes(t)
	killed, d := tc.pickKills(t, c)
	c.kill(killed...)
	repairAll(t, c)
	repairAll(t, c)

	codes := heldCodes(t, c, tc.id)
	if len(codes[d]) != d.Total() || len(codes) != 1 {
		t.Fatalf("after repair, holders keep %s; want all %d shards of %v and no other code",
			describeCodes(codes), d.Total(), d)
	}
	// Kill the live holder with the most shards, other than the reader.
	load := make(map[*testNode]int)
	for _, holders := range codes[d] {
		for _, n := range holders {
			if n != tc.reader {
				load[n]++
			}
		}
	}
	var victim *testNode
	for n, k := range load {
		if victim == nil || k > load[victim] || k == load[victim] && identity.Compare(n.id.ID, victim.id.ID) < 0 {
			victim = n
		}
	}
	c.kill(victim)
	if err := tc.read(t); err != nil {
		t.Fatalf("read after repair and one more failure: %v", err)
	}
}
