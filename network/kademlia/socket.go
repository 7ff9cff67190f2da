package kademlia

import (
	"encoding/binary"

	"github.com/yuinet/yui/network/wire"
)

// One node ID per socket. Node IDs cost nothing to make, so one process
// can send requests under any number of them from one UDP socket. Each
// request proves only that the socket responds for that one ID, and the
// table would otherwise keep every such ID as a live contact. Lookups
// then query contacts that stop answering once the sender moves on.
//
// The table and the replacement caches therefore hold at most one node ID
// per exact address and port. A new ID heard from an address that an
// entry already holds takes the entry's place only if that entry is stale
// (silent for PingInterval) or its last request failed. Otherwise the new
// ID is ignored, and the entry is pinged: a node that restarted with a new
// key keeps its address, so the ping to its old ID fails, and the new ID
// gets in with its next request or response.

// entryAt returns the table entry or replacement at e's address under
// another node ID, or nil. It also returns the entry's bucket and whether
// the entry is a replacement.
func (m *Machine) entryAt(e *entry) (holder *entry, idx int, spare bool) {
	bit := socketBit(e.ip, e.port)
	for idx := range m.buckets {
		b := &m.buckets[idx]
		if b.sockets&bit == 0 {
			continue
		}
		for i := range b.entries {
			if sameSocket(&b.entries[i], e) {
				return &b.entries[i], idx, false
			}
		}
		for i := range b.replacements {
			if sameSocket(&b.replacements[i], e) {
				return &b.replacements[i], idx, true
			}
		}
	}
	return nil, 0, false
}

// sameSocket reports whether a and b are different nodes at one address
// and port. It compares the addresses first, because they differ for
// nearly every pair and the ID comparison costs more.
func sameSocket(a, b *entry) bool {
	return a.port == b.port && a.addrKind == b.addrKind &&
		binary.LittleEndian.Uint64(a.ip[8:]) == binary.LittleEndian.Uint64(b.ip[8:]) &&
		binary.LittleEndian.Uint64(a.ip[:8]) == binary.LittleEndian.Uint64(b.ip[:8]) &&
		!sameID(&a.id, &b.id)
}

// claimSocket reports whether e, a node not in the table, may take its
// address, following the rule above. It drops the entry that had the
// address if that one was stale or failing, and otherwise pings it.
func (m *Machine) claimSocket(t int64, e *entry) bool {
	holder, idx, spare := m.entryAt(e)
	if holder == nil {
		return true
	}
	if holder.failures == 0 && t-holder.lastSeen < int64(m.cfg.PingInterval) {
		if !m.requestTo(holder.id) {
			m.send(t, m.contactOf(holder), &wire.Ping{}, request{kind: pingLiveness})
		}
		return false
	}

	b := &m.buckets[idx]
	if spare {
		b.replacements = removeAt(b.replacements, indexOf(b.replacements, holder.id))
		m.trimBuckets()
		return true
	}
	m.evict(t, idx, indexOf(b.entries, holder.id))
	return true
}
