package kademlia

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

func TestScopeOf(t *testing.T) {
	tests := []struct {
		addr string
		want scope
	}{
		{"127.0.0.1", scopeLoopback},
		{"::1", scopeLoopback},
		{"::ffff:127.0.0.1", scopeLoopback},
		{"169.254.7.1", scopeLinkLocal},
		{"::ffff:169.254.7.1", scopeLinkLocal},
		{"fe80::1", scopeLinkLocal},
		{"fe80::1%eth0", scopeLinkLocal},
		{"10.71.1.3", scopePrivate},
		{"192.168.1.9", scopePrivate},
		{"fd00::3", scopePrivate},
		{"198.51.100.7", scopeGlobal},
		{"2001:db8::7", scopeGlobal},
	}
	for _, tt := range tests {
		if got := scopeOf(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("scopeOf(%s) = %d, want %d", tt.addr, got, tt.want)
		}
	}
}

func TestUsableBy(t *testing.T) {
	tests := []struct {
		contact, requester string
		want               bool
	}{
		{"198.51.100.7", "203.0.113.9", true},
		{"198.51.100.7", "fe80::9%eth0", true},
		{"10.71.1.3", "203.0.113.9", true},
		{"fd00::3", "127.0.0.1", true},
		{"fe80::3%eth0", "fe80::9%eth0", true},
		{"fe80::3%eth0", "fe80::9%eth1", false},
		{"fe80::3%eth0", "10.71.1.9", false},
		{"fe80::3%eth0", "203.0.113.9", false},
		{"fe80::3%eth0", "169.254.1.9", false},
		{"fe80::3%eth0", "127.0.0.1", false},
		{"169.254.1.3", "169.254.1.9", true},
		{"::ffff:169.254.1.3", "169.254.1.9", true},
		{"169.254.1.3", "10.71.1.9", false},
		{"169.254.1.3", "fe80::9%eth0", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "::1", true},
		{"::1", "10.71.1.9", false},
		{"127.0.0.1", "fe80::9%eth0", false},
	}
	for _, tt := range tests {
		got := usableBy(netip.MustParseAddr(tt.contact), netip.MustParseAddr(tt.requester))
		if got != tt.want {
			t.Errorf("usableBy(%s, requester %s) = %v, want %v", tt.contact, tt.requester, got, tt.want)
		}
	}
	if usableBy(netip.MustParseAddr("fe80::3"), netip.Addr{}) {
		t.Error("a link-local contact is usable by a requester with no address")
	}
}

func TestHearsayFrom(t *testing.T) {
	tests := []struct {
		name, contact, sender string
		want                  string // the address kept, or "" if dropped
	}{
		{"global from anyone", "198.51.100.7:1", "203.0.113.9", "198.51.100.7:1"},
		{"private from global", "10.71.1.3:1", "203.0.113.9", "10.71.1.3:1"},
		{"link-local from global", "[fe80::3%eth0]:1", "203.0.113.9", ""},
		{"link-local from private", "[fe80::3%eth0]:1", "10.71.1.9", ""},
		{"link-local takes sender's zone", "[fe80::3%eth0]:1", "fe80::9%wlan0", "[fe80::3%wlan0]:1"},
		{"link-local without zone", "[fe80::3]:1", "fe80::9%br0", "[fe80::3%br0]:1"},
		{"IPv4 link-local from IPv4 link-local", "169.254.1.3:1", "169.254.1.9", "169.254.1.3:1"},
		{"mapped IPv4 link-local", "[::ffff:169.254.1.3]:1", "169.254.1.9", "169.254.1.3:1"},
		{"IPv4 link-local from IPv6 link-local", "169.254.1.3:1", "fe80::9%eth0", ""},
		{"IPv6 link-local from IPv4 link-local", "[fe80::3%eth0]:1", "169.254.1.9", ""},
		{"loopback from loopback", "127.0.0.1:1", "::1", "127.0.0.1:1"},
		{"loopback from private", "127.0.0.1:1", "10.71.1.9", ""},
		{"loopback from link-local", "[::1]:1", "fe80::9%eth0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := wire.Contact{ID: idAt(3, 1), Addr: netip.MustParseAddrPort(tt.contact)}
			got, ok := hearsayFrom(c, netip.MustParseAddr(tt.sender))
			if tt.want == "" {
				if ok {
					t.Errorf("kept %v, want it dropped", got)
				}
				return
			}
			if !ok || got.Addr != netip.MustParseAddrPort(tt.want) || got.ID != c.ID {
				t.Errorf("got %v (kept %v), want %s", got, ok, tt.want)
			}
		})
	}
}

