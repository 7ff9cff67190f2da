// Package kademliatest runs many kademlia Machines on a simulated network
// with virtual time, for tests, benchmarks and the simulator.
//
// A Network is a discrete-event simulation. Every message and every timer
// is an event in a heap ordered by virtual time and then by the sequence
// number it was scheduled with. Delivering a request calls HandleRequest on
// the receiver and schedules its response back after the link's latency; a
// node's Tick runs at the Machine's NextDeadline. A dead node never
// responds, so requests to it time out in the sender's own Tick. Messages
// can be lost at random, and every message is counted by type, with its
// size as wire.Encode produces it.
//
// A Network is deterministic. Node IDs, Machine seeds, latency jitter and
// message loss all come from one PCG generator seeded by Options.Seed.
// Ties in time are broken by scheduling order, and no map is iterated.
// The same Options and the same calls therefore produce the same run,
// event for event, as long as custom Latency and OnEvent functions are
// deterministic too.
// A Network is not safe for concurrent use.
package kademliatest

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// Options configures a Network. The zero value is a lossless network with
// DefaultLatency, DefaultAddr and default Machine configuration.
type Options struct {
	// Seed drives every random choice of the network.
	Seed uint64
	// Config is the configuration of every Machine.
	Config kademlia.Config
	// Start is the virtual time when the network starts. Default
	// 2026-01-01 00:00 UTC.
	Start time.Time
	// Latency returns the one-way delay of a message from one node to
	// another. It may draw jitter from rng, the network's generator.
	// Default DefaultLatency.
	Latency func(from, to *Node, rng *rand.Rand) time.Duration
	// Loss is the probability that any one message is lost, from 0 to 1.
	Loss float64
	// Addr returns the address of the node with the given index. Default
	// DefaultAddr.
	Addr func(index int) netip.AddrPort
	// NoCodec skips encoding: messages are neither counted in bytes nor
	// decoded by the receiver but handed over as they are, which saves
	// time in large simulations.
	NoCodec bool
	// OnEvent, if set, receives every event of every Machine, after the
	// Network stored lookup results.
	OnEvent func(n *Node, ev kademlia.Event)
}

// DefaultLatency gives each directed link a fixed base delay between 2 and
// 8 ms, derived from the two node indexes, plus up to 0.5 ms of jitter.
func DefaultLatency(from, to *Node, rng *rand.Rand) time.Duration {
	h := uint64(from.Index)*0x9e3779b97f4a7c15 ^ uint64(to.Index)*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	base := 2*time.Millisecond + time.Duration(h%6000)*time.Microsecond
	return base + time.Duration(rng.IntN(500))*time.Microsecond
}

// DefaultAddr places node i in its own IPv6 /48 of the documentation
// prefix 2001:db8::/32, so the diversity limits see distinct networks for
// the first 65,536 nodes. The addresses exist only in memory.
func DefaultAddr(i int) netip.AddrPort {
	var ip [16]byte
	ip[0], ip[1], ip[2], ip[3] = 0x20, 0x01, 0x0d, 0xb8
	binary.BigEndian.PutUint16(ip[4:], uint16(i))
	binary.BigEndian.PutUint32(ip[12:], uint32(i))
	return netip.AddrPortFrom(netip.AddrFrom16(ip), 4242)
}

// Node is one simulated node.
type Node struct {
	Index   int
	Contact wire.Contact
	Machine *kademlia.Machine

	alive    bool
	tickAt   time.Duration // virtual time of the pending tick event
	tickSet  bool
	lastTick time.Duration // virtual time of the last Tick, if ticked
	ticked   bool
	// results holds the results of lookups started through the Network,
	// with nil values for those still running. Other lookups' results
	// reach only Options.OnEvent, so a large simulation keeps none.
	results map[kademlia.LookupID]*kademlia.LookupResult
}

// await marks lookup id as one whose result the node keeps.
func (n *Node) await(id kademlia.LookupID) {
	if n.results == nil {
		n.results = make(map[kademlia.LookupID]*kademlia.LookupResult)
	}
	n.results[id] = nil
}

// storeResult keeps r if its lookup was started through the Network.
func (n *Node) storeResult(r *kademlia.LookupResult) {
	if _, ok := n.results[r.ID]; ok {
		n.results[r.ID] = r
	}
}

// Alive reports whether the node has neither died nor left.
func (n *Node) Alive() bool { return n.alive }

// Result returns the result of a finished lookup started on this node by
// Network.Lookup or Network.Join, and deletes it from the node.
func (n *Node) Result(id kademlia.LookupID) (kademlia.LookupResult, bool) {
	r := n.results[id]
	if r == nil {
		return kademlia.LookupResult{}, false
	}
	delete(n.results, id)
	return *r, true
}

// Stats counts what the network carried.
type Stats struct {
	// Messages and Bytes count the messages sent, by type, including
	// those lost or sent to dead nodes.
	Messages map[wire.Type]int
	Bytes    map[wire.Type]int
	// Lost counts messages dropped by the random loss.
	Lost int
	// Undelivered counts messages that reached a dead node or an address
	// where no node listens.
	Undelivered int
	// Invalid counts messages that failed to encode or decode, which is a
	// bug in a Machine.
	Invalid int
	// StuckTicks counts Ticks after which a Machine still reported a
	// deadline that had already passed, which would make its driver spin.
	StuckTicks int
}

