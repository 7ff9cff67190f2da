package search

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// kill stops node n: its transport closes and lookups no longer return
// it. Its engine stays open until the test ends, as a dead disk would
// stay unread.
func (c *testCluster) kill(n *testNode) {
	c.mu.Lock()
	c.nodes = slices.DeleteFunc(c.nodes, func(m *testNode) bool { return m == n })
	c.mu.Unlock()
	n.tr.Close()
}

// closestTo returns the live nodes, closest to target first.
func (c *testCluster) closestTo(target identity.NodeID) []*testNode {
	nodes := c.all()
	slices.SortFunc(nodes, func(a, b *testNode) int {
		return identity.Compare(identity.Xor(target, a.id.ID), identity.Xor(target, b.id.ID))
	})
	return nodes
}

// repair runs a store repair pass on every live node, so that segments
// and namespace descriptors survive the churn, and then, when index is
// set, an index repair pass on every live node. It returns the sum of the
// index repair reports.
func (c *testCluster) repair(t *testing.T, index bool) RepairReport {
	t.Helper()
	ctx := context.Background()
	for _, n := range c.all() {
		r, err := store.NewRepairer(store.RepairConfig{Holder: n.holder, Network: n, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(ctx); err != nil {
			t.Fatalf("store repair on %s: %v", n.id.ID.Short(), err)
		}
	}
	var sum RepairReport
	if !index {
		return sum
	}
	for _, n := range c.all() {
		r, err := NewRepairer(RepairConfig{Index: n.index, Network: n, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Run(ctx)
		if err != nil {
			t.Fatalf("index repair on %s: %v", n.id.ID.Short(), err)
		}
		sum.Partitions += rep.Partitions
		sum.InSync += rep.InSync
		sum.Buckets += rep.Buckets
		sum.PostingsSent += rep.PostingsSent
		sum.Errors += rep.Errors
	}
	return sum
}

// churnFixture is a cluster with the readings of ten valves written by
// its client node, and the index partition that holds the postings of
// the sensor token of one valve, whose holders do not include the client.
// The client is never killed, because the namespace's only user lives
// on it.
type churnFixture struct {
	c        *testCluster
	client   *testNode
	all      []sensor.Reading
	ns       string
	sensor   string
	part     byte
	target   identity.NodeID
	full     *partitionDigest // of the partition right after the write
	holders  []*testNode      // the partition's holders right after the write
	nextAddr int
}

func newChurnFixture(t *testing.T) *churnFixture {
	t.Helper()
	f := &churnFixture{c: newCluster(t, 6), ns: "valves", nextAddr: 6}
	f.client = f.c.node(0)
	ctx := context.Background()
	start := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	for s := range 10 {
		for i := range 6 {
			f.all = append(f.all, sensor.Reading{
				Source: fmt.Sprintf("valve-%02d", s),
				Time:   start.Add(time.Duration(i) * 25 * time.Minute),
				Fields: []sensor.Field{{Name: "pressure", Value: sensor.Number(float64(s*10 + i))}},
			})
		}
	}
	if err := f.client.writer.Write(ctx, "", f.ns, f.all); err != nil {
		t.Fatalf("Write: %v", err)
	}
	key, err := f.client.store.IndexKey(ctx, "", f.ns)
	if err != nil {
		t.Fatal(err)
	}
	k, err := deriveKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	for s := range 10 {
		f.sensor = fmt.Sprintf("valve-%02d", s)
		token := k.sensorToken(f.sensor)
		f.part, f.target = token[0], IndexID(f.ns, token)
		if !slices.Contains(f.c.closestTo(f.target)[:3], f.client) {
			break
		}
	}
	if slices.Contains(f.c.closestTo(f.target)[:3], f.client) {
		t.Fatal("the client holds the sensor tokens of every valve")
	}

	// Only the three closest nodes hold the partition, and each holds all
	// of it, so that killing them loses it unless it is repaired.
	f.holders = f.c.closestTo(f.target)[:3]
	for i, n := range f.c.closestTo(f.target) {
		d := f.digest(t, n)
		switch {
		case i < 3 && f.full == nil:
			f.full = d
			if d.count == 0 {
				t.Fatalf("closest node %s holds no postings of partition %d", n.id.ID.Short(), f.part)
			}
		case i < 3 && d.digest != f.full.digest:
			t.Fatalf("holder %s has %d postings of partition %d, holder %s %d",
				n.id.ID.Short(), d.count, f.part, f.holders[0].id.ID.Short(), f.full.count)
		case i >= 3 && d.count != 0:
			t.Fatalf("node %s, not a holder, has %d postings of partition %d", n.id.ID.Short(), d.count, f.part)
		}
	}
	return f
}

func (f *churnFixture) digest(t *testing.T, n *testNode) *partitionDigest {
	t.Helper()
	d, err := n.index.digest(f.ns, f.part)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// join starts a node with a random identity.
func (f *churnFixture) join() *testNode {
	n := f.c.add(f.nextAddr, nil)
	f.nextAddr++
	return n
}

// churn kills each node of victims in turn, with a node joining and a
// repair pass after each kill.
func (f *churnFixture) churn(t *testing.T, victims []*testNode, index bool) {
	t.Helper()
	for _, v := range victims {
		f.c.kill(v)
		f.join()
		rep := f.c.repair(t, index)
		t.Logf("killed %s: index repair sent %d postings in %d buckets, %d holders in sync, %d errors",
			v.id.ID.Short(), rep.PostingsSent, rep.Buckets, rep.InSync, rep.Errors)
	}
}

// query runs a query for the fixture's sensor on the client.
func (f *churnFixture) query(t *testing.T) (got, want []sensor.Reading) {
	t.Helper()
	q := Query{Namespace: f.ns, Sensor: f.sensor}
	got, err := f.client.querier.Query(context.Background(), "", q)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	return got, bruteQuery(f.all, q)
}

// assertHoldersComplete checks that each of the partition's current
// holders has every posting written to it.
func (f *churnFixture) assertHoldersComplete(t *testing.T) {
	t.Helper()
	for _, n := range f.c.closestTo(f.target)[:3] {
		if d := f.digest(t, n); d.digest != f.full.digest {
			t.Errorf("holder %s has %d postings of partition %d, want %d", n.id.ID.Short(), d.count, f.part, f.full.count)
		}
	}
}

// TestChurnLosesPostingsWithoutRepair shows the loss that index repair
// prevents: once every node that stored a partition has died, one at a
// time and with joins between, a search misses its records although the
// segments survive.
func TestChurnLosesPostingsWithoutRepair(t *testing.T) {
	f := newChurnFixture(t)
	f.churn(t, f.holders, false)
	got, want := f.query(t)
	if len(want) == 0 {
		t.Fatal("brute force finds no readings of the sensor")
	}
	if len(got) != 0 {
		t.Fatalf("query found %d of %d readings with every holder of the partition dead and no repair", len(got), len(want))
	}
}

// TestPostingsSurviveHolderChurn kills the holders of a partition one at
// a time with joins and repair passes between, then kills the repaired
// holders the same way: every search still finds every reading.
func TestPostingsSurviveHolderChurn(t *testing.T) {
	f := newChurnFixture(t)
	f.churn(t, f.holders, true)
	got, want := f.query(t)
	assertSameReadings(t, got, want)
	f.assertHoldersComplete(t)

	rep := f.c.repair(t, true)
	if rep.PostingsSent != 0 || rep.Buckets != 0 {
		t.Errorf("repair pass over complete holders sent %d postings in %d buckets, want none", rep.PostingsSent, rep.Buckets)
	}
	if rep.Errors != 0 {
		t.Errorf("repair pass over complete holders counted %d errors", rep.Errors)
	}

	repaired := slices.DeleteFunc(f.c.closestTo(f.target)[:3], func(n *testNode) bool { return n == f.client })
	f.churn(t, repaired, true)
	got, want = f.query(t)
	assertSameReadings(t, got, want)
	f.assertHoldersComplete(t)
}

// TestPostingsHandedOverToCloserNodes adds three nodes closer to a
// partition than its holders: a search misses the partition's records
// until a repair pass hands the postings over to the new nodes.
func TestPostingsHandedOverToCloserNodes(t *testing.T) {
	f := newChurnFixture(t)
	farthest := identity.Xor(f.target, f.holders[0].id.ID)
	for range 3 {
		var id *identity.Identity
		for tries := 0; id == nil; tries++ {
			if tries == 10000 {
				t.Fatal("no identity closer to the partition than its holders in 10000 tries")
			}
			cand, err := identity.New()
			if err != nil {
				t.Fatal(err)
			}
			if identity.Compare(identity.Xor(f.target, cand.ID), farthest) < 0 {
				id = cand
			}
		}
		f.c.addWithID(f.nextAddr, id, nil)
		f.nextAddr++
	}

	got, want := f.query(t)
	if len(got) != 0 {
		t.Fatalf("query found %d of %d readings before the new holders got the postings", len(got), len(want))
	}
	rep := f.c.repair(t, true)
	t.Logf("handover sent %d postings in %d buckets, %d holders in sync, %d errors",
		rep.PostingsSent, rep.Buckets, rep.InSync, rep.Errors)
	got, want = f.query(t)
	assertSameReadings(t, got, want)
	f.assertHoldersComplete(t)
}

// TestRepairSkipsFailedHolder stops a holder that lookups still return:
// a repair pass tries it once, skips it for its other partitions, and
// sends the postings to the next candidate in its place.
func TestRepairSkipsFailedHolder(t *testing.T) {
	f := newChurnFixture(t)
	f.holders[0].tr.Close()

	r, err := NewRepairer(RepairConfig{Index: f.holders[1].index, Network: f.holders[1], Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("repair pass: %+v", rep)
	if rep.Errors != 1 {
		t.Errorf("pass counted %d failed transfers, want 1", rep.Errors)
	}
	if rep.Skipped == 0 {
		t.Error("pass skipped no transfer to the failed holder")
	}
	next := f.c.closestTo(f.target)[3]
	if d := f.digest(t, next); d.digest != f.full.digest {
		t.Errorf("next candidate %s has %d postings of partition %d, want %d", next.id.ID.Short(), d.count, f.part, f.full.count)
	}
}
