package node

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// TestCompleteClosestListsWholeBall fills a routing table with K = 4 from
// 300 nodes, so that its far buckets are full and keep only samples, and
// checks that completeClosest returns every one of the 300 within its
// farthest contact, around this node and around other targets.
func TestCompleteClosestListsWholeBall(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomID := func() identity.NodeID {
		var id identity.NodeID
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		return id
	}
	now := time.Unix(1_700_000_000, 0)
	self := wire.Contact{ID: randomID(), Addr: netip.MustParseAddrPort("127.0.0.1:4000")}
	m := kademlia.New(self, kademlia.Config{K: 4}, 1, now)
	var all []wire.Contact
	for i := range 300 {
		c := wire.Contact{ID: randomID(), Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(5000+i))}
		all = append(all, c)
		m.HandleRequest(now, c, 0, &wire.Ping{})
	}
	if m.Len() >= len(all) {
		t.Fatalf("the table kept all %d nodes, so no bucket is full and the test shows nothing", m.Len())
	}

	targets := []identity.NodeID{self.ID}
	for range 20 {
		targets = append(targets, randomID())
	}
	for i, target := range targets {
		t.Run(fmt.Sprint("target ", i), func(t *testing.T) {
			got := completeClosest(m, self.ID, target, 50)
			if i == 0 && len(got) == 0 {
				t.Fatal("completeClosest around this node returned nothing")
			}
			if len(got) == 0 {
				return
			}
			listed := make(map[identity.NodeID]bool)
			for _, c := range got {
				listed[c.ID] = true
			}
			far := identity.Xor(target, got[len(got)-1].ID)
			for _, c := range all {
				if identity.Compare(identity.Xor(target, c.ID), far) <= 0 && !listed[c.ID] {
					t.Errorf("node %s lies within the farthest contact returned but is missing", c.ID.Short())
				}
			}
		})
	}
}
