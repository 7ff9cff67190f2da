package store

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// staticNetwork is a Network over a fixed set of nodes whose Closest is
// exact and counted. It sends no requests.
type staticNetwork struct {
	self    wire.Contact
	nodes   []wire.Contact
	lookups int
}

func (n *staticNetwork) Self() wire.Contact { return n.self }

func (n *staticNetwork) Closest(_ context.Context, target identity.NodeID, count int) ([]wire.Contact, error) {
	n.lookups++
	all := sortByDistance(target, slices.Clone(n.nodes))
	return all[:min(count, len(all))], nil
}

func (n *staticNetwork) Request(context.Context, wire.Contact, wire.Message) (wire.Message, error) {
	panic("staticNetwork sends no requests")
}

func randomID(rng *rand.Rand) identity.NodeID {
	var id identity.NodeID
	for i := range id {
		id[i] = byte(rng.Uint32())
	}
	return id
}

// nearTarget returns a random target whose need closest nodes include
// self, as the targets a holder repairs are. It draws IDs that share
// self's first byte until one qualifies.
func nearTarget(rng *rand.Rand, nodes []wire.Contact, self identity.NodeID, need int) identity.NodeID {
	for {
		target := randomID(rng)
		target[0] = self[0]
		mine := identity.Xor(target, self)
		closer := 0
		for _, c := range nodes {
			if identity.Compare(identity.Xor(target, c.ID), mine) < 0 {
				closer++
			}
		}
		if closer < need {
			return target
		}
	}
}

// TestResolverMatchesLookups checks on random networks that the candidates
// the resolver returns for targets near this node equal those of a lookup
// per target, and that it needs far fewer lookups.
func TestResolverMatchesLookups(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 10 {
		size := 50 + rng.IntN(400)
		net := &staticNetwork{}
		for range size {
			net.nodes = append(net.nodes, wire.Contact{ID: randomID(rng)})
		}
		net.self = net.nodes[0]
		res := &resolver{peers: peers{net: net}, rep: &RepairReport{}}

		const need = 20
		for range 100 {
			target := nearTarget(rng, net.nodes, net.self.ID, need)
			got, err := res.closest(context.Background(), target, need, Lower)
			if err != nil {
				t.Fatal(err)
			}
			want := sortByDistance(target, withoutNode(net.nodes, net.self.ID))[:need]
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, %d nodes: candidates of %s differ from a lookup's", round, size, target.Short())
			}
		}
		if lookups := res.rep.Lookups; lookups > 30 {
			t.Errorf("round %d, %d nodes: %d lookups for 100 targets, want far fewer than 100", round, size, lookups)
		}
	}
}

// tableNetwork is a staticNetwork with a routing table that contains
// every node.
type tableNetwork struct{ *staticNetwork }

func (n tableNetwork) ClosestKnown(target identity.NodeID, count int) []wire.Contact {
	all := sortByDistance(target, slices.Clone(n.nodes))
	return all[:min(count, len(all))]
}

func TestResolverUsesRoutingTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	net := &staticNetwork{}
	for range 500 {
		net.nodes = append(net.nodes, wire.Contact{ID: randomID(rng)})
	}
	net.self = net.nodes[0]
	res := &resolver{peers: peers{net: tableNetwork{net}}, rep: &RepairReport{}}

	// Targets whose 20 closest include this node are resolved from the
	// table, and a target far away needs a lookup.
	const need = 20
	for range 50 {
		target := nearTarget(rng, net.nodes, net.self.ID, need)
		got, err := res.closest(context.Background(), target, need, Lower)
		if err != nil {
			t.Fatal(err)
		}
		if want := sortByDistance(target, withoutNode(net.nodes, net.self.ID))[:need]; !slices.Equal(got, want) {
			t.Fatalf("candidates of %s from the table differ from a lookup's", target.Short())
		}
	}
	if net.lookups > 5 {
		t.Errorf("%d lookups for 50 targets near this node with a routing table, want at most 5", net.lookups)
	}

	far := randomID(rng)
	far[0] = ^net.self.ID[0]
	if _, err := res.closest(context.Background(), far, need, Lower); err != nil {
		t.Fatal(err)
	}
	if net.lookups == 0 {
		t.Error("a target on the far side of the key space was answered without a lookup")
	}
}
