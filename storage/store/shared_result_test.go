package store

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// sharedNetwork returns one slice to every caller of Closest, as a
// network that shares a lookup's result among its waiters may.
type sharedNetwork struct {
	staticNetwork
	result []wire.Contact
}

func (n *sharedNetwork) Closest(context.Context, identity.NodeID, int) ([]wire.Contact, error) {
	return n.result, nil
}

// TestClosestKeepsNetworkResult checks that picking candidates leaves
// the network's result as it was. Sorting it in place raced with the
// other callers that shared it.
func TestClosestKeepsNetworkResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	nodes := make([]wire.Contact, 8)
	for i := range nodes {
		nodes[i] = wire.Contact{ID: randomID(rng)}
	}
	net := &sharedNetwork{result: slices.Clone(nodes)}
	p := peers{net: net}

	for range 4 {
		got, err := p.closest(context.Background(), randomID(rng), 5, Middle)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 {
			t.Fatalf("closest returned %d contacts, want 5", len(got))
		}
	}
	if !slices.Equal(net.result, nodes) {
		t.Errorf("the network's result changed to %v, want %v as returned", net.result, nodes)
	}
}
