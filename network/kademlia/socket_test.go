package kademlia_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// TestManyIDsOneSocket sends pings under 300 node IDs from one address and
// port. The table must hold one of them, and the first one stays while it
// answers the check each newcomer triggers.
func TestManyIDsOneSocket(t *testing.T) {
	m := newVictim()
	socket := netip.MustParseAddrPort("10.0.0.9:4717")
	first := wire.Contact{ID: nodeID("sybil0"), Addr: socket}
	m.HandleRequest(start, first, 1, &wire.Ping{})

	now := start.Add(time.Second)
	for i := 1; i < 300; i++ {
		m.HandleRequest(now, wire.Contact{ID: nodeID(fmt.Sprint("sybil", i)), Addr: socket}, 1, &wire.Ping{})
		for _, o := range m.Outbox() {
			if o.To.ID != first.ID {
				t.Fatalf("Machine sent a request to %s, want only checks of the first ID", o.To.ID.Short())
			}
			m.HandleResponse(now, o.To, o.Request, &wire.Pong{})
		}
	}

	peers := m.Peers()
	if len(peers) != 1 || peers[0].ID != first.ID {
		t.Fatalf("table holds %d contacts after 300 IDs at one socket, want the first ID alone", len(peers))
	}
	if got := m.Buckets(); len(got) != 1 || got[0].Replacements != 0 {
		t.Errorf("buckets %+v, want one contact and no replacements", got)
	}
}

// TestRestartWithNewKey restarts a node with a new key at the same
// address. The check of its old ID fails, so its next ping replaces the
// old entry.
func TestRestartWithNewKey(t *testing.T) {
	m := newVictim()
	socket := netip.MustParseAddrPort("10.0.0.9:4717")
	before := wire.Contact{ID: nodeID("before"), Addr: socket}
	after := wire.Contact{ID: nodeID("after"), Addr: socket}
	m.HandleRequest(start, before, 1, &wire.Ping{})

	now := start.Add(time.Second)
	m.HandleRequest(now, after, 1, &wire.Ping{})
	if m.Len() != 1 || m.Peers()[0].ID != before.ID {
		t.Fatalf("new ID at a live contact's address entered the table at once")
	}
	out := m.Outbox()
	if len(out) != 1 || out[0].To != before {
		t.Fatalf("Machine sent %d requests, want one check of the old ID", len(out))
	}
	m.HandleFailure(now, out[0].Request)

	m.HandleRequest(now.Add(time.Second), after, 1, &wire.Ping{})
	if peers := m.Peers(); len(peers) != 1 || peers[0].ID != after.ID {
		t.Fatalf("table holds %v after the old ID failed its check, want the new ID alone", peers)
	}
}

// TestStaleSocketHolderReplaced lets the holder of an address stay silent
// for PingInterval; a new ID at the address then replaces it at once.
func TestStaleSocketHolderReplaced(t *testing.T) {
	m := newVictim()
	socket := netip.MustParseAddrPort("10.0.0.9:4717")
	m.HandleRequest(start, wire.Contact{ID: nodeID("before"), Addr: socket}, 1, &wire.Ping{})

	after := wire.Contact{ID: nodeID("after"), Addr: socket}
	m.HandleRequest(start.Add(m.Config().PingInterval), after, 1, &wire.Ping{})
	if peers := m.Peers(); len(peers) != 1 || peers[0].ID != after.ID {
		t.Fatalf("table holds %v, want the new ID in place of the stale one", peers)
	}
}
