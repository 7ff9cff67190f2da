package kademlia

import (
	"fmt"
	"net/netip"
	"time"

	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"pgregory.net/rapid"
)

// propertyPool returns the contacts a property run draws from: a few
// buckets deep, so buckets overflow, with addresses crowded into two
// documentation /24s, one IPv6 /48 and one private /24, so the diversity
// limits bite. Some nodes appear again at link-local and loopback
// addresses, so addresses change scope. It also holds this node itself and
// contacts that are invalid.
func propertyPool(self wire.Contact) []wire.Contact {
	prefixes := []string{"198.51.100.%d:1", "203.0.113.%d:1", "[2001:db8:7::%d]:1", "10.1.1.%d:1"}
	var pool []wire.Contact
	for i := range 28 {
		addr := netip.MustParseAddrPort(fmt.Sprintf(prefixes[i%len(prefixes)], i+1))
		pool = append(pool, wire.Contact{ID: idAt(i%4, uint16(i)), Addr: addr})
	}
	for i := range 6 {
		other := []string{"[fe80::%d%%eth0]:1", "[fe80::%d%%eth1]:1", "127.0.0.%d:1"}[i%3]
		addr := netip.MustParseAddrPort(fmt.Sprintf(other, i+1))
		pool = append(pool, wire.Contact{ID: pool[i].ID, Addr: addr})
	}
	return append(pool,
		self,
		wire.Contact{ID: idAt(1, 999)}, // no address
		wire.Contact{Addr: netip.MustParseAddrPort("198.51.100.200:1")}, // zero ID
	)
}

// TestTableInvariantsProperty drives a Machine with random sequences of
// requests, responses, failures, removals, lookups and ticks. After every
// step it checks that no ID appears twice, no bucket exceeds K, every
// contact is in its own bucket, this node is absent and the diversity
// limits hold. After every Tick, no deadline may be in the past.
func TestTableInvariantsProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := Config{
			K:                  rapid.IntRange(1, 4).Draw(rt, "k"),
			Alpha:              rapid.IntRange(1, 3).Draw(rt, "alpha"),
			MaxFailures:        rapid.IntRange(1, 3).Draw(rt, "maxFailures"),
			ReplacementCache:   rapid.IntRange(1, 3).Draw(rt, "replacements"),
			MaxPerPrefixBucket: rapid.IntRange(1, 2).Draw(rt, "perBucket"),
			MaxPerPrefixTable:  rapid.IntRange(1, 4).Draw(rt, "perTable"),
			LivenessPings:      rapid.IntRange(1, 3).Draw(rt, "livenessPings"),
		}
		m := newTestMachine(cfg)
		pool := propertyPool(m.Self())
		contact := rapid.SampledFrom(pool)
		now := t0
		var sent []Outgoing // requests from the outbox that the test has not resolved yet

		collect := func() {
			for _, o := range m.Outbox() {
				if o.Request != 0 {
					sent = append(sent, o)
				}
			}
			m.Events()
		}
		pickSent := func(rt *rapid.T) (Outgoing, bool) {
			if len(sent) == 0 {
				return Outgoing{}, false
			}
			i := rapid.IntRange(0, len(sent)-1).Draw(rt, "request")
			o := sent[i]
			sent = append(sent[:i], sent[i+1:]...)
			return o, true
		}

		rt.Repeat(map[string]func(*rapid.T){
			"ping from": func(rt *rapid.T) {
				m.HandleRequest(now, contact.Draw(rt, "from"), 1, &wire.Ping{})
				collect()
			},
			"find-node from": func(rt *rapid.T) {
				path := rapid.SliceOfN(contact, 0, 4).Draw(rt, "path")
				target := contact.Draw(rt, "target").ID
				resp := m.HandleRequest(now, contact.Draw(rt, "from"), 1, &wire.FindNode{Target: target, Path: path})
				if resp == nil {
					rt.Fatal("FindNode returned nil")
				}
				collect()
			},
			"leave from": func(rt *rapid.T) {
				m.HandleRequest(now, contact.Draw(rt, "from"), 0, &wire.Leave{})
				collect()
			},
			"add contact": func(rt *rapid.T) {
				m.AddContact(now, contact.Draw(rt, "contact"))
				collect()
			},
			"remove": func(rt *rapid.T) {
				m.Remove(now, contact.Draw(rt, "contact").ID)
				collect()
			},
			"lookup": func(rt *rapid.T) {
				m.Lookup(now, contact.Draw(rt, "target").ID)
				collect()
			},
			"respond": func(rt *rapid.T) {
				o, ok := pickSent(rt)
				if !ok {
					rt.Skip("no request in flight")
				}
				from := o.To
				if rapid.IntRange(0, 9).Draw(rt, "impostor") == 0 {
					from = contact.Draw(rt, "from")
				}
				var resp wire.Message
				switch rapid.IntRange(0, 3).Draw(rt, "kind") {
				case 0:
					resp = &wire.Pong{}
				case 1:
					resp = &wire.Nodes{Contacts: rapid.SliceOfN(contact, 0, 5).Draw(rt, "contacts")}
				case 2:
					resp = &wire.Error{Code: wire.CodeOverloaded}
				}
				now = now.Add(time.Duration(rapid.IntRange(0, 50).Draw(rt, "rttMs")) * time.Millisecond)
				m.HandleResponse(now, from, o.Request, resp)
				collect()
			},
			"fail": func(rt *rapid.T) {
				o, ok := pickSent(rt)
				if !ok {
					rt.Skip("no request in flight")
				}
				m.HandleFailure(now, o.Request)
				collect()
			},
			"tick": func(rt *rapid.T) {
				step := rapid.SampledFrom([]time.Duration{
					0, time.Millisecond, time.Second, 3 * time.Second, time.Minute, 6 * time.Minute, 20 * time.Minute,
				}).Draw(rt, "advance")
				now = now.Add(step)
				m.Tick(now)
				if d := m.NextDeadline(); !d.IsZero() && !d.After(now) {
					rt.Fatalf("after Tick(%v) NextDeadline is %v, in the past", now, d)
				}
				collect()
			},
			"": func(rt *rapid.T) {
				if err := checkInvariants(m); err != nil {
					rt.Fatal(err)
				}
				if got := len(m.Peers()); got != m.Len() {
					rt.Fatalf("Peers() has %d contacts, Len() %d", got, m.Len())
				}
				checkPending(rt, m)
			},
		})
	})
}

// checkPending verifies that pending requests have increasing IDs, name
// nodes other than this one, and include at most one ping per node and
// address, and one per node besides the checks of wider addresses.
func checkPending(rt *rapid.T, m *Machine) {
	var last uint64
	pinged := make(map[wire.Contact]bool)
	checked := make(map[identity.NodeID]bool)
	for _, r := range m.pending {
		if r.kind != findNode {
			if pinged[r.to] {
				rt.Fatalf("two pings in flight to %s", r.to)
			}
			pinged[r.to] = true
		}
		if r.kind != findNode && r.kind != pingAddress {
			if checked[r.to.ID] {
				rt.Fatalf("two pings other than address checks in flight to %s", r.to.ID.Short())
			}
			checked[r.to.ID] = true
		}
		if r.id <= last {
			rt.Fatalf("pending request IDs not increasing: %d after %d", r.id, last)
		}
		last = r.id
		if r.to.ID == m.self.ID || r.to.ID == (identity.NodeID{}) {
			rt.Fatalf("request %d is addressed to %s", r.id, r.to)
		}
	}
	if len(m.pending) > 0 && m.NextDeadline().IsZero() {
		rt.Fatal("requests are pending but NextDeadline is zero")
	}
}
