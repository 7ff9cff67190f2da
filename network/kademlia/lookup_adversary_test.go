package kademlia_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// runLookup drives a lookup for target to its end: requests to a contact
// in alive get an empty Nodes response, all others fail. It returns the
// result.
func runLookup(t *testing.T, m *kademlia.Machine, now time.Time, target identity.NodeID, alive map[identity.NodeID]bool) *kademlia.LookupResult {
	t.Helper()
	id := m.Lookup(now, target)
	for range 1000 {
		now = now.Add(time.Millisecond)
		for _, e := range m.Events() {
			if e.Kind == kademlia.LookupDone && e.Lookup.ID == id {
				return e.Lookup
			}
		}
		for _, o := range m.Outbox() {
			switch {
			case o.Request == 0:
			case alive[o.To.ID]:
				m.HandleResponse(now, o.To, o.Request, responseTo(o.Msg))
			default:
				m.HandleFailure(now, o.Request)
			}
		}
	}
	t.Fatal("lookup did not finish after 1000 rounds")
	return nil
}

func responseTo(msg wire.Message) wire.Message {
	if _, ok := msg.(*wire.FindNode); ok {
		return &wire.Nodes{}
	}
	return &wire.Pong{}
}

// TestLookupFallsBackPastDeadContacts fills a table with 25 contacts, of
// which the 20 closest to the target are gone, as after a partition or a
// Sybil attack from one host. A lookup must go on to the 5 live ones
// instead of returning nothing.
func TestLookupFallsBackPastDeadContacts(t *testing.T) {
	m := newVictim()
	target := nodeID("target")
	var contacts []wire.Contact
	for i := range 25 {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 4717)
		contacts = append(contacts, wire.Contact{ID: nodeID(fmt.Sprint("peer", i)), Addr: addr})
	}
	for _, c := range contacts {
		m.HandleRequest(start, c, 1, &wire.Ping{})
	}
	if m.Len() != len(contacts) {
		t.Fatalf("table holds %d contacts, want %d", m.Len(), len(contacts))
	}

	slices.SortFunc(contacts, func(a, b wire.Contact) int {
		return identity.Compare(identity.Xor(a.ID, target), identity.Xor(b.ID, target))
	})
	alive := make(map[identity.NodeID]bool)
	for _, c := range contacts[20:] {
		alive[c.ID] = true
	}
	res := runLookup(t, m, start.Add(time.Second), target, alive)
	if len(res.Closest) != len(alive) {
		t.Fatalf("lookup returned %d nodes after %d failures, want the %d live ones", len(res.Closest), res.Failed, len(alive))
	}
}
