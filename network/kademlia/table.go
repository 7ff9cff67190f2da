package kademlia

import (
	"net/netip"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// noRTT marks an observation that measured no round trip, such as an
// incoming request.
const noRTT time.Duration = -1

// bucketIndex returns the bucket for id: the number of leading bits it
// shares with this node's ID (256 for this node itself).
func (m *Machine) bucketIndex(id identity.NodeID) int {
	return identity.CommonPrefixLen(m.self.ID, id)
}

// bucketAt returns bucket idx, growing the bucket list if needed. A new
// bucket counts as refreshed at t, so it is not refreshed before anything
// could have happened in it.
func (m *Machine) bucketAt(t int64, idx int) *bucket {
	if idx >= len(m.buckets) {
		if idx >= cap(m.buckets) {
			grown := make([]bucket, len(m.buckets), idx+1)
			copy(grown, m.buckets)
			m.buckets = grown
		}
		for len(m.buckets) <= idx {
			m.buckets = append(m.buckets, bucket{lastLookup: t})
		}
		m.refreshDue = min(m.refreshDue, t+int64(m.cfg.RefreshInterval))
	}
	return &m.buckets[idx]
}

// lookupEntry returns the table entry for id, or nil.
func (m *Machine) lookupEntry(id identity.NodeID) *entry {
	idx := m.bucketIndex(id)
	if idx >= len(m.buckets) {
		return nil
	}
	b := &m.buckets[idx]
	if i := indexOf(b.entries, id); i >= 0 {
		return &b.entries[i]
	}
	return nil
}

// knownEntry returns the entry for id in the table or in a replacement
// cache, or nil.
func (m *Machine) knownEntry(id identity.NodeID) *entry {
	if e := m.lookupEntry(id); e != nil {
		return e
	}
	idx := m.bucketIndex(id)
	if idx >= len(m.buckets) {
		return nil
	}
	b := &m.buckets[idx]
	if i := indexOf(b.replacements, id); i >= 0 {
		return &b.replacements[i]
	}
	return nil
}

func (m *Machine) contactOf(e *entry) wire.Contact {
	return wire.Contact{ID: e.id, Addr: m.unpackAddr(e.ip, e.port, e.addrKind)}
}

// observe records that c is alive: it responded to a request (rtt is then
// the measured round trip) or sent one (rtt is noRTT). It is no longer a
// recently failed node. A known contact moves to the most-recently-seen
// end of its bucket. A new one is ignored while another node ID holds its
// address (see claimSocket). It enters the table if its bucket has room
// and diversity allows it. Otherwise it becomes a replacement, and
// checkLeastRecent may ping the bucket's least recently seen contact, to
// be evicted if it does not respond.
func (m *Machine) observe(t int64, c wire.Contact, rtt time.Duration) {
	if !m.acceptable(c) {
		return
	}
	m.failed.forget(c.ID)
	idx := m.bucketIndex(c.ID)
	if idx < len(m.buckets) {
		b := &m.buckets[idx]
		if i := indexOf(b.entries, c.ID); i >= 0 {
			m.refreshEntry(t, idx, &b.entries[i], c.Addr, rtt)
			moveToBack(b.entries, i)
			return
		}
		if i := indexOf(b.replacements, c.ID); i >= 0 {
			m.refreshEntry(t, idx, &b.replacements[i], c.Addr, rtt)
			moveToBack(b.replacements, i)
			m.promote(t, idx)
			return
		}
	}

	e, ok := m.newEntry(t, c, rtt)
	if !ok || !m.claimSocket(t, &e) {
		return
	}
	if !m.diversityAllows(idx, e.ip, e.id) {
		m.addReplacement(t, idx, e)
		return
	}
	b := m.bucketAt(t, idx)
	if len(b.entries) < m.cfg.K {
		b.entries = appendBounded(b.entries, e, m.cfg.K)
		b.holdSocket(&e)
		m.pingDue = min(m.pingDue, t+int64(m.cfg.PingInterval))
		m.emit(PeerAdded, c)
		m.retryShortJoin(t)
		return
	}
	m.addReplacement(t, idx, e)
	m.checkLeastRecent(t, idx)
}

// newEntry builds the entry for a contact first seen at t.
func (m *Machine) newEntry(t int64, c wire.Contact, rtt time.Duration) (entry, bool) {
	ip, port, kind, ok := m.packAddr(c.Addr)
	if !ok {
		return entry{}, false
	}
	e := entry{id: c.ID, ip: ip, port: port, addrKind: kind, firstSeen: t, lastSeen: t}
	if rtt >= 0 {
		e.recordRTT(rtt)
	}
	return e, true
}

// refreshEntry updates a known contact of bucket idx that proved alive.
// The transport authenticates node IDs, so a packet from a new address
// comes from the node itself. The entry moves to that address if movesTo
// allows it and the diversity limits do too.
func (m *Machine) refreshEntry(t int64, idx int, e *entry, addr netip.AddrPort, rtt time.Duration) {
	lastFailed := e.failures > 0
	e.lastSeen = max(e.lastSeen, t)
	e.failures = 0
	if rtt >= 0 {
		e.recordRTT(rtt)
	}
	old := m.unpackAddr(e.ip, e.port, e.addrKind)
	if addr == old || !movesTo(old.Addr(), addr.Addr(), lastFailed) {
		return
	}
	ip, port, kind, ok := m.packAddr(addr)
	if !ok || !m.diversityAllows(idx, ip, e.id) {
		return
	}
	// Another node holding the new address keeps it (see claimSocket).
	moved := entry{id: e.id, ip: ip, port: port, addrKind: kind}
	if holder, _, _ := m.entryAt(&moved); holder == nil {
		e.ip, e.port, e.addrKind = ip, port, kind
		m.buckets[idx].holdSocket(e)
	}
}

// addReplacement puts a verified contact into bucket idx's replacement
// cache. A full cache drops its least recently seen entry, the one most
// likely to have gone.
func (m *Machine) addReplacement(t int64, idx int, e entry) {
	if !m.replacementAllows(idx, e.ip, e.id) {
		return
	}
	b := m.bucketAt(t, idx)
	if len(b.replacements) >= m.cfg.ReplacementCache {
		b.replacements = removeAt(b.replacements, 0)
	}
	b.replacements = appendBounded(b.replacements, e, m.cfg.ReplacementCache)
	b.holdSocket(&e)
}

// checkLeastRecent pings the least recently seen contact of the full bucket
// idx, unless such a check is already in flight. If the ping fails the
// contact is evicted and the best replacement takes its place. If it
// responds, it stays and the newcomer waits in the replacement cache.
//
// A contact heard from within PingInterval is not pinged: the Machine
// counts it alive, as pingSilent does, and a ping would mostly confirm it
// at the cost of one request per newcomer. Once it falls silent, its
// liveness ping doubles as the eviction check, because a replacement is
// waiting.
func (m *Machine) checkLeastRecent(t int64, idx int) {
	lrs := &m.buckets[idx].entries[0]
	if t-lrs.lastSeen < int64(m.cfg.PingInterval) {
		return
	}
	for i := range m.pending {
		r := &m.pending[i]
		if r.kind == pingEvict && m.bucketIndex(r.to.ID) == idx {
			return
		}
		if r.kind == pingAddress && r.to.ID == lrs.id {
			// Its failure would not show that the contact is gone. The
			// next newcomer checks again.
			return
		}
		if r.kind != findNode && r.to.ID == lrs.id {
			// A ping is already on its way: let its outcome decide the
			// eviction instead of sending a second one.
			r.kind = pingEvict
			return
		}
	}
	m.send(t, m.contactOf(lrs), &wire.Ping{}, request{kind: pingEvict})
}

// recordFailure counts a failed request to c. A table contact that reaches
// MaxFailures consecutive failures is evicted and a replacement dropped.
// Either way it is blocked in the recently failed set, which also counts
// the failures of nodes outside the table (see recheck).
func (m *Machine) recordFailure(t int64, c wire.Contact) {
	id := c.ID
	idx := m.bucketIndex(id)
	if idx >= len(m.buckets) {
		m.recheck(t, c)
		return
	}
	b := &m.buckets[idx]
	if i := indexOf(b.entries, id); i >= 0 {
		e := &b.entries[i]
		e.addFailure()
		if int(e.failures) >= m.cfg.MaxFailures {
			m.noteFailures(t, id, int(e.failures))
			m.evict(t, idx, i)
			return
		}
		// A failure hints that the contact is gone, so pingSilent checks
		// it at once instead of after PingInterval of silence.
		m.suspectsDue = true
		m.pingDue = min(m.pingDue, t)
		return
	}
	if i := indexOf(b.replacements, id); i >= 0 {
		r := &b.replacements[i]
		r.addFailure()
		if int(r.failures) < m.cfg.MaxFailures {
			m.pingAgain(t, c)
			return
		}
		m.noteFailures(t, id, int(r.failures))
		b.replacements = removeAt(b.replacements, i)
		m.trimBuckets()
		return
	}
	m.recheck(t, c)
}

// recheck counts a failed request to c, a node outside the table, and
// pings it again until it responds or is blocked.
func (m *Machine) recheck(t int64, c wire.Contact) {
	if m.noteFailures(t, c.ID, 1) < m.cfg.MaxFailures {
		m.pingAgain(t, c)
	}
}

// pingAgain pings c, outside the table, at once after a failed request.
// Like pingSilent for table contacts, this takes a dead node that others
// still name to MaxFailures within a few timeouts, where waiting would
// cost a timeout in each of the next lookups that meet it. At most K such
// pings are in flight, shared with the pings that verify candidates.
func (m *Machine) pingAgain(t int64, c wire.Contact) {
	if m.requestTo(c.ID) || m.candidatePings() >= m.cfg.K {
		return
	}
	m.send(t, c, &wire.Ping{}, request{kind: pingRecheck})
}

// candidatePings counts the pings in flight to nodes outside the table.
func (m *Machine) candidatePings() int {
	return m.countPending(pingVerify) + m.countPending(pingRecheck)
}

// evict removes entry i of bucket idx and fills its place from the
// replacement cache.
func (m *Machine) evict(t int64, idx, i int) {
	b := &m.buckets[idx]
	evicted := m.contactOf(&b.entries[i])
	b.entries = removeAt(b.entries, i)
	m.emit(PeerRemoved, evicted)
	m.promote(t, idx)
	m.trimBuckets()
}

// remove deletes id, a node that is gone, from the table and from the
// replacement caches, and blocks it as a recently failed node.
func (m *Machine) remove(t int64, id identity.NodeID) {
	m.blockNode(t, id)
	idx := m.bucketIndex(id)
	if idx >= len(m.buckets) {
		return
	}
	b := &m.buckets[idx]
	if i := indexOf(b.replacements, id); i >= 0 {
		b.replacements = removeAt(b.replacements, i)
	}
	if i := indexOf(b.entries, id); i >= 0 {
		m.evict(t, idx, i)
		return
	}
	m.trimBuckets()
}

// promote moves the most stable replacements into bucket idx while it has
// room and diversity allows them.
func (m *Machine) promote(t int64, idx int) {
	b := &m.buckets[idx]
	allowed := func(r *entry) bool { return m.diversityAllows(idx, r.ip, r.id) }
	for len(b.entries) < m.cfg.K {
		i := b.bestReplacement(allowed)
		if i < 0 {
			return
		}
		e := b.replacements[i]
		b.replacements = removeAt(b.replacements, i)
		b.entries = insertByLastSeen(b.entries, e, m.cfg.K)
		b.holdSocket(&e)
		m.pingDue = min(m.pingDue, e.lastSeen+int64(m.cfg.PingInterval))
		if e.failures > 0 {
			m.suspectsDue = true
			m.pingDue = min(m.pingDue, t)
		}
		m.emit(PeerAdded, m.contactOf(&e))
		m.retryShortJoin(t)
	}
}

// trimBuckets drops empty buckets from the end of the list.
func (m *Machine) trimBuckets() {
	n := len(m.buckets)
	for n > 0 && m.buckets[n-1].empty() {
		n--
	}
	clear(m.buckets[n:])
	m.buckets = m.buckets[:n]
}

// Len returns the number of contacts in the routing table, not counting
// replacement caches.
func (m *Machine) Len() int {
	n := 0
	for i := range m.buckets {
		n += len(m.buckets[i].entries)
	}
	return n
}

// Contains reports whether id is in the routing table (not only in a
// replacement cache).
func (m *Machine) Contains(id identity.NodeID) bool {
	return m.lookupEntry(id) != nil
}

// Peers returns the routing table's contacts with their metrics, by bucket
// and least recently seen first within a bucket.
func (m *Machine) Peers() []PeerInfo {
	peers := make([]PeerInfo, 0, m.Len())
	for idx := range m.buckets {
		for i := range m.buckets[idx].entries {
			e := &m.buckets[idx].entries[i]
			peers = append(peers, PeerInfo{
				Contact:   m.contactOf(e),
				Bucket:    idx,
				RTT:       time.Duration(e.rtt) * time.Microsecond,
				FirstSeen: m.wall(e.firstSeen),
				LastSeen:  m.wall(e.lastSeen),
				Failures:  int(e.failures),
			})
		}
	}
	return peers
}

// Buckets describes the non-empty buckets, shallowest first.
func (m *Machine) Buckets() []BucketInfo {
	var infos []BucketInfo
	for idx := range m.buckets {
		b := &m.buckets[idx]
		if !b.empty() {
			infos = append(infos, BucketInfo{Index: idx, Contacts: len(b.entries), Replacements: len(b.replacements)})
		}
	}
	return infos
}

// AddContact considers a contact learned outside the protocol, such as a
// LAN beacon or a --bootstrap address. The Machine pings it and inserts it
// only once it responds. At most K such pings are in flight and K more
// contacts wait for them. Further contacts are dropped and counted (see
// DroppedContacts), so a flood of beacons signed by fresh keys costs this
// node a bounded number of pings.
//
// A node already in the table, or being pinged, is pinged only at an
// address of wider scope than the one known, and moves there if it
// responds. A LAN neighbour first heard over an IPv6 link-local beacon
// thus moves to the IPv4 address of its other beacon, which nodes on other
// networks can use too, even when both beacons arrive at once.
func (m *Machine) AddContact(now time.Time, c wire.Contact) {
	t := m.clock(now)
	known, ok := m.knownAddr(c.ID)
	if !ok {
		m.queueContact(t, c)
		return
	}
	if m.acceptable(c) && scopeOf(c.Addr.Addr()) > scopeOf(known) && !m.requestToContact(c) {
		m.send(t, c, &wire.Ping{}, request{kind: pingAddress})
	}
}

// knownAddr returns the address of id's table entry or, for a node
// outside the table, of a request in flight to it.
func (m *Machine) knownAddr(id identity.NodeID) (netip.Addr, bool) {
	if e := m.lookupEntry(id); e != nil {
		return m.unpackAddr(e.ip, e.port, e.addrKind).Addr(), true
	}
	for i := range m.pending {
		if m.pending[i].to.ID == id {
			return m.pending[i].to.Addr.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// Remove drops a node the caller learned is gone or misbehaving, from the
// table and the replacement caches, and gives up on requests to it.
// Lookups skip the node until it sends a request or PingInterval passes.
func (m *Machine) Remove(now time.Time, id identity.NodeID) {
	t := m.clock(now)
	m.remove(t, id)
	m.abandonRequestsTo(now, id)
}

// considerCandidate pings an unverified contact so that it can enter the
// table when it responds. Contacts never enter the table on hearsay, so a
// peer that lies about others cannot poison it. Candidates from the
// protocol are pinged only if their bucket has room and they are not
// blocked as recently failed. Explicit ones (from AddContact) are pinged
// anyway and may end in the replacement cache. At most K protocol
// candidates are pinged at once, so a flood of referrals cannot make this
// node ping without end.
func (m *Machine) considerCandidate(t int64, c wire.Contact, explicit bool) {
	if !m.acceptable(c) || m.lookupEntry(c.ID) != nil || m.requestTo(c.ID) {
		return
	}
	idx := m.bucketIndex(c.ID)
	if !explicit {
		if idx < len(m.buckets) && len(m.buckets[idx].entries) >= m.cfg.K {
			return
		}
		if m.blocked(t, c.ID) {
			return
		}
		if m.candidatePings() >= m.cfg.K {
			return
		}
	}
	ip, _, _, ok := m.packAddr(c.Addr)
	if !ok || !m.diversityAllows(idx, ip, c.ID) {
		return
	}
	kind := pingVerify
	if explicit {
		kind = pingContact
	}
	m.send(t, c, &wire.Ping{}, request{kind: kind})
}

// queueContact pings c, from AddContact, if fewer than K such pings are in
// flight, and otherwise queues it. A full queue drops c.
func (m *Machine) queueContact(t int64, c wire.Contact) {
	if m.countPending(pingContact) < m.cfg.K {
		m.considerCandidate(t, c, true)
		return
	}
	for _, q := range m.contactQueue {
		if q.ID == c.ID {
			return
		}
	}
	if len(m.contactQueue) >= m.cfg.K {
		m.droppedContacts++
		return
	}
	m.contactQueue = append(m.contactQueue, c)
}

// sendQueuedContacts pings queued contacts while fewer than K pings for
// AddContact are in flight.
func (m *Machine) sendQueuedContacts(t int64) {
	for len(m.contactQueue) > 0 && m.countPending(pingContact) < m.cfg.K {
		c := m.contactQueue[0]
		m.contactQueue = slices.Delete(m.contactQueue, 0, 1)
		if _, known := m.knownAddr(c.ID); !known {
			m.considerCandidate(t, c, true)
		}
	}
}

// DroppedContacts returns the number of contacts given to AddContact that
// the Machine dropped because K pings were in flight and K more contacts
// waited for them.
func (m *Machine) DroppedContacts() uint64 { return m.droppedContacts }
