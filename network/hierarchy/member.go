package hierarchy

import (
	"net/netip"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// addr is a packed netip.AddrPort. netip.Addr keeps its zone behind a
// pointer, but addr keeps an index into the Machine's zone list instead.
// A group table then holds no pointers for the garbage collector to scan,
// which matters when a simulator keeps a million of them.
type addr struct {
	ip   [16]byte
	port uint16
	kind uint8 // addrIPv4, addrIPv6, or addrZoneBase plus a zone index
}

const (
	addrIPv4 uint8 = iota
	addrIPv6
	addrZoneBase
)

// maxZones is the number of distinct IPv6 zones one Machine stores; a zone
// names a local interface, so a host has a handful.
const maxZones = 256 - int(addrZoneBase)

// pack packs ap, or returns false when its zone does not fit the list.
func (m *Machine) pack(ap netip.AddrPort) (addr, bool) {
	a := ap.Addr()
	p := addr{ip: a.As16(), port: ap.Port(), kind: addrIPv6}
	switch {
	case a.Is4():
		p.kind = addrIPv4
		return p, true
	case a.Zone() == "":
		return p, true
	}
	for i, z := range m.zones {
		if z == a.Zone() {
			p.kind = addrZoneBase + uint8(i)
			return p, true
		}
	}
	if len(m.zones) >= maxZones {
		return addr{}, false
	}
	m.zones = append(m.zones, a.Zone())
	p.kind = addrZoneBase + uint8(len(m.zones)-1)
	return p, true
}

func (m *Machine) unpack(p addr) netip.AddrPort {
	var a netip.Addr
	switch {
	case p.kind == addrIPv4:
		a = netip.AddrFrom4([4]byte(p.ip[12:]))
	case p.kind == addrIPv6:
		a = netip.AddrFrom16(p.ip)
	default:
		a = netip.AddrFrom16(p.ip).WithZone(m.zones[p.kind-addrZoneBase])
	}
	return netip.AddrPortFrom(a, p.port)
}

// seed is a packed DHT contact.
type seed struct {
	id   identity.NodeID
	addr addr
}

func (m *Machine) packContact(c wire.Contact) (seed, bool) {
	p, ok := m.pack(c.Addr)
	return seed{id: c.ID, addr: p}, ok
}

func (m *Machine) unpackContact(s seed) wire.Contact {
	return wire.Contact{ID: s.id, Addr: m.unpack(s.addr)}
}

// memberState is this node's verdict on whether a member is alive.
type memberState uint8

const (
	// unverified members were named by hearsay or a beacon and have not
	// yet responded to a GroupSync of this node. They take no part in the
	// election and are not passed on.
	unverified memberState = iota + 1
	// alive members responded to or sent a request, or their record
	// reached a new version within SuspectTimeout.
	alive
	// dead members failed a check or sent Leave. Their record stays as a
	// tombstone for tombstoneTTL, so that stale gossip cannot revive them
	// unless they restart with a higher version.
	dead
)

// tombstoneTTL is how long a dead member's record is kept.
const tombstoneTTL = 10 * time.Minute

// member is this node's copy of another group member's record. Apart from
// seeds it holds no pointers.
type member struct {
	id       identity.NodeID
	addr     addr
	version  uint64
	beat     uint64 // the member's heartbeat, in milliseconds after version
	heard    int64  // when the heartbeat last rose, or the member was heard directly
	changed  int64  // when this node took in the record's version
	uptime   uint32 // seconds, as of version
	capacity uint32
	link     uint32
	state    memberState
	rep      bool
	failures uint8 // consecutive failed requests to the member
	seeds    []seed
}

func (e *member) live() bool { return e.state == alive }

func (e *member) merit() uint32 {
	return Score{Uptime: uptimeAt(uint64(e.uptime), e.beat), Capacity: e.capacity, Link: e.link}.Merit()
}

// maxUptime bounds the uptime a record can state, in seconds, about 136
// years, so that sums of peer-supplied values cannot overflow.
const maxUptime = 1 << 32

// uptimeAt returns the uptime a record states as of its heartbeat: its
// uptime in seconds as of its version plus its beat in milliseconds.
// Every node computes it from the same two numbers, so all agree on it.
func uptimeAt(uptime, beat uint64) time.Duration {
	s := min(min(uptime, maxUptime)+min(beat/1000, maxUptime), maxUptime)
	return time.Duration(s) * time.Second
}

// findPrefix returns the index of the member whose ID starts with the
// Heartbeat prefix p: the only live one, or else the only one in any
// state. It returns -1 if none does, and reports shared if several do, so
// that a forged tombstone cannot hide a live member's heartbeats.
func (m *Machine) findPrefix(p uint64) (i int, shared bool) {
	live, other := -1, -1
	lives, others := 0, 0
	for j := range m.group {
		e := &m.group[j]
		switch {
		case wire.IDPrefix(e.id) != p:
		case e.live():
			live, lives = j, lives+1
		default:
			other, others = j, others+1
		}
	}
	switch {
	case lives == 1:
		return live, false
	case lives == 0 && others == 1:
		return other, false
	}
	return -1, lives+others > 1
}

// findMember returns the index of id in the group, or -1.
func (m *Machine) findMember(id identity.NodeID) int {
	for i := range m.group {
		if m.group[i].id == id {
			return i
		}
	}
	return -1
}

func (m *Machine) contactOf(e *member) wire.Contact {
	return wire.Contact{ID: e.id, Addr: m.unpack(e.addr)}
}

// ownRecord returns this node's record as of its current heartbeat.
func (m *Machine) ownRecord() wire.Member {
	rec := wire.Member{
		Contact:        m.wireSelf(),
		Version:        m.version,
		Beat:           m.beat,
		Uptime:         uint64(max(m.published.Uptime, 0) / time.Second),
		Capacity:       m.published.Capacity,
		Link:           m.published.Link,
		Representative: m.rep,
	}
	for _, s := range m.ownSeeds() {
		rec.Seeds = append(rec.Seeds, m.unpackContact(s))
	}
	return rec
}

// record returns e as a wire record.
func (m *Machine) record(e *member) wire.Member {
	rec := wire.Member{
		Contact: m.contactOf(e), Version: e.version, Beat: e.beat,
		Uptime: uint64(e.uptime), Capacity: e.capacity, Link: e.link,
		Representative: e.rep,
	}
	for _, s := range e.seeds {
		rec.Seeds = append(rec.Seeds, m.unpackContact(s))
	}
	return rec
}

// merge takes in a member record. direct is set when the record's own node
// sent it, which proves the node alive and its record authentic. It
// returns the member's index, or -1 if the record was ignored.
func (m *Machine) merge(t int64, rec *wire.Member, direct bool) int {
	if rec.Contact.ID == m.self.ID {
		m.ownVersionSeen(rec.Version, rec.Beat)
		return -1
	}
	if rec.Contact.Validate() != nil || rec.Version > maxVersion {
		return -1
	}
	i := m.findMember(rec.Contact.ID)
	if i < 0 {
		return m.addMember(t, rec, direct)
	}

	e := &m.group[i]
	switch {
	case rec.Version > e.version:
		m.update(t, e, rec)
		if e.state == dead {
			// A higher version after death means the node restarted.
			e.state = unverified
		}
	case rec.Version == e.version && rec.Beat > e.beat:
		m.beatRose(t, e, rec.Beat)
	}
	if direct {
		m.heardFrom(t, i)
	}
	return i
}

// addMember adds a member first heard of in rec.
func (m *Machine) addMember(t int64, rec *wire.Member, direct bool) int {
	if len(m.group) >= m.cfg.MaxGroup {
		m.collectTombstones(t, true)
		if len(m.group) >= m.cfg.MaxGroup {
			// NOTE: a broadcast domain with more than MaxGroup nodes
			// splits into groups that each know only part of it.
			return -1
		}
	}
	if len(m.group) == cap(m.group) {
		// Grow by a quarter rather than double as append would, because
		// a simulator keeps a million of these tables.
		grown := make([]member, len(m.group), len(m.group)+max(4, len(m.group)/4))
		copy(grown, m.group)
		m.group = grown
	}
	m.group = append(m.group, member{id: rec.Contact.ID, state: unverified})
	i := len(m.group) - 1
	if !m.update(t, &m.group[i], rec) {
		m.group = m.group[:i]
		return -1
	}
	if direct {
		m.heardFrom(t, i)
	}
	return i
}

// update copies rec into e and reports whether its address could be
// stored.
func (m *Machine) update(t int64, e *member, rec *wire.Member) bool {
	p, ok := m.pack(rec.Contact.Addr)
	if !ok {
		return false
	}
	e.addr = p
	e.version, e.beat = rec.Version, rec.Beat
	e.heard = max(e.heard, t)
	e.changed = t
	e.uptime = uint32(min(rec.Uptime, 1<<32-1))
	e.capacity, e.link = rec.Capacity, rec.Link
	if e.rep != rec.Representative {
		e.rep = rec.Representative
		m.dirty = true
		m.representativeChanged(t, e)
	}
	e.seeds = e.seeds[:0]
	for _, c := range rec.Seeds {
		if s, ok := m.packContact(c); ok && c.ID != m.self.ID {
			e.seeds = append(e.seeds, s)
		}
	}
	if len(e.seeds) == 0 {
		e.seeds = nil
	} else {
		m.rejoinSoon(t)
	}
	if e.live() {
		m.dirty = true // the merit may have changed
	}
	return true
}

// ownVersionSeen takes in the version and heartbeat of this node's own
// record that the group holds. A version above this node's own comes from
// a previous run with a faster clock: the node jumps past it at its next
// heartbeat, so that this run's record wins. A heartbeat above its own for
// its current version is forged, since only this node raises it, so the
// next heartbeat writes a new version that supersedes it as well.
func (m *Machine) ownVersionSeen(v, beat uint64) {
	switch {
	case v > m.version && v <= maxVersion:
		m.version = v
		m.recordChanged = true
	case v == m.version && beat > m.beat:
		m.recordChanged = true
	}
}

// beatRose takes in a later heartbeat of e's current version: evidence
// that the member is alive, and a longer uptime.
func (m *Machine) beatRose(t int64, e *member, beat uint64) {
	e.beat = beat
	e.heard = max(e.heard, t)
	switch e.state {
	case alive:
		m.dirty = true // the merit may have changed
	case dead:
		// Its heartbeat goes on, so check it directly.
		e.state = unverified
	}
}

// representativeChanged keeps this node's routing table in step with the
// seats of its group: fellow representatives cover the same DHT and sit
// one LAN hop away, and one that stepped down no longer serves it.
func (m *Machine) representativeChanged(t int64, e *member) {
	if m.routing == nil || !e.live() {
		return
	}
	if e.rep {
		m.routing.AddContact(m.wall(t), m.contactOf(e))
	} else {
		m.routing.Remove(m.wall(t), e.id)
	}
}

// heardFrom records direct evidence that member i is alive.
func (m *Machine) heardFrom(t int64, i int) {
	e := &m.group[i]
	e.heard = max(e.heard, t)
	e.failures = 0
	if e.state == alive {
		return
	}
	e.state = alive
	m.dirty = true
	m.emit(peerAdded, m.contactOf(e))
	if e.rep && m.routing != nil {
		m.routing.AddContact(m.wall(t), m.contactOf(e))
	}
}

// memberFailed counts a failed request to member id. One failure of a
// member whose record has gone stale, or two in a row, make it dead. A
// single failure of a fresh one only calls for a check.
func (m *Machine) memberFailed(t int64, id identity.NodeID) {
	i := m.findMember(id)
	if i < 0 || m.group[i].state == dead {
		return
	}
	e := &m.group[i]
	if e.failures < 255 {
		e.failures++
	}
	stale := t-e.heard >= int64(m.cfg.SuspectTimeout)
	if e.state == unverified || e.failures >= 2 || stale {
		m.markDead(t, i)
		return
	}
	m.sync(t, i)
}

// markDead turns member i into a tombstone.
func (m *Machine) markDead(t int64, i int) {
	e := &m.group[i]
	wasAlive := e.state == alive
	e.state = dead
	e.heard = t
	if !wasAlive {
		m.heardGroup()
		return
	}
	m.dirty = true
	m.emit(peerRemoved, m.contactOf(e))
	if m.routing != nil {
		m.routing.Remove(m.wall(t), e.id)
	}
}

// collectTombstones drops dead members whose tombstone expired, or all
// dead members when room is needed.
func (m *Machine) collectTombstones(t int64, all bool) {
	keep := m.group[:0]
	for _, e := range m.group {
		if e.state == dead && (all || t-e.heard >= int64(tombstoneTTL)) {
			continue
		}
		keep = append(keep, e)
	}
	clear(m.group[len(keep):])
	m.group = keep
}

// wireSelf returns this node's contact as it goes into its own records: with
// the zero address when the node's own is not routable, such as an
// unspecified listen address, so that receivers take the message's source.
func (m *Machine) wireSelf() wire.Contact {
	if m.self.Validate() != nil {
		return wire.Contact{ID: m.self.ID}
	}
	return m.self
}

func (m *Machine) wall(t int64) time.Time { return m.epoch.Add(time.Duration(t)) }
