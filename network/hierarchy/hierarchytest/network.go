// Package hierarchytest runs hierarchy Machines on a small simulated
// network with virtual time, for the hierarchy's tests.
//
// Every message and timer is an event in a heap ordered by virtual time and
// then by scheduling order. Nodes belong to broadcast domains (groups): a
// node added to a group hears the beacons of the group's live nodes, and
// they hear its beacon, through AddNeighbour. Messages within a group take
// a fraction of a millisecond, messages between groups 2 to 8 ms. A dead
// node never responds, so requests to it time out in the sender's own Tick.
// Every message is counted by type.
//
// A Network is deterministic: node IDs, seeds, scores, jitter and loss all
// come from one generator seeded by Options.Seed, and no map is iterated.
// The large-scale simulator lives in package sim; this driver stays small.
package hierarchytest

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// Options configures a Network.
type Options struct {
	// Seed drives every random choice of the network.
	Seed uint64
	// Config is the configuration of every Machine.
	Config hierarchy.Config
	// Loss is the probability that any one message is lost, from 0 to 1.
	Loss float64
	// NoCodec hands messages over without encoding them, which saves time
	// in large runs; Bytes then stays empty.
	NoCodec bool
	// Score returns the score of a new node. Default: random capacity and
	// link quality, no uptime.
	Score func(rng *rand.Rand) hierarchy.Score
}

// Node is one simulated node.
type Node struct {
	Index   int
	Group   int
	Contact wire.Contact
	Machine *hierarchy.Machine

	alive   bool
	side    bool          // the node is on the cut-off side of a Split
	skew    time.Duration // how far the node's wall clock runs ahead
	tickAt  time.Duration
	tickSet bool
	results map[kademlia.LookupID]*kademlia.LookupResult
}

// Alive reports whether the node has neither died nor left.
func (n *Node) Alive() bool { return n.alive }

// Result returns the result of a finished lookup of the node and deletes
// it.
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
	// Messages and Bytes count the messages sent by type, including lost
	// ones and those sent to dead nodes.
	Messages map[wire.Type]int
	Bytes    map[wire.Type]int
	// Invalid counts messages that failed to encode or decode: a bug.
	Invalid int
	// StuckTicks counts Ticks after which a Machine still reported a
	// deadline that had passed.
	StuckTicks int
}

// Total returns the number of messages of all types.
func (s *Stats) Total() int {
	total := 0
	for _, n := range s.Messages {
		total += n
	}
	return total
}

// Network is a simulated network of hierarchy Machines.
type Network struct {
	opts   Options
	rng    *rand.Rand
	start  time.Time
	now    time.Duration
	seq    uint64
	queue  eventQueue
	nodes  []*Node
	byAddr map[netip.AddrPort]*Node
	split  bool // a Split is in force
	stats  Stats
}

// New returns an empty network starting at 2026-01-01 00:00 UTC.
func New(opts Options) *Network {
	if opts.Score == nil {
		opts.Score = func(rng *rand.Rand) hierarchy.Score {
			return hierarchy.Score{Capacity: uint32(1 + rng.IntN(1<<16)), Link: uint32(1 + rng.IntN(2000))}
		}
	}
	return &Network{
		opts:   opts,
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x6a09e667f3bcc908)),
		start:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		byAddr: make(map[netip.AddrPort]*Node),
		stats:  Stats{Messages: make(map[wire.Type]int), Bytes: make(map[wire.Type]int)},
	}
}

// SetLoss changes the probability that a message is lost.
func (n *Network) SetLoss(p float64) { n.opts.Loss = p }

// Now returns the current virtual time.
func (n *Network) Now() time.Time { return n.start.Add(n.now) }

// clockOf returns the time node's wall clock shows.
func (n *Network) clockOf(node *Node) time.Time { return n.Now().Add(node.skew) }

// Split cuts the given nodes off the others until Heal, so that every
// message between a node of side and one outside it is lost.
func (n *Network) Split(side ...*Node) {
	for _, node := range n.nodes {
		node.side = false
	}
	for _, node := range side {
		node.side = true
	}
	n.split = true
}

// Heal ends a Split.
func (n *Network) Heal() { n.split = false }

// Stats returns the counters so far.
func (n *Network) Stats() *Stats { return &n.stats }

// Rand returns the network's generator.
func (n *Network) Rand() *rand.Rand { return n.rng }

// Nodes returns every node ever added, by index.
func (n *Network) Nodes() []*Node { return n.nodes }

// Live returns the live nodes, by index.
func (n *Network) Live() []*Node {
	var live []*Node
	for _, node := range n.nodes {
		if node.alive {
			live = append(live, node)
		}
	}
	return live
}

// Participants returns the live nodes that take part in the DHT: every
// live node in Flat mode, the live representatives otherwise.
func (n *Network) Participants() []*Node {
	var out []*Node
	for _, node := range n.Live() {
		if node.Machine.Mode() == hierarchy.Flat || node.Machine.IsRepresentative() {
			out = append(out, node)
		}
	}
	return out
}

// GroupNodes returns the live nodes of group g.
func (n *Network) GroupNodes(g int) []*Node {
	var out []*Node
	for _, node := range n.Live() {
		if node.Group == g {
			out = append(out, node)
		}
	}
	return out
}

