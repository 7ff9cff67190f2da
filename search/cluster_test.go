package search

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/store"
)

// testNode is one node of an in-process cluster: a memory transport, a
// Pebble engine on Pebble's in-memory file system, a store holder and
// gateway, an index holder, and a writer and querier on top.
type testNode struct {
	id      *identity.Identity
	cluster *testCluster
	tr      transport.Transport
	eng     *engine.DB
	holder  *store.Holder
	store   *store.Store
	index   *Index
	writer  *Writer
	querier *Querier
}

func (n *testNode) Self() wire.Contact {
	return wire.Contact{ID: n.id.ID, Addr: n.tr.LocalAddr()}
}

// Closest returns the exact closest nodes, as a converged lookup would,
// leaving out the node itself.
func (n *testNode) Closest(_ context.Context, target identity.NodeID, count int) ([]wire.Contact, error) {
	var out []wire.Contact
	for _, m := range n.cluster.all() {
		if m != n {
			out = append(out, m.Self())
		}
	}
	slices.SortFunc(out, func(a, b wire.Contact) int {
		return identity.Compare(identity.Xor(target, a.ID), identity.Xor(target, b.ID))
	})
	return out[:min(len(out), count)], nil
}

func (n *testNode) Request(ctx context.Context, to wire.Contact, msg wire.Message) (wire.Message, error) {
	return n.tr.Request(ctx, to, msg)
}

type testCluster struct {
	t   testing.TB
	mem *transport.MemoryNetwork
	// disk puts each node's Pebble in a temporary folder instead of in
	// memory.
	disk bool

	mu    sync.Mutex // guards nodes
	nodes []*testNode
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testParams keeps the namespace's code small enough for a few nodes.
func testParams() store.NamespaceParams {
	p := store.DefaultNamespaceParams()
	p.Data, p.Parity, p.Replicas = 2, 2, 3
	return p
}

// newCluster starts n nodes in the upper tier whose writers index the
// numeric fields named in numbers.
func newCluster(t testing.TB, n int, numbers ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, mem: transport.NewMemoryNetwork()}
	for i := range n {
		c.add(i, numbers)
	}
	return c
}

func (c *testCluster) add(i int, numbers []string) *testNode {
	id, err := identity.New()
	if err != nil {
		c.t.Fatal(err)
	}
	return c.addWithID(i, id, numbers)
}

// addWithID starts node number i, which sets its address, with identity
// id.
func (c *testCluster) addWithID(i int, id *identity.Identity, numbers []string) *testNode {
	t := c.t
	opts := engine.Options{Logger: quietLogger(), CacheSize: 4 << 20}
	var eng *engine.DB
	var err error
	if c.disk {
		eng, err = engine.Open(t.TempDir(), opts)
	} else {
		eng, err = engine.OpenInMemory(opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	shards, err := engine.NewShardStore(eng)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := store.NewHolder(store.HolderConfig{Self: id.ID, Shards: shards, Engine: eng, Tier: store.Upper, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	index, err := NewIndex(IndexConfig{Self: id.ID, Engine: eng, Tier: holder.Tier, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{id: id, cluster: c, eng: eng, holder: holder, index: index}
	handler := transport.HandlerFunc(func(ctx context.Context, from transport.Peer, msg wire.Message, _ bool) wire.Message {
		if IsSearchType(msg.Type()) {
			return index.HandleMessage(ctx, from, msg)
		}
		return holder.HandleMessage(ctx, from, msg)
	})
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 4717)
	if n.tr, err = c.mem.Listen(id, addr, handler); err != nil {
		t.Fatal(err)
	}
	n.store, err = store.New(store.Config{DataDir: t.TempDir(), Network: n, Holder: holder, Namespace: testParams(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: n.store, Network: n, Index: index, IndexedNumbers: numbers, Logger: quietLogger()}
	if n.writer, err = NewWriter(cfg); err != nil {
		t.Fatal(err)
	}
	if n.querier, err = NewQuerier(cfg); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	t.Cleanup(func() {
		n.tr.Close()
		eng.Close()
	})
	return n
}

func (c *testCluster) all() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

func (c *testCluster) node(i int) *testNode { return c.all()[i] }
