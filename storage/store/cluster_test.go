package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
)

// testNode is one node of an in-process cluster: a memory transport, a
// Pebble store on Pebble's in-memory file system, a holder and a gateway.
type testNode struct {
	id      *identity.Identity
	cluster *testCluster
	tr      transport.Transport
	eng     *engine.DB
	shards  *engine.ShardStore
	holder  *Holder
	store   *Store

	// lookups and requests count the Closest and Request calls made
	// through this node, as the traffic a real overlay would carry.
	lookups  atomic.Int64
	requests atomic.Int64
	// intercept, if set, serves requests to this node in place of its
	// holder when it returns a message, to make the node misbehave.
	intercept atomic.Pointer[func(ctx context.Context, msg wire.Message) wire.Message]
	// cell is the node's geographic cluster, which its store places
	// chunks of namespaces placed by cluster in; "" when unknown.
	cell atomic.Pointer[string]
}

// setIntercept makes f serve the node's requests when it returns a
// message; nil restores the holder.
func (n *testNode) setIntercept(f func(ctx context.Context, msg wire.Message) wire.Message) {
	if f == nil {
		n.intercept.Store(nil)
		return
	}
	n.intercept.Store(&f)
}

func (n *testNode) Self() wire.Contact {
	return wire.Contact{ID: n.id.ID, Addr: n.tr.LocalAddr()}
}

// Closest returns the exact closest live nodes, as a converged lookup
// would, leaving out the node itself.
func (n *testNode) Closest(_ context.Context, target identity.NodeID, count int) ([]wire.Contact, error) {
	n.lookups.Add(1)
	var out []wire.Contact
	for _, m := range n.cluster.live() {
		if m != n {
			out = append(out, m.Self())
		}
	}
	out = sortByDistance(target, out)
	return out[:min(len(out), count)], nil
}

func (n *testNode) Request(ctx context.Context, to wire.Contact, msg wire.Message) (wire.Message, error) {
	n.requests.Add(1)
	return n.tr.Request(ctx, to, msg)
}

// testCluster is a set of nodes on one MemoryNetwork.
type testCluster struct {
	t    testing.TB
	mem  *transport.MemoryNetwork
	disk bool

	mu    sync.Mutex // guards nodes
	nodes []*testNode
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newCluster starts n nodes, each in the upper tier, with Pebble on its
// in-memory file system.
func newCluster(t testing.TB, n int, params NamespaceParams) *testCluster {
	return newClusterOn(t, n, params, false)
}

// newClusterOn starts n nodes with Pebble in temporary folders on disk
// when disk is set, so that every acknowledged write waits for fsync.
func newClusterOn(t testing.TB, n int, params NamespaceParams, disk bool) *testCluster {
	t.Helper()
	c := &testCluster{t: t, mem: transport.NewMemoryNetwork(), disk: disk}
	for i := range n {
		c.add(i, params)
	}
	return c
}

func (c *testCluster) add(i int, params NamespaceParams) *testNode {
	id, err := identity.New()
	if err != nil {
		c.t.Fatal(err)
	}
	return c.addWith(i, params, id)
}

// addCloser adds a node whose ID is closer to target than every live
// node's, as a node that joins and takes over a key would be.
func (c *testCluster) addCloser(i int, params NamespaceParams, target identity.NodeID) *testNode {
	closest := sortByDistance(target, contactsOf(c.live()))[0].ID
	for {
		id, err := identity.New()
		if err != nil {
			c.t.Fatal(err)
		}
		if identity.Compare(identity.Xor(target, id.ID), identity.Xor(target, closest)) < 0 {
			return c.addWith(i, params, id)
		}
	}
}

// addWith adds node number i with identity id. The number picks its
// address.
func (c *testCluster) addWith(i int, params NamespaceParams, id *identity.Identity) *testNode {
	t := c.t
	var err error
	opts := engine.Options{Logger: quietLogger(), CacheSize: 4 << 20}
	var eng *engine.DB
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
	holder, err := NewHolder(HolderConfig{Self: id.ID, Shards: shards, Engine: eng, Tier: Upper, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{id: id, cluster: c, eng: eng, shards: shards, holder: holder}
	handler := transport.HandlerFunc(func(ctx context.Context, from transport.Peer, msg wire.Message, _ bool) wire.Message {
		if f := n.intercept.Load(); f != nil {
			if resp := (*f)(ctx, msg); resp != nil {
				return resp
			}
		}
		return holder.HandleMessage(ctx, from, msg)
	})
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 4717)
	if n.tr, err = c.mem.Listen(id, addr, handler); err != nil {
		t.Fatal(err)
	}
	cell := func() string {
		if c := n.cell.Load(); c != nil {
			return *c
		}
		return ""
	}
	n.store, err = New(Config{DataDir: t.TempDir(), Network: n, Holder: holder, Namespace: params, Cell: cell, Logger: quietLogger()})
	if err != nil {
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

func (c *testCluster) live() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

func (c *testCluster) node(i int) *testNode { return c.live()[i] }

// kill removes nodes from the network at once, as a crash would.
func (c *testCluster) kill(victims ...*testNode) {
	c.mu.Lock()
	for _, v := range victims {
		c.nodes = slices.DeleteFunc(c.nodes, func(n *testNode) bool { return n == v })
	}
	c.mu.Unlock()
	for _, v := range victims {
		v.tr.Close()
	}
}

// smallParams are namespace parameters scaled for tests: 64 KiB chunks
// keep multi-chunk values small.
func smallParams(data, parity, replicas int) NamespaceParams {
	p := DefaultNamespaceParams()
	p.Chunking.Size = 64 << 10
	p.Data, p.Parity, p.Replicas = uint16(data), uint16(parity), uint16(replicas)
	return p
}

func testValue(size int, seed byte) []byte {
	v := make([]byte, size)
	x := uint32(seed) + 1
	for i := range v {
		x = x*1664525 + 1013904223
		v[i] = byte(x >> 24)
	}
	return v
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
