package hierarchy_test

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

var hier = hierarchy.Config{Mode: hierarchy.Hierarchical}

// buildNetwork adds size nodes to each of groups groups, 100 ms of virtual
// time apart and round-robin over the groups, so that groups grow together.
// Every node but the first is given one node of another group as its
// bootstrap contact, as --bootstrap would.
func buildNetwork(t testing.TB, opts hierarchytest.Options, groups, size int) *hierarchytest.Network {
	t.Helper()
	net := hierarchytest.New(opts)
	for i := range groups * size {
		node := net.AddNode(i % groups)
		if i > 0 {
			net.Join(node, otherGroupNode(net, node, i))
		}
		net.RunFor(100 * time.Millisecond)
	}
	return net
}

// otherGroupNode picks a random node among the first n, outside node's
// group when there is one.
func otherGroupNode(net *hierarchytest.Network, node *hierarchytest.Node, n int) *hierarchytest.Node {
	for range 100 {
		other := net.Nodes()[net.Rand().IntN(n)]
		if other.Group != node.Group {
			return other
		}
	}
	return net.Nodes()[0]
}

func randomID(rng *rand.Rand) identity.NodeID {
	var id identity.NodeID
	for i := 0; i < len(id); i += 8 {
		binary.BigEndian.PutUint64(id[i:], rng.Uint64())
	}
	return id
}

// trueClosest returns the IDs of the k DHT participants other than from
// that are closest to target, by brute force.
func trueClosest(net *hierarchytest.Network, from *hierarchytest.Node, target identity.NodeID, k int) []identity.NodeID {
	var ids []identity.NodeID
	for _, n := range net.Participants() {
		if n != from {
			ids = append(ids, n.Contact.ID)
		}
	}
	slices.SortFunc(ids, func(a, b identity.NodeID) int {
		return identity.Compare(identity.Xor(a, target), identity.Xor(b, target))
	})
	return ids[:min(k, len(ids))]
}

func contactIDs(contacts []wire.Contact) []identity.NodeID {
	ids := make([]identity.NodeID, len(contacts))
	for i, c := range contacts {
		ids[i] = c.ID
	}
	return ids
}

// representatives returns the live nodes of group g that claim a seat.
func representatives(net *hierarchytest.Network, g int) []*hierarchytest.Node {
	var out []*hierarchytest.Node
	for _, n := range net.GroupNodes(g) {
		if n.Machine.IsRepresentative() {
			out = append(out, n)
		}
	}
	return out
}

// settled reports whether group g has exactly reps representatives and
// every live node of the group lists exactly those, and all the others as
// members.
func settled(net *hierarchytest.Network, g, reps int) bool {
	want := representatives(net, g)
	if len(want) != reps {
		return false
	}
	var wantIDs []identity.NodeID
	for _, n := range want {
		wantIDs = append(wantIDs, n.Contact.ID)
	}
	slices.SortFunc(wantIDs, identity.Compare)
	nodes := net.GroupNodes(g)
	for _, n := range nodes {
		got := contactIDs(n.Machine.Representatives())
		slices.SortFunc(got, identity.Compare)
		if !slices.Equal(got, wantIDs) || len(n.Machine.Group()) != len(nodes)-1 {
			return false
		}
	}
	return true
}

// members returns the live nodes of group g that are not representatives.
func members(net *hierarchytest.Network, g int) []*hierarchytest.Node {
	var out []*hierarchytest.Node
	for _, n := range net.GroupNodes(g) {
		if !n.Machine.IsRepresentative() {
			out = append(out, n)
		}
	}
	return out
}

// fixedScore returns a score option that gives the i-th node the i-th
// score of scores, and the last one to every later node.
func fixedScore(scores ...hierarchy.Score) func(*rand.Rand) hierarchy.Score {
	i := 0
	return func(*rand.Rand) hierarchy.Score {
		s := scores[min(i, len(scores)-1)]
		i++
		return s
	}
}

// protocol is what a simulator drives of a node's state machine; both
// modes of a hierarchy Machine provide it, as kademlia.Machine does.
type protocol interface {
	HandleRequest(now time.Time, from wire.Contact, request uint64, msg wire.Message) wire.Message
	HandleResponse(now time.Time, from wire.Contact, request uint64, msg wire.Message)
	HandleFailure(now time.Time, request uint64)
	Tick(now time.Time)
	NextDeadline() time.Time
	Outbox() []kademlia.Outgoing
	Events() []kademlia.Event
	Lookup(now time.Time, target identity.NodeID) kademlia.LookupID
}

var (
	_ protocol = (*hierarchy.Machine)(nil)
	_ protocol = (*kademlia.Machine)(nil)
)