func TestMovesTo(t *testing.T) {
	tests := []struct {
		old, next  string
		lastFailed bool
		want       bool
	}{
		{"10.71.1.3", "fe80::3%eth0", false, false},
		{"10.71.1.3", "127.0.0.1", false, false},
		{"198.51.100.3", "10.71.1.3", false, false},
		{"fe80::3%eth0", "10.71.1.3", false, true},
		{"10.71.1.3", "198.51.100.3", false, true},
		{"10.71.1.3", "10.71.1.4", false, true},
		{"10.71.1.3", "fd00::3", false, true},
		{"fe80::3%eth0", "fe80::3%eth1", false, true},
		{"198.51.100.3", "10.71.1.3", true, true},
		{"10.71.1.3", "fe80::3%eth0", true, true},
	}
	for _, tt := range tests {
		got := movesTo(netip.MustParseAddr(tt.old), netip.MustParseAddr(tt.next), tt.lastFailed)
		if got != tt.want {
			t.Errorf("movesTo(%s, %s, lastFailed %v) = %v, want %v", tt.old, tt.next, tt.lastFailed, got, tt.want)
		}
	}
}

// scopedContacts returns contacts in bucket 2 at one address of each
// scope, with their names.
func scopedContacts() map[string]wire.Contact {
	addrs := map[string]string{
		"global":      "198.51.100.7:4717",
		"private":     "10.71.1.3:4717",
		"link eth0":   "[fe80::3%eth0]:4717",
		"link eth1":   "[fe80::4%eth1]:4717",
		"link IPv4":   "169.254.1.3:4717",
		"loopback":    "127.0.0.1:4717",
		"loopback v6": "[::1]:4718",
	}
	contacts := make(map[string]wire.Contact)
	n := uint16(1)
	for _, name := range slices.Sorted(maps.Keys(addrs)) {
		contacts[name] = wire.Contact{ID: idAt(2, n), Addr: netip.MustParseAddrPort(addrs[name])}
		n++
	}
	return contacts
}

