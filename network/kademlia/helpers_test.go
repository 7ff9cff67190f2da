package kademlia

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// t0 is the start of every test's clock.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// selfID is the test node's ID: 0x55 repeated, so IDs with any common
// prefix length are easy to build.
var selfID = func() identity.NodeID {
	var id identity.NodeID
	for i := range id {
		id[i] = 0x55
	}
	return id
}()

// idAt returns an ID that shares exactly cpl leading bits with selfID,
// made distinct by n in its last 16 bits (as many as follow bit cpl).
func idAt(cpl int, n uint16) identity.NodeID {
	id := selfID
	flipBit(&id, cpl)
	for j := 0; j < 16 && 255-j > cpl; j++ {
		if n>>j&1 == 1 {
			flipBit(&id, 255-j)
		}
	}
	return id
}

func flipBit(id *identity.NodeID, bit int) { id[bit/8] ^= 0x80 >> (bit % 8) }

// addrN returns a documentation-range IPv4 address in its own /24, so
// contacts built with it never meet the diversity limits.
func addrN(n int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, byte(n >> 8), byte(n), 1}), 4242)
}

func contactAt(cpl int, n uint16) wire.Contact {
	return wire.Contact{ID: idAt(cpl, n), Addr: addrN(int(n) + cpl*300)}
}

func newTestMachine(cfg Config) *Machine {
	self := wire.Contact{ID: selfID, Addr: netip.MustParseAddrPort("192.0.2.1:4242")}
	return New(self, cfg, 1, t0)
}

// hear delivers a Ping from c, which inserts c as a verified contact.
func hear(t *testing.T, m *Machine, now time.Time, c wire.Contact) {
	t.Helper()
	resp := m.HandleRequest(now, c, 1, &wire.Ping{})
	if _, ok := resp.(*wire.Pong); !ok {
		t.Fatalf("Ping from %v returned %#v, want a Pong", c, resp)
	}
}

func hasPeer(m *Machine, id identity.NodeID) bool {
	return slices.ContainsFunc(m.Peers(), func(p PeerInfo) bool { return p.ID == id })
}

func peer(t *testing.T, m *Machine, id identity.NodeID) PeerInfo {
	t.Helper()
	for _, p := range m.Peers() {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("node %s is not in the table", id.Short())
	return PeerInfo{}
}

func hasReplacement(m *Machine, id identity.NodeID) bool {
	idx := m.bucketIndex(id)
	return idx < len(m.buckets) && indexOf(m.buckets[idx].replacements, id) >= 0
}

// pingsTo returns the Ping requests in out addressed to id.
func pingsTo(out []Outgoing, id identity.NodeID) []Outgoing {
	var pings []Outgoing
	for _, o := range out {
		if _, ok := o.Msg.(*wire.Ping); ok && o.To.ID == id {
			pings = append(pings, o)
		}
	}
	return pings
}

func countEvents(events []Event, kind EventKind, id identity.NodeID) int {
	n := 0
	for _, ev := range events {
		if ev.Kind == kind && ev.Peer.ID == id {
			n++
		}
	}
	return n
}

// checkInvariants verifies the routing table's structural rules.
func checkInvariants(m *Machine) error {
	seen := make(map[identity.NodeID]bool)
	perTable := make(map[uint64]int)
	for idx := range m.buckets {
		b := &m.buckets[idx]
		if len(b.entries) > m.cfg.K {
			return fmt.Errorf("bucket %d has %d entries, K is %d", idx, len(b.entries), m.cfg.K)
		}
		if len(b.replacements) > m.cfg.ReplacementCache {
			return fmt.Errorf("bucket %d has %d replacements, limit %d", idx, len(b.replacements), m.cfg.ReplacementCache)
		}
		perBucket := make(map[uint64]int)
		for _, list := range [][]entry{b.entries, b.replacements} {
			for i := range list {
				e := &list[i]
				if e.id == m.self.ID {
					return fmt.Errorf("bucket %d holds this node itself", idx)
				}
				if got := m.bucketIndex(e.id); got != idx {
					return fmt.Errorf("node %s is in bucket %d, belongs in %d", e.id.Short(), idx, got)
				}
				if seen[e.id] {
					return fmt.Errorf("node %s appears twice", e.id.Short())
				}
				seen[e.id] = true
				if err := m.contactOf(e).Validate(); err != nil {
					return fmt.Errorf("bucket %d: %v", idx, err)
				}
			}
		}
		for i := range b.entries {
			if key, limited := prefixKey(b.entries[i].ip); limited {
				perBucket[key]++
				perTable[key]++
				if perBucket[key] > m.cfg.MaxPerPrefixBucket {
					return fmt.Errorf("bucket %d has %d contacts from one prefix, limit %d", idx, perBucket[key], m.cfg.MaxPerPrefixBucket)
				}
			}
		}
	}
	for key, n := range perTable {
		if n > m.cfg.MaxPerPrefixTable {
			return fmt.Errorf("table has %d contacts from prefix %x, limit %d", n, key, m.cfg.MaxPerPrefixTable)
		}
	}
	if n := len(m.buckets); n > 0 && m.buckets[n-1].empty() {
		return fmt.Errorf("bucket list ends with an empty bucket %d", n-1)
	}
	return nil
}
