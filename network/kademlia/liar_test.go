package kademlia_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// TestLookupThroughLiar runs a lookup through a peer that names 64
// contacts that never respond, in virtual time. The lookup must query at
// most K/2 of them and finish within 4 request timeouts with the honest
// node.
func TestLookupThroughLiar(t *testing.T) {
	m := newVictim()
	honest := wire.Contact{ID: nodeID("honest"), Addr: netip.MustParseAddrPort("10.0.0.1:4717")}
	liar := wire.Contact{ID: nodeID("liar"), Addr: netip.MustParseAddrPort("10.0.0.2:4717")}
	m.HandleRequest(start, honest, 1, &wire.Ping{})
	m.HandleRequest(start, liar, 1, &wire.Ping{})

	var dead []wire.Contact
	for i := range wire.MaxContacts {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 4717)
		dead = append(dead, wire.Contact{ID: nodeID(fmt.Sprint("dead", i)), Addr: addr})
	}

	now := start
	id := m.Lookup(now, nodeID("target"))
	var res *kademlia.LookupResult
	for res == nil {
		for _, o := range m.Outbox() {
			switch o.To.ID {
			case honest.ID:
				m.HandleResponse(now, o.To, o.Request, responseTo(o.Msg))
			case liar.ID:
				if _, ok := o.Msg.(*wire.FindNode); ok {
					m.HandleResponse(now, o.To, o.Request, &wire.Nodes{Contacts: dead})
				} else {
					m.HandleResponse(now, o.To, o.Request, &wire.Pong{})
				}
			}
		}
		for _, e := range m.Events() {
			if e.Kind == kademlia.LookupDone && e.Lookup.ID == id {
				res = e.Lookup
			}
		}
		if res != nil {
			break
		}
		next := m.NextDeadline()
		if next.IsZero() {
			t.Fatal("lookup is not done and the Machine set no deadline")
		}
		now = next
		m.Tick(now)
	}

	cfg := m.Config()
	if took := res.Finished.Sub(res.Started); took > 4*cfg.RequestTimeout {
		t.Errorf("lookup took %v of virtual time, want at most 4 × %v", took, cfg.RequestTimeout)
	}
	if res.Queried > 2+cfg.K/2 {
		t.Errorf("lookup queried %d nodes, want at most the 2 table contacts and K/2 = %d named by the liar", res.Queried, cfg.K/2)
	}
	found := false
	for _, c := range res.Closest {
		found = found || c.ID == honest.ID
	}
	if !found {
		t.Errorf("lookup returned %v, want the honest node among them", res.Closest)
	}
}

// TestLookupDeadline runs a lookup in which every node responds after
// half a request timeout and names nodes ever closer to the target, so the
// lookup never runs out of nodes to query. It must finish at its deadline
// of 4 request timeouts with the nodes that responded.
func TestLookupDeadline(t *testing.T) {
	m := newVictim()
	target := nodeID("target")
	cfg := m.Config()
	for i := range 3 {
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 4717)
		m.HandleRequest(start, wire.Contact{ID: nodeID(fmt.Sprint("peer", i)), Addr: addr}, 1, &wire.Ping{})
	}

	// closer returns a new contact nearer the target than all before it.
	bit := 8
	closer := func() wire.Contact {
		id := target
		id[bit/8] ^= 0x80 >> (bit % 8)
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(bit)}), 4717)
		bit++
		return wire.Contact{ID: id, Addr: addr}
	}
	type reply struct {
		due time.Time
		out kademlia.Outgoing
	}
	var replies []reply

	now := start
	id := m.Lookup(now, target)
	var res *kademlia.LookupResult
	for res == nil && bit < 250 {
		for _, o := range m.Outbox() {
			if o.Request != 0 {
				replies = append(replies, reply{due: now.Add(cfg.RequestTimeout / 2), out: o})
			}
		}
		next := m.NextDeadline()
		if len(replies) > 0 && (next.IsZero() || replies[0].due.Before(next)) {
			r := replies[0]
			replies = replies[1:]
			now = r.due
			var msg wire.Message = &wire.Pong{}
			if _, ok := r.out.Msg.(*wire.FindNode); ok {
				msg = &wire.Nodes{Contacts: []wire.Contact{closer(), closer(), closer()}}
			}
			m.HandleResponse(now, r.out.To, r.out.Request, msg)
		} else {
			now = next
			m.Tick(now)
		}
		for _, e := range m.Events() {
			if e.Kind == kademlia.LookupDone && e.Lookup.ID == id {
				res = e.Lookup
			}
		}
	}

	if res == nil {
		t.Fatalf("lookup did not finish after %v of virtual time", now.Sub(start))
	}
	if took := res.Finished.Sub(res.Started); took != 4*cfg.RequestTimeout {
		t.Errorf("lookup took %v of virtual time, want its deadline of 4 × %v", took, cfg.RequestTimeout)
	}
	if len(res.Closest) == 0 {
		t.Error("lookup that hit its deadline returned no nodes, want the ones that responded")
	}
}
