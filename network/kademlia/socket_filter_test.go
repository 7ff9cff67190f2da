package kademlia

import (
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// scanSocket is entryAt without the buckets' socket filters: a scan of
// every entry and replacement.
func scanSocket(m *Machine, e *entry) *entry {
	for idx := range m.buckets {
		b := &m.buckets[idx]
		for i := range b.entries {
			if sameSocket(&b.entries[i], e) {
				return &b.entries[i]
			}
		}
		for i := range b.replacements {
			if sameSocket(&b.replacements[i], e) {
				return &b.replacements[i]
			}
		}
	}
	return nil
}

// TestSocketFilterFindsEveryHolder fills a table with entries and
// replacements, removes half of them and adds more, which rebuilds the
// filters, and checks that entryAt finds the holder of every address
// that a scan finds, and no other.
func TestSocketFilterFindsEveryHolder(t *testing.T) {
	m := newTestMachine(Config{ReplacementCache: 4})
	now := t0
	var added []wire.Contact
	for cpl := range 6 {
		for n := range uint16(30) {
			c := contactAt(cpl, n)
			hear(t, m, now, c)
			added = append(added, c)
		}
	}
	for k, c := range added {
		if k%2 == 0 {
			m.Remove(now, c.ID)
		}
	}
	now = now.Add(time.Second)
	for cpl := range 6 {
		for n := uint16(100); n < 130; n++ {
			c := contactAt(cpl, n)
			hear(t, m, now, c)
			added = append(added, c)
		}
	}
	m.Outbox()

	found := 0
	for _, c := range added {
		ip, port, kind, ok := m.packAddr(c.Addr)
		if !ok {
			t.Fatalf("address %v of %s cannot be packed", c.Addr, c.ID.Short())
		}
		// An entry with another ID at the contact's address.
		probe := entry{id: c.ID, ip: ip, port: port, addrKind: kind}
		flipBit(&probe.id, 255)
		got, _, _ := m.entryAt(&probe)
		want := scanSocket(m, &probe)
		if got != want {
			t.Fatalf("entryAt for the address of %s = %v, want %v", c.ID.Short(), got, want)
		}
		if want != nil {
			found++
		}
	}
	if found == 0 {
		t.Fatal("no contact was held, so the test checked nothing")
	}
}
