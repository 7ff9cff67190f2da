package kademlia

import (
	"math"
	"slices"

	"github.com/yuinet/yui/network/identity"
)

// Recently failed nodes. A node that dies without a Leave stays in other
// tables until their own requests to it fail, and until then their Nodes
// responses keep naming it. Without a memory of failures, a node that has
// evicted a dead contact would learn it again from the next response and
// make every lookup wait for it to time out once more.
//
// The Machine therefore keeps a small set of nodes whose requests failed
// recently, with a count of consecutive failures per node. A node is
// blocked once it is evicted for failures (MaxFailures in a row, or a
// failed check while a replacement waits), once it fails MaxFailures times
// in a row outside the table, and once it left or was removed. Lookups
// skip a blocked node named in a response and the Machine does not ping it
// as a candidate. A request from the node or a response by it deletes it
// from the set, because it is back. An entry lasts PingInterval after its
// last failure. By then the node has been silent for PingInterval, so the
// nodes that still named it have checked it and dropped it too.
//
// The set holds at most failedPerK·K nodes and, when full, replaces the
// one that failed longest ago. Lapsed entries stay until they are replaced
// or their node fails again. If more nodes fail within PingInterval, the
// oldest are forgotten early, and each of them may cost this node up to
// MaxFailures more request timeouts before it is blocked again. The bound
// keeps the set within 3,840 bytes per Machine with the default K = 20
// (80 nodes of 48 bytes), which matters to a simulator with a million
// Machines. Most Machines never fill it, and it is allocated as it grows.

// failedPerK bounds the recently failed nodes, as a multiple of K.
const failedPerK = 4

// failedNode is a node in the recently failed set.
type failedNode struct {
	id identity.NodeID
	// expires is when the entry lapses, in epoch nanoseconds: PingInterval
	// after the last failure.
	expires int64
	// failures counts consecutive failed requests, saturating at 255.
	failures uint8
}

// failedSet is the set of recently failed nodes.
type failedSet struct {
	// nodes is ordered by ID, so that checking each contact in a response
	// and each message received takes a binary search.
	nodes []failedNode
}

// search returns the position of id in s.nodes, or where it would go.
func (s *failedSet) search(id identity.NodeID) (int, bool) {
	return slices.BinarySearchFunc(s.nodes, id, func(n failedNode, id identity.NodeID) int {
		// The distance from the zero ID is the ID itself, so this is
		// identity.Compare eight bytes at a time.
		return compareDistance(identity.NodeID{}, n.id, id)
	})
}

// find returns the entry for id at time t, or nil if it has none or it
// lapsed.
func (s *failedSet) find(t int64, id identity.NodeID) *failedNode {
	if i, ok := s.search(id); ok && s.nodes[i].expires > t {
		return &s.nodes[i]
	}
	return nil
}

// add counts failures more failures of id at time t, keeping the entry
// until expires. It returns the node's count of consecutive failures. A
// new node takes the place of the one whose last failure is oldest when
// the set holds limit nodes.
func (s *failedSet) add(t int64, id identity.NodeID, failures int, expires int64, limit int) int {
	i, ok := s.search(id)
	if !ok {
		if len(s.nodes) >= limit {
			j := s.oldest()
			s.nodes = slices.Delete(s.nodes, j, j+1)
			i, _ = s.search(id)
		}
		s.grow(limit)
		s.nodes = slices.Insert(s.nodes, i, failedNode{id: id})
	}
	n := &s.nodes[i]
	if n.expires <= t {
		n.failures = 0
	}
	n.failures = uint8(min(int(n.failures)+failures, math.MaxUint8))
	n.expires = expires
	return int(n.failures)
}

// oldest returns the position of the entry whose last failure is oldest.
func (s *failedSet) oldest() int {
	oldest := 0
	for i := range s.nodes {
		if s.nodes[i].expires < s.nodes[oldest].expires {
			oldest = i
		}
	}
	return oldest
}

// grow makes room for one more node, growing the backing array at most to
// limit nodes.
func (s *failedSet) grow(limit int) {
	if len(s.nodes) < cap(s.nodes) {
		return
	}
	grown := make([]failedNode, len(s.nodes), min(max(2*cap(s.nodes), 4), max(limit, len(s.nodes)+1)))
	copy(grown, s.nodes)
	s.nodes = grown
}

// forget deletes id from the set.
func (s *failedSet) forget(id identity.NodeID) {
	if i, ok := s.search(id); ok {
		s.nodes = slices.Delete(s.nodes, i, i+1)
	}
}

// blocked reports whether lookups and candidate pings skip id at time t.
func (m *Machine) blocked(t int64, id identity.NodeID) bool {
	n := m.failed.find(t, id)
	return n != nil && int(n.failures) >= m.cfg.MaxFailures
}

// noteFailures counts failures more consecutive failures of id in the
// recently failed set and returns its count.
func (m *Machine) noteFailures(t int64, id identity.NodeID, failures int) int {
	limit := failedPerK * m.cfg.K
	return m.failed.add(t, id, failures, t+int64(m.cfg.PingInterval), limit)
}

// blockNode blocks id, which is gone, as if it had failed MaxFailures
// times.
func (m *Machine) blockNode(t int64, id identity.NodeID) {
	m.noteFailures(t, id, m.cfg.MaxFailures)
}