// Addr gives node i its own IPv6 /48 of the documentation prefix
// 2001:db8::/32, so kademlia's diversity limits see distinct networks.
// The addresses exist only in memory.
func Addr(i int) netip.AddrPort {
	var ip [16]byte
	ip[0], ip[1], ip[2], ip[3] = 0x20, 0x01, 0x0d, 0xb8
	binary.BigEndian.PutUint16(ip[4:], uint16(i))
	binary.BigEndian.PutUint32(ip[12:], uint32(i))
	return netip.AddrPortFrom(netip.AddrFrom16(ip), 4717)
}

// AddNode adds a node with a random ID to group g and exchanges beacons
// with the group's live nodes.
func (n *Network) AddNode(g int) *Node {
	var id identity.NodeID
	for i := 0; i < len(id); i += 8 {
		binary.BigEndian.PutUint64(id[i:], n.rng.Uint64())
	}
	return n.AddNodeWithID(g, id)
}

// AddNodeWithID is AddNode with the given node ID.
func (n *Network) AddNodeWithID(g int, id identity.NodeID) *Node {
	index := len(n.nodes)
	c := wire.Contact{ID: id, Addr: Addr(index)}
	node := &Node{Index: index, Group: g, Contact: c, alive: true}
	node.Machine = hierarchy.New(c, n.opts.Score(n.rng), n.opts.Config, n.rng.Uint64(), n.Now())
	n.nodes = append(n.nodes, node)
	n.byAddr[c.Addr] = node
	n.flush(node)
	n.Beacon(node)
	return node
}

// Beacon makes node and the other live nodes of its group hear each
// other's beacons.
func (n *Network) Beacon(node *Node) {
	for _, other := range n.GroupNodes(node.Group) {
		if other == node {
			continue
		}
		n.Call(node, func(now time.Time, m *hierarchy.Machine) { m.AddNeighbour(now, other.Contact) })
		n.Call(other, func(now time.Time, m *hierarchy.Machine) { m.AddNeighbour(now, node.Contact) })
	}
}

// Call runs f on node's Machine at the current time of node's clock and
// sends what it queued.
func (n *Network) Call(node *Node, f func(now time.Time, m *hierarchy.Machine)) {
	f(n.clockOf(node), node.Machine)
	n.flush(node)
}

// Join gives node the contacts of others outside its group and bootstraps
// it.
func (n *Network) Join(node *Node, others ...*Node) {
	n.Call(node, func(now time.Time, m *hierarchy.Machine) {
		for _, o := range others {
			m.AddContact(now, o.Contact)
		}
		m.Bootstrap(now)
	})
}

// Lookup starts a lookup on node; LookupWait and Result return results.
func (n *Network) Lookup(node *Node, target identity.NodeID) kademlia.LookupID {
	var id kademlia.LookupID
	n.Call(node, func(now time.Time, m *hierarchy.Machine) { id = m.Lookup(now, target) })
	return id
}

// LookupWait starts a lookup on node and runs the network until it ends,
// for at most limit of virtual time.
func (n *Network) LookupWait(node *Node, target identity.NodeID, limit time.Duration) (kademlia.LookupResult, error) {
	id := n.Lookup(node, target)
	deadline := n.now + limit
	for {
		if r, ok := node.Result(id); ok {
			return r, nil
		}
		if !n.step(deadline) {
			return kademlia.LookupResult{}, fmt.Errorf("hierarchytest: lookup %d on node %d unfinished after %v", id, node.Index, limit)
		}
	}
}

// Restart brings node back with a new Machine, the same contact and the
// given score, as a process that crashed and restarted would, and
// exchanges beacons with its group.
func (n *Network) Restart(node *Node, score hierarchy.Score) {
	n.RestartSkewed(node, score, 0)
}

// RestartSkewed is Restart with node's wall clock set skew ahead of the
// network's time, or behind it if skew is negative, as after a clock
// correction.
func (n *Network) RestartSkewed(node *Node, score hierarchy.Score, skew time.Duration) {
	node.skew = skew
	node.Machine = hierarchy.New(node.Contact, score, n.opts.Config, n.rng.Uint64(), n.clockOf(node))
	node.alive, node.tickSet, node.results = true, false, nil
	n.flush(node)
	n.Beacon(node)
}

// Kill makes node die silently.
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

// RunUntil runs the network until cond holds, checked after every event,
// or limit passes; it reports whether cond held.
func (n *Network) RunUntil(limit time.Duration, cond func() bool) bool {
	deadline := n.now + limit
	for !cond() {
		if !n.step(deadline) {
			n.now = deadline
			return cond()
		}
	}
	return true
}

func (n *Network) step(deadline time.Duration) bool {
	if len(n.queue) == 0 || n.queue[0].at > deadline {
		return false
	}
	ev := heap.Pop(&n.queue).(event)
	n.now = max(n.now, ev.at)
	n.process(ev)
	return true
}

// latency returns the one-way delay from one node to another: 0.2 to 0.5
// ms inside a group, a fixed 2 to 8 ms per pair of groups otherwise, plus
// jitter.
func (n *Network) latency(from, to *Node) time.Duration {
	jitter := time.Duration(n.rng.IntN(100)) * time.Microsecond
	if from.Group == to.Group {
		return 200*time.Microsecond + 3*jitter
	}
	h := uint64(from.Group)*0x9e3779b97f4a7c15 ^ uint64(to.Group)*0xd1b54a32d192ed03
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	h ^= h >> 29
	return 2*time.Millisecond + time.Duration(h%6000)*time.Microsecond + jitter
}
