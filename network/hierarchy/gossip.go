package hierarchy

import (
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// maxSyncsInFlight caps this node's GroupSync requests in flight, so that a
// flood of names learned by gossip is verified a few at a time.
const maxSyncsInFlight = 8

// AddNeighbour considers a node of the same broadcast domain, such as one
// heard through a LAN beacon. The Machine sends it a GroupSync and counts
// it a member once it responds. A beacon of a known live member counts as
// evidence that it is alive. In Flat mode it is AddContact.
func (m *Machine) AddNeighbour(now time.Time, c wire.Contact) {
	if m.cfg.Mode == Flat {
		m.routing.AddContact(now, c)
		return
	}
	t := m.clock(now)
	if c.ID == m.self.ID || c.Validate() != nil {
		return
	}
	i := m.findMember(c.ID)
	switch {
	case i < 0:
		i = m.addMember(t, &wire.Member{Contact: c}, false)
	case m.group[i].state == alive:
		m.heardFrom(t, i)
	default:
		// Unverified, or dead and maybe restarted: ask it directly.
		m.group[i].state = unverified
	}
	if i >= 0 && m.group[i].state == unverified {
		m.sync(t, i)
	}
	m.pump(now)
}

// sync sends member i a GroupSync unless a request to it is in flight or
// too many GroupSync requests are; checkMembers picks those up later.
func (m *Machine) sync(t int64, i int) {
	if m.requestTo(m.group[i].id) || m.countPending(reqSync) >= maxSyncsInFlight {
		return
	}
	m.syncNow(t, i)
}

func (m *Machine) syncNow(t int64, i int) {
	e := &m.group[i]
	m.send(t, m.contactOf(e), &wire.GroupSync{Members: m.records(t)}, request{kind: reqSync})
}

// gossip runs one round of group upkeep when it is due: the node's record
// gets a new version, which is its heartbeat, and goes with every record
// the node holds to one random live member, which responds with the records
// it holds newer. That is one request and one response per member and
// round however large the group, and push-pull spreads a record to all
// members of a group of n in about log3(n) rounds.
func (m *Machine) gossip(now time.Time, t int64) {
	if t < m.nextGossip {
		return
	}
	m.nextGossip = t + m.jitter(int64(m.cfg.GossipInterval))
	m.nextVersion(now)
	m.refreshExternals(now)

	var live []int
	for i := range m.group {
		if m.group[i].live() && !m.requestTo(m.group[i].id) {
			live = append(live, i)
		}
	}
	if len(live) > 0 {
		m.sync(t, live[m.rng.Uint64()%uint64(len(live))])
	}
	m.collectTombstones(t, false)
}

// checkMembers sends a GroupSync to each live member whose record has not
// changed for SuspectTimeout, and to unverified members, as the request
// budget allows. A response proves the member alive, and a failure of a
// stale member makes it dead.
func (m *Machine) checkMembers(t int64) {
	for i := range m.group {
		e := &m.group[i]
		due := e.state == unverified || (e.live() && t-e.heard >= int64(m.cfg.SuspectTimeout))
		if due {
			m.sync(t, i)
		}
	}
}

// verify sends a GroupSync to unverified members, as the request budget
// allows, right after gossip named them or a request slot came free.
func (m *Machine) verify(t int64) {
	for i := range m.group {
		if m.group[i].state == unverified {
			m.sync(t, i)
		}
	}
}

// checkDue returns when checkMembers next has work, or noTime.
func (m *Machine) checkDue() int64 {
	due := int64(noTime)
	budget := m.countPending(reqSync) < maxSyncsInFlight
	for i := range m.group {
		e := &m.group[i]
		if m.requestTo(e.id) {
			continue
		}
		switch {
		case e.state == unverified && budget:
			return m.clockFloor()
		case e.live():
			due = min(due, e.heard+int64(m.cfg.SuspectTimeout))
		}
	}
	return due
}

// clockFloor returns the earliest time Tick could run: the epoch. A due
// time in the past means "now".
func (m *Machine) clockFloor() int64 { return 0 }

// handleGroupSync merges the records of a GroupSync from member from and
// returns the records the sender lacks.
func (m *Machine) handleGroupSync(t int64, from wire.Contact, msg *wire.GroupSync) wire.Message {
	if from.ID == m.self.ID {
		return badRequest("hierarchy: group sync from this node itself")
	}
	known := make(map[identity.NodeID]uint64, len(msg.Members))
	sawSender := false
	for i := range msg.Members {
		rec := &msg.Members[i]
		known[rec.Contact.ID] = max(known[rec.Contact.ID], rec.Version)
		direct := rec.Contact.ID == from.ID
		if direct {
			// The address the request came from is the one that works.
			rec.Contact.Addr = from.Addr
		}
		sawSender = sawSender || direct
		m.merge(t, rec, direct)
	}
	if !sawSender {
		// A request proves its sender alive even without its record.
		m.merge(t, &wire.Member{Contact: from}, true)
	}
	m.heardGroup()
	m.verify(t)
	return &wire.GroupState{Members: m.newerThan(t, known, from.ID)}
}

// newerThan returns this node's record and the live records newer than
// the versions in known, leaving out the requester's own.
func (m *Machine) newerThan(t int64, known map[identity.NodeID]uint64, requester identity.NodeID) []wire.Member {
	recs := []wire.Member{m.ownRecord()}
	for i := range m.group {
		e := &m.group[i]
		if !e.live() || e.id == requester || len(recs) >= wire.MaxGroupMembers {
			continue
		}
		if v, ok := known[e.id]; !ok || e.version > v {
			recs = append(recs, m.record(e))
		}
	}
	return recs
}

// groupStateArrived merges the response of member to to a GroupSync.
func (m *Machine) groupStateArrived(t int64, to wire.Contact, msg *wire.GroupState) {
	sawSender := false
	for i := range msg.Members {
		rec := &msg.Members[i]
		direct := rec.Contact.ID == to.ID
		if direct {
			rec.Contact.Addr = to.Addr
		}
		sawSender = sawSender || direct
		m.merge(t, rec, direct)
	}
	if !sawSender {
		m.merge(t, &wire.Member{Contact: to}, true)
	}
	m.heardGroup()
}

// announce sends every live member a GroupSync at once when this node's
// role changed, instead of waiting for gossip, because a new
// representative should get forwarded lookups at once and a retired one
// should stop getting them. Role changes are rare, so the burst of
// O(group size) messages is too.
func (m *Machine) announce(now time.Time) {
	t := m.clock(now)
	m.nextVersion(now)
	for i := range m.group {
		if m.group[i].live() {
			// Requests in flight carry the old role, so send anyway.
			m.syncNow(t, i)
		}
	}
}

// refreshExternals replaces the seeds a representative publishes with a
// few contacts of its routing table outside its group, so that the group
// keeps fresh ways into the DHT.
func (m *Machine) refreshExternals(now time.Time) {
	if m.routing == nil {
		return
	}
	var target identity.NodeID
	for i := range target {
		target[i] = byte(m.rng.Uint64())
	}
	var fresh []seed
	for _, c := range m.routing.Closest(target, 2*wire.MaxSeeds) {
		if len(fresh) == wire.MaxSeeds {
			break
		}
		if i := m.findMember(c.ID); i >= 0 && m.group[i].state != dead {
			continue
		}
		if s, ok := m.packContact(c); ok {
			fresh = append(fresh, s)
		}
	}
	if len(fresh) > 0 {
		m.externals = fresh
	}
}

// addExternal records a DHT contact learned outside the group, newest
// first.
func (m *Machine) addExternal(c wire.Contact) {
	if c.ID == m.self.ID || c.Validate() != nil {
		return
	}
	s, ok := m.packContact(c)
	if !ok {
		return
	}
	for i := range m.externals {
		if m.externals[i].id == c.ID {
			m.externals = append(m.externals[:i], m.externals[i+1:]...)
			break
		}
	}
	m.externals = append([]seed{s}, m.externals...)
	if len(m.externals) > wire.MaxSeeds {
		m.externals = m.externals[:wire.MaxSeeds]
	}
}

// ownSeeds returns the DHT contacts this node publishes in its record.
func (m *Machine) ownSeeds() []seed { return m.externals }