func TestFindNodeGivesUsableContacts(t *testing.T) {
	tests := []struct {
		requester string
		want      []string
	}{
		{"203.0.113.9:4717", []string{"global", "private"}},
		{"10.71.1.9:4717", []string{"global", "private"}},
		{"[fe80::9%eth0]:4717", []string{"global", "link eth0", "private"}},
		{"[fe80::9%eth1]:4717", []string{"global", "link eth1", "private"}},
		{"169.254.1.9:4717", []string{"global", "link IPv4", "private"}},
		{"127.0.0.1:4717", []string{"global", "loopback", "loopback v6", "private"}},
	}
	contacts := scopedContacts()
	for _, tt := range tests {
		t.Run(tt.requester, func(t *testing.T) {
			m := newTestMachine(Config{})
			for _, c := range contacts {
				hear(t, m, t0, c)
			}
			if m.Len() != len(contacts) {
				t.Fatalf("table holds %d contacts, want %d", m.Len(), len(contacts))
			}

			from := wire.Contact{ID: idAt(5, 1), Addr: netip.MustParseAddrPort(tt.requester)}
			resp := m.HandleRequest(t0, from, 1, &wire.FindNode{Target: idAt(2, 0)})
			var got []string
			for _, c := range resp.(*wire.Nodes).Contacts {
				for name, want := range contacts {
					if c == want {
						got = append(got, name)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Nodes holds %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodesResponseScope(t *testing.T) {
	tests := []struct {
		name, responder string
		// want maps each contact the response names to the address the
		// lookup must query it at, or "" if the lookup must drop it.
		want map[string]string
	}{
		{"global responder", "198.51.100.1:4717", map[string]string{
			"10.71.1.3:4717":      "10.71.1.3:4717",
			"[fe80::3%eth0]:4717": "",
			"169.254.1.3:4717":    "",
			"127.0.0.1:4717":      "",
		}},
		{"link-local responder", "[fe80::1%wlan0]:4717", map[string]string{
			"10.71.1.3:4717":      "10.71.1.3:4717",
			"[fe80::3%eth0]:4717": "[fe80::3%wlan0]:4717",
			"169.254.1.3:4717":    "",
			"127.0.0.1:4717":      "",
		}},
		{"loopback responder", "127.0.0.1:4800", map[string]string{
			"[fe80::3%eth0]:4717": "",
			"127.0.0.1:4717":      "127.0.0.1:4717",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMachine(Config{Alpha: 8})
			responder := wire.Contact{ID: idAt(0, 1), Addr: netip.MustParseAddrPort(tt.responder)}
			hear(t, m, t0, responder)
			m.Outbox()

			id := m.Lookup(t0, idAt(0, 0))
			reqs := findNodes(m.Outbox())
			if len(reqs) != 1 {
				t.Fatalf("lookup sent %d requests, want 1 to the responder", len(reqs))
			}
			var named []wire.Contact
			n := uint16(2)
			for _, addr := range slices.Sorted(maps.Keys(tt.want)) {
				named = append(named, wire.Contact{ID: idAt(0, n), Addr: netip.MustParseAddrPort(addr)})
				n++
			}
			m.HandleResponse(t0.Add(time.Millisecond), responder, reqs[0].Request, &wire.Nodes{Contacts: named})

			// Every message the lookup and its follow-up pings send must
			// go to a kept contact at its expected address.
			sent := m.Outbox()
			for _, r := range slices.Clone(m.pending) {
				m.HandleFailure(t0.Add(time.Second), r.id)
			}
			lookupDone(t, m.Events(), id)
			sent = append(sent, m.Outbox()...)
			addrs := make(map[identity.NodeID]netip.AddrPort)
			for _, o := range sent {
				addrs[o.To.ID] = o.To.Addr
			}
			for _, c := range named {
				want := tt.want[c.Addr.String()]
				got, ok := addrs[c.ID]
				switch {
				case want == "" && ok:
					t.Errorf("contact at %s was sent a request at %s, want it dropped", c.Addr, got)
				case want != "" && got != netip.MustParseAddrPort(want):
					t.Errorf("contact at %s was sent a request at %v, want %s", c.Addr, got, want)
				}
			}
		})
	}
}

func TestFindNodePathScope(t *testing.T) {
	m := newTestMachine(Config{})
	remote := wire.Contact{ID: idAt(1, 1), Addr: netip.MustParseAddrPort("203.0.113.9:4717")}
	neighbour := wire.Contact{ID: idAt(1, 2), Addr: netip.MustParseAddrPort("[fe80::9%eth0]:4717")}
	path := []wire.Contact{
		{ID: idAt(2, 1), Addr: netip.MustParseAddrPort("[fe80::3%eth7]:4717")},
		{ID: idAt(2, 2), Addr: netip.MustParseAddrPort("127.0.0.1:4717")},
		{ID: idAt(2, 3), Addr: netip.MustParseAddrPort("10.71.2.3:4717")},
	}

	m.HandleRequest(t0, remote, 1, &wire.FindNode{Target: selfID, Path: path})
	var pinged []string
	for _, o := range m.Outbox() {
		pinged = append(pinged, o.To.Addr.String())
	}
	if want := []string{"10.71.2.3:4717"}; !slices.Equal(pinged, want) {
		t.Errorf("path from a global requester: pinged %v, want %v", pinged, want)
	}

	m.HandleRequest(t0, neighbour, 2, &wire.FindNode{Target: selfID, Path: path[:1]})
	pinged = nil
	for _, o := range m.Outbox() {
		pinged = append(pinged, o.To.Addr.String())
	}
	if want := []string{"[fe80::3%eth0]:4717"}; !slices.Equal(pinged, want) {
		t.Errorf("path from a link-local requester: pinged %v, want %v in the requester's zone", pinged, want)
	}
}

func TestAddressScopeKept(t *testing.T) {
	id := idAt(4, 1)
	private := netip.MustParseAddrPort("10.71.1.3:4717")
	linkLocal := netip.MustParseAddrPort("[fe80::3%eth0]:4717")
	global := netip.MustParseAddrPort("[2001:db8::3]:4717")
	m := newTestMachine(Config{})
	at := func(addr netip.AddrPort) wire.Contact { return wire.Contact{ID: id, Addr: addr} }

	hear(t, m, t0, at(linkLocal))
	hear(t, m, t0.Add(time.Second), at(private))
	if got := peer(t, m, id).Addr; got != private {
		t.Fatalf("address %s after a request from %s, want the wider %s", got, private, private)
	}
	hear(t, m, t0.Add(2*time.Second), at(linkLocal))
	if got := peer(t, m, id).Addr; got != private {
		t.Errorf("address %s after a request from link-local, want %s kept", got, private)
	}
	hear(t, m, t0.Add(3*time.Second), at(global))
	if got := peer(t, m, id).Addr; got != global {
		t.Fatalf("address %s after a request from %s, want it moved", got, global)
	}

	// The node moved to a private LAN: its global address fails, and the
	// next request from the private one moves it.
	hear(t, m, t0.Add(4*time.Second), at(private))
	if got := peer(t, m, id).Addr; got != global {
		t.Fatalf("address %s, want %s kept while it works", got, global)
	}
	m.recordFailure(m.clock(t0.Add(5*time.Second)), at(global))
	m.Outbox()
	hear(t, m, t0.Add(6*time.Second), at(private))
	if got := peer(t, m, id).Addr; got != private {
		t.Errorf("address %s after the global one failed, want %s", got, private)
	}
}

// TestBogusZonesDoNotFillZoneList sends path contacts with hundreds of
// invented zones. They must take the requester's zone, or be dropped, so
// the zone list keeps room for the host's real interfaces.
func TestBogusZonesDoNotFillZoneList(t *testing.T) {
	m := newTestMachine(Config{})
	requesters := []wire.Contact{
		contactAt(3, 1),
		{ID: idAt(3, 2), Addr: netip.MustParseAddrPort("[fe80::2%eth0]:4717")},
	}
	for i := range 300 {
		zone := fmt.Sprintf("bogus%d", i) + strings.Repeat("z", 100)
		c := wire.Contact{ID: idAt(10+i%200, uint16(i)), Addr: netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(zone), 4000)}
		for j, from := range requesters {
			m.HandleRequest(t0, from, uint64(2*i+j+1), &wire.FindNode{Target: selfID, Path: []wire.Contact{c}})
			for _, o := range m.Outbox() {
				m.HandleFailure(t0, o.Request)
			}
		}
	}
	if !slices.Equal(m.zones, []string{"eth0"}) {
		t.Errorf("zone list %v, want only the requester's eth0", m.zones)
	}

	other := wire.Contact{ID: idAt(5, 7), Addr: netip.MustParseAddrPort("[fe80::9%wlan0]:4717")}
	hear(t, m, t0, other)
	if got := peer(t, m, other.ID).Addr; got != other.Addr {
		t.Errorf("a neighbour on another interface is stored at %s, want %s", got, other.Addr)
	}
}

func TestAddContactUpgradesAddress(t *testing.T) {
	m := newTestMachine(Config{})
	id := idAt(4, 1)
	linkLocal := wire.Contact{ID: id, Addr: netip.MustParseAddrPort("[fe80::3%eth0]:4717")}
	private := wire.Contact{ID: id, Addr: netip.MustParseAddrPort("10.71.1.3:4717")}
	hear(t, m, t0, linkLocal)
	m.Outbox()

	// A ping to the wider address that fails costs the contact nothing.
	m.AddContact(t0.Add(time.Second), private)
	pings := pingsTo(m.Outbox(), id)
	if len(pings) != 1 || pings[0].To != private {
		t.Fatalf("AddContact sent %v, want one ping to %v", pings, private)
	}
	m.HandleFailure(t0.Add(2*time.Second), pings[0].Request)
	if p := peer(t, m, id); p.Addr != linkLocal.Addr || p.Failures != 0 {
		t.Fatalf("after the failed ping: address %s with %d failures, want %s with none", p.Addr, p.Failures, linkLocal.Addr)
	}

	m.AddContact(t0.Add(3*time.Second), private)
	pings = pingsTo(m.Outbox(), id)
	if len(pings) != 1 {
		t.Fatalf("AddContact sent %d pings, want 1", len(pings))
	}
	m.HandleResponse(t0.Add(3*time.Second+time.Millisecond), private, pings[0].Request, &wire.Pong{})
	if got := peer(t, m, id).Addr; got != private.Addr {
		t.Fatalf("address %s after the wider address answered, want %s", got, private.Addr)
	}

	// Narrower or equal addresses are not pinged.
	for _, addr := range []string{"[fe80::3%eth0]:4717", "10.71.1.4:4717"} {
		m.AddContact(t0.Add(4*time.Second), wire.Contact{ID: id, Addr: netip.MustParseAddrPort(addr)})
		if out := m.Outbox(); len(out) != 0 {
			t.Errorf("AddContact at %s sent %v, want nothing", addr, out)
		}
	}
}

func TestAddContactBothBeaconsAtOnce(t *testing.T) {
	m := newTestMachine(Config{})
	id := idAt(4, 1)
	linkLocal := wire.Contact{ID: id, Addr: netip.MustParseAddrPort("[fe80::3%eth0]:4717")}
	private := wire.Contact{ID: id, Addr: netip.MustParseAddrPort("10.71.1.3:4717")}

	m.AddContact(t0, linkLocal)
	m.AddContact(t0, private)
	m.AddContact(t0, private)
	pings := pingsTo(m.Outbox(), id)
	if len(pings) != 2 || pings[0].To != linkLocal || pings[1].To != private {
		t.Fatalf("AddContact sent %v, want one ping to each address", pings)
	}

	m.HandleResponse(t0.Add(time.Millisecond), linkLocal, pings[0].Request, &wire.Pong{})
	m.HandleResponse(t0.Add(2*time.Millisecond), private, pings[1].Request, &wire.Pong{})
	if got := peer(t, m, id).Addr; got != private.Addr {
		t.Errorf("address %s after both answered, want the wider %s", got, private.Addr)
	}
}