// TotalMessages returns the number of messages of all types.
func (s *Stats) TotalMessages() int {
	total := 0
	for _, n := range s.Messages {
		total += n
	}
	return total
}

// Network is a simulated network of Machines.
type Network struct {
	opts   Options
	rng    *rand.Rand
	now    time.Duration // virtual time since opts.Start
	seq    uint64
	queue  eventQueue
	nodes  []*Node
	byAddr map[netip.AddrPort]*Node
	stats  Stats
}

// New returns an empty network.
func New(opts Options) *Network {
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Latency == nil {
		opts.Latency = DefaultLatency
	}
	if opts.Addr == nil {
		opts.Addr = DefaultAddr
	}
	return &Network{
		opts:   opts,
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5851f42d4c957f2d)),
		byAddr: make(map[netip.AddrPort]*Node),
		stats:  Stats{Messages: make(map[wire.Type]int), Bytes: make(map[wire.Type]int)},
	}
}

// Now returns the current virtual time.
func (n *Network) Now() time.Time { return n.opts.Start.Add(n.now) }

// Stats returns the counters so far.
func (n *Network) Stats() *Stats { return &n.stats }

// Nodes returns every node ever added, dead ones included, by index.
func (n *Network) Nodes() []*Node { return n.nodes }

// Live returns the nodes that are alive, by index.
func (n *Network) Live() []*Node {
	var live []*Node
	for _, node := range n.nodes {
		if node.alive {
			live = append(live, node)
		}
	}
	return live
}

// Rand returns the network's generator, for tests that want their random
// choices to follow the seed too.
func (n *Network) Rand() *rand.Rand { return n.rng }

// AddNode adds a node with a random ID and an empty routing table.
func (n *Network) AddNode() *Node {
	var id identity.NodeID
	for i := 0; i < len(id); i += 8 {
		binary.BigEndian.PutUint64(id[i:], n.rng.Uint64())
	}
	return n.AddNodeWithID(id)
}

// AddNodeWithID adds a node with the given ID and an empty routing table.
func (n *Network) AddNodeWithID(id identity.NodeID) *Node {
	index := len(n.nodes)
	c := wire.Contact{ID: id, Addr: n.opts.Addr(index)}
	node := &Node{
		Index:   index,
		Contact: c,
		Machine: kademlia.New(c, n.opts.Config, n.rng.Uint64(), n.Now()),
		alive:   true,
	}
	n.nodes = append(n.nodes, node)
	n.byAddr[c.Addr] = node
	return node
}

// Call runs f on node's Machine at the current virtual time and then sends
// what the Machine queued. Every direct use of a Machine goes through Call
// so that its messages and timers reach the network.
func (n *Network) Call(node *Node, f func(now time.Time, m *kademlia.Machine)) {
	f(n.Now(), node.Machine)
	n.flush(node)
}

// Join gives node the seeds' contacts and starts its Bootstrap.
func (n *Network) Join(node *Node, seeds ...*Node) kademlia.LookupID {
	var id kademlia.LookupID
	n.Call(node, func(now time.Time, m *kademlia.Machine) {
		for _, s := range seeds {
			m.AddContact(now, s.Contact)
		}
		id = m.Bootstrap(now)
		node.await(id)
	})
	return id
}

// Lookup starts a lookup on node.
func (n *Network) Lookup(node *Node, target identity.NodeID) kademlia.LookupID {
	var id kademlia.LookupID
	n.Call(node, func(now time.Time, m *kademlia.Machine) {
		id = m.Lookup(now, target)
		node.await(id)
	})
	return id
}

// LookupWait starts a lookup on node and runs the network until it
// finishes, for at most limit of virtual time.
func (n *Network) LookupWait(node *Node, target identity.NodeID, limit time.Duration) (kademlia.LookupResult, error) {
	id := n.Lookup(node, target)
	deadline := n.now + limit
	for {
		if r, ok := node.Result(id); ok {
			return r, nil
		}
		if !n.step(deadline) {
			return kademlia.LookupResult{}, fmt.Errorf("kademliatest: lookup %d on node %d unfinished after %v", id, node.Index, limit)
		}
	}
}

// Kill makes node die silently: it never responds or sends again.
func (n *Network) Kill(node *Node) { node.alive = false }

// Leave makes node send Leave to its contacts and die.
func (n *Network) Leave(node *Node) {
	for _, out := range node.Machine.Leave() {
		n.send(node, out)
	}
	node.alive = false
}

// RunFor runs the network for d of virtual time.
func (n *Network) RunFor(d time.Duration) {
	deadline := n.now + d
	for n.step(deadline) {
	}
	n.now = deadline
}

// step processes the next event if it is due by deadline and reports
// whether it did.
func (n *Network) step(deadline time.Duration) bool {
	if len(n.queue) == 0 || n.queue[0].at > deadline {
		return false
	}
	ev := heap.Pop(&n.queue).(event)
	n.now = max(n.now, ev.at)
	n.process(ev)
	return true
}
