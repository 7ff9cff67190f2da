package hierarchy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

var fuzzStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fuzzContact(i byte) wire.Contact {
	var id identity.NodeID
	id[0], id[31] = i, 0x5a
	return wire.Contact{ID: id, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, i}), 4717)}
}

// fuzzMachine returns a representative with three group members, one of
// them a fellow representative, a routing table of a few contacts and a
// forwarded lookup and a served one in flight.
func fuzzMachine() *Machine {
	m := New(fuzzContact(1), Score{Capacity: 1 << 20}, Config{Mode: Hierarchical}, 7, fuzzStart)
	now := fuzzStart.Add(time.Second)
	recs := []wire.Member{
		{Contact: fuzzContact(2), Version: 5, Representative: true, Seeds: []wire.Contact{fuzzContact(9)}},
		{Contact: fuzzContact(3), Version: 5},
		{Contact: fuzzContact(4), Version: 5},
	}
	m.HandleRequest(now, recs[0].Contact, 1, &wire.GroupSync{Members: recs})
	for _, o := range m.Outbox() {
		for _, r := range recs {
			if o.To.ID == r.Contact.ID {
				m.HandleResponse(now, o.To, o.Request, &wire.GroupState{Members: []wire.Member{r}})
			}
		}
	}
	m.Tick(now.Add(15 * time.Second))
	m.Lookup(now, fuzzContact(7).ID)
	m.HandleRequest(now, fuzzContact(3), 2, &wire.Forward{Token: 3, Target: fuzzContact(8).ID, Path: []wire.Contact{fuzzContact(3)}})
	return m
}

// FuzzHandleMessage feeds decoded peer messages to a representative with
// a group and lookups in flight, as a request and as the response to each
// pending request. The Machine must not panic, and a Tick must move its
// deadline past the Tick's time, or its driver would spin.
func FuzzHandleMessage(f *testing.F) {
	seeds := []wire.Message{
		&wire.GroupSync{Members: []wire.Member{{Contact: fuzzContact(5), Version: 9, Representative: true}}},
		&wire.GroupState{Members: []wire.Member{{Contact: fuzzContact(2), Version: 99}}},
		&wire.GroupSync{Digest: []wire.Heartbeat{
			{Prefix: wire.IDPrefix(fuzzContact(2).ID), Version: 5, Beat: 1 << 40},
			{Prefix: wire.IDPrefix(fuzzContact(3).ID), Version: 6},
			{Prefix: wire.IDPrefix(fuzzContact(1).ID), Version: 1 << 62},
		}},
		&wire.GroupState{Digest: []wire.Heartbeat{{Prefix: wire.IDPrefix(fuzzContact(4).ID), Version: 5, Beat: ^uint64(0)}}},
		&wire.Forward{Token: 4, Target: fuzzContact(6).ID, Path: []wire.Contact{fuzzContact(4), {ID: fuzzContact(3).ID}}},
		&wire.ForwardAck{},
		&wire.LookupAnswer{Token: 1, Closest: []wire.Contact{fuzzContact(6)}, Hops: 2},
		&wire.Referral{Contacts: []wire.Contact{fuzzContact(6)}},
		&wire.Ping{},
		&wire.FindNode{Target: fuzzContact(6).ID},
		&wire.Nodes{Contacts: []wire.Contact{fuzzContact(6)}},
		&wire.Leave{},
	}
	for i, msg := range seeds {
		b, err := wire.Encode(uint64(i), msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}

	f.Fuzz(func(t *testing.T, sender uint8, data []byte) {
		request, msg, err := wire.Decode(data)
		if err != nil {
			return
		}
		m := fuzzMachine()
		out := m.Outbox()
		from := fuzzContact(2 + sender%6)
		now := fuzzStart.Add(2 * time.Second)
		m.HandleRequest(now, from, request, msg)
		for _, o := range out {
			if o.Request != 0 {
				m.HandleResponse(now, o.To, o.Request, msg)
			}
		}
		later := now.Add(time.Hour)
		m.Tick(later)
		if d := m.NextDeadline(); !d.IsZero() && !d.After(later) {
			t.Fatalf("deadline %v not after the Tick at %v", d, later)
		}
	})
}
