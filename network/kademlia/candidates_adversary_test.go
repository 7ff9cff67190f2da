package kademlia_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// TestBeaconFloodBoundsWork feeds a Machine 1000 contacts through
// AddContact, as a flood of LAN beacons signed by fresh keys does, none of
// which responds. The pings in flight must stay bounded, and a lookup
// started during the flood must not query every unverified contact.
func TestBeaconFloodBoundsWork(t *testing.T) {
	m := newVictim()
	honest := wire.Contact{ID: nodeID("honest"), Addr: netip.MustParseAddrPort("10.0.0.1:4717")}
	m.HandleRequest(start, honest, 1, &wire.Ping{})
	m.Outbox()

	now := start.Add(time.Second)
	pings := 0
	for i := range 1000 {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 100)
		m.AddContact(now, wire.Contact{ID: nodeID(fmt.Sprint("flood", i)), Addr: addr})
		pings += len(m.Outbox())
	}
	if pings > 100 {
		t.Errorf("1000 contacts from beacons made the Machine send %d pings at once, want at most 100", pings)
	}
	if dropped := m.DroppedContacts(); dropped != 1000-2*20 {
		t.Errorf("Machine counts %d dropped contacts of 1000, want 960: K = 20 pinged and K queued", dropped)
	}

	alive := map[identity.NodeID]bool{honest.ID: true}
	res := runLookup(t, m, now.Add(time.Millisecond), nodeID("target"), alive)
	if res.Queried > 40 {
		t.Errorf("lookup during the flood queried %d nodes, want at most 2K = 40", res.Queried)
	}
	if len(res.Closest) != 1 || res.Closest[0].ID != honest.ID {
		t.Errorf("lookup returned %v, want the honest contact alone", res.Closest)
	}
}
