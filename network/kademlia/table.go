package kademlia

import (
	"net/netip"
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

func (m *Machine) contactOf(e *entry) wire.Contact {
	return wire.Contact{ID: e.id, Addr: m.unpackAddr(e.ip, e.port, e.addrKind)}
}

// observe records that c is alive: it responded to a request (rtt is then
// the measured round trip) or sent one (rtt is noRTT). A known contact
// moves to the most-recently-seen end of its bucket. A new one enters the
// table if its bucket has room and diversity allows it. Otherwise it
// becomes a replacement, and checkLeastRecent may ping the bucket's least
// recently seen contact, to be evicted if it does not respond.
func (m *Machine) observe(t int64, c wire.Contact, rtt time.Duration) {
	if !m.acceptable(c) {
		return
	}
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
	if !ok {
		return
	}
	if !m.diversityAllows(idx, e.ip, e.id) {
		m.addReplacement(t, idx, e)
		return
	}
	b := m.bucketAt(t, idx)
	if len(b.entries) < m.cfg.K {
		b.entries = appendBounded(b.entries, e, m.cfg.K)
		m.pingDue = min(m.pingDue, t+int64(m.cfg.PingInterval))
		m.emit(PeerAdded, c)
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
// The transport authenticates node IDs, so a new address means the node
// moved. The entry takes it unless that would break the diversity limits.
func (m *Machine) refreshEntry(t int64, idx int, e *entry, addr netip.AddrPort, rtt time.Duration) {
	e.lastSeen = max(e.lastSeen, t)
	e.failures = 0
	if rtt >= 0 {
		e.recordRTT(rtt)
	}
	if addr == m.unpackAddr(e.ip, e.port, e.addrKind) {
		return
	}
	ip, port, kind, ok := m.packAddr(addr)
	if ok && m.diversityAllows(idx, ip, e.id) {
		e.ip, e.port, e.addrKind = ip, port, kind
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
		if r.kind != findNode && r.to.ID == lrs.id {
			// A ping is already on its way: let its outcome decide the
			// eviction instead of sending a second one.
			r.kind = pingEvict
			return
		}
	}
	m.send(t, m.contactOf(lrs), &wire.Ping{}, request{kind: pingEvict})
}

// recordFailure counts a failed request to id. A table contact that reaches
// MaxFailures consecutive failures is evicted; a replacement is dropped.
func (m *Machine) recordFailure(t int64, id identity.NodeID) {
	idx := m.bucketIndex(id)
	if idx >= len(m.buckets) {
		return
	}
	b := &m.buckets[idx]
	if i := indexOf(b.entries, id); i >= 0 {
		e := &b.entries[i]
		e.addFailure()
		if int(e.failures) >= m.cfg.MaxFailures {
			m.evict(t, idx, i)
			return
		}
		// The contact is pinged again when its silence calls for it.
		m.pingDue = min(m.pingDue, e.lastSeen+int64(m.cfg.PingInterval))
		return
	}
	if i := indexOf(b.replacements, id); i >= 0 {
		b.replacements[i].addFailure()
		if int(b.replacements[i].failures) >= m.cfg.MaxFailures {
			b.replacements = removeAt(b.replacements, i)
			m.trimBuckets()
		}
	}
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

// remove deletes id from the table and from the replacement caches.
func (m *Machine) remove(t int64, id identity.NodeID) {
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
		m.pingDue = min(m.pingDue, e.lastSeen+int64(m.cfg.PingInterval))
		m.emit(PeerAdded, m.contactOf(&e))
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
// only once it responds.
func (m *Machine) AddContact(now time.Time, c wire.Contact) {
	m.considerCandidate(m.clock(now), c, true)
}

// Remove drops a node the caller learned is gone or misbehaving, from the
// table and the replacement caches, and gives up on requests to it.
func (m *Machine) Remove(now time.Time, id identity.NodeID) {
	t := m.clock(now)
	m.remove(t, id)
	m.abandonRequestsTo(now, id)
}

// considerCandidate pings an unverified contact so that it can enter the
// table when it responds. Contacts never enter the table on hearsay, so a
// peer that lies about others cannot poison it. Candidates from the
// protocol are pinged only if their bucket has room, but explicit ones
// (from AddContact) are pinged anyway and may end in the replacement cache.
// At most K protocol candidates are pinged at once, so a flood of referrals
// cannot make this node ping without end.
func (m *Machine) considerCandidate(t int64, c wire.Contact, explicit bool) {
	if !m.acceptable(c) || m.lookupEntry(c.ID) != nil || m.requestTo(c.ID) {
		return
	}
	idx := m.bucketIndex(c.ID)
	if !explicit {
		if idx < len(m.buckets) && len(m.buckets[idx].entries) >= m.cfg.K {
			return
		}
		if m.countPending(pingVerify) >= m.cfg.K {
			return
		}
	}
	ip, _, _, ok := m.packAddr(c.Addr)
	if !ok || !m.diversityAllows(idx, ip, c.ID) {
		return
	}
	m.send(t, c, &wire.Ping{}, request{kind: pingVerify})
}
