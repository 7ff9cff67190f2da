package hierarchy

import (
	"slices"
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

// syncNow sends member i a GroupSync: the digest of every live record,
// and in full the records changed lately, or all of them if member i has
// not been verified, since it may be new to the group.
func (m *Machine) syncNow(t int64, i int) {
	e := &m.group[i]
	msg := &wire.GroupSync{Members: m.pushed(t, e.state != alive), Digest: m.digest()}
	m.send(t, m.contactOf(e), msg, request{kind: reqSync})
}

// hotRounds is how many gossip rounds a node pushes a record in full after
// it took in the record's version. Pushing a change lets it spread as fast
// as push-pull gossip does. Members that missed it pull it later, because
// their digests name the older version.
const hotRounds = 2

// pushed returns the records a GroupSync carries in full: this node's and
// the live ones whose version it took in within hotRounds, or all of them.
func (m *Machine) pushed(t int64, all bool) []wire.Member {
	hot := t - hotRounds*int64(m.cfg.GossipInterval)
	var recs []wire.Member
	if all || m.versionAt > hot {
		recs = append(recs, m.ownRecord())
	}
	for i := range m.group {
		e := &m.group[i]
		if e.live() && (all || e.changed > hot) && len(recs) < wire.MaxGroupMembers {
			recs = append(recs, m.record(e))
		}
	}
	return recs
}

// digest returns the heartbeat of this node's record and of every live
// record it holds, at most wire.MaxGroupMembers.
func (m *Machine) digest() []wire.Heartbeat {
	d := make([]wire.Heartbeat, 0, 1+len(m.group))
	d = append(d, wire.Heartbeat{Prefix: wire.IDPrefix(m.self.ID), Version: m.version, Beat: m.beat})
	for i := range m.group {
		e := &m.group[i]
		if e.live() && len(d) < wire.MaxGroupMembers {
			d = append(d, wire.Heartbeat{Prefix: wire.IDPrefix(e.id), Version: e.version, Beat: e.beat})
		}
	}
	return d
}

// gossip runs one round of group upkeep when it is due: the node's
// heartbeat rises, and its digest goes to one live member, which responds
// with the records and heartbeats it holds newer. The round goes to a
// member whose digest named records this node lacks, if there is one, and
// otherwise to a random one. That is one request and one response per
// member and round however large the group, and push-pull spreads a
// record to all members of a group of n in about log3(n) rounds.
func (m *Machine) gossip(now time.Time, t int64) {
	if t < m.nextGossip {
		return
	}
	m.nextGossip = t + m.jitter(int64(m.cfg.GossipInterval))
	m.refreshExternals(now, false)
	m.heartbeat(now)

	var live []int
	for i := range m.group {
		if m.group[i].live() && !m.requestTo(m.group[i].id) {
			live = append(live, i)
		}
	}
	if i := m.findMember(m.pullFrom); i >= 0 && m.group[i].live() && !m.requestTo(m.group[i].id) {
		m.sync(t, i)
	} else if len(live) > 0 {
		m.sync(t, live[m.rng.Uint64()%uint64(len(live))])
	}
	m.pullFrom = identity.NodeID{}
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

// handleGroupSync takes in the records and heartbeats of a GroupSync from
// member from and returns those the sender lacks.
func (m *Machine) handleGroupSync(t int64, from wire.Contact, msg *wire.GroupSync) wire.Message {
	if from.ID == m.self.ID {
		return badRequest("hierarchy: group sync from this node itself")
	}
	m.mergeFrom(t, from, msg.Members)
	if m.applyDigest(t, msg.Digest) {
		m.pullFrom = from.ID
	}
	m.heardGroup()
	m.verify(t)
	return m.groupState(from.ID, msg)
}

// mergeFrom merges the records that member from sent. Its own record, if
// there, is direct evidence; without it the message alone proves the
// sender alive.
func (m *Machine) mergeFrom(t int64, from wire.Contact, recs []wire.Member) {
	sawSender := false
	for i := range recs {
		rec := &recs[i]
		direct := rec.Contact.ID == from.ID
		if direct {
			// The address the message came from is the one that works.
			rec.Contact.Addr = from.Addr
		}
		// A record ignored, such as one above maxVersion, is no evidence,
		// but the message still is.
		if m.merge(t, rec, direct) >= 0 {
			sawSender = sawSender || direct
		}
	}
	if !sawSender {
		m.merge(t, &wire.Member{Contact: from}, true)
	}
}

// applyDigest takes in the heartbeats of a digest that name the versions
// this node holds. It reports whether the digest named a version newer
// than this node holds, or a member it does not know, which this node can
// then pull.
func (m *Machine) applyDigest(t int64, digest []wire.Heartbeat) (behind bool) {
	self := wire.IDPrefix(m.self.ID)
	for _, h := range digest {
		if h.Version > maxVersion {
			continue
		}
		i, shared := m.findPrefix(h.Prefix)
		switch {
		case h.Prefix == self:
			if i < 0 && !shared {
				m.ownVersionSeen(h.Version, h.Beat)
			}
			continue
		case shared:
			// Members whose IDs share a prefix cannot be distinguished by
			// heartbeat, so groupState sends their records in full.
			continue
		case i < 0:
			behind = true
			continue
		}
		e := &m.group[i]
		switch {
		case h.Version > e.version:
			behind = true
		case h.Version == e.version && h.Beat > e.beat:
			m.beatRose(t, e, h.Beat)
		}
	}
	return behind
}

// groupState returns the response to a GroupSync from requester: in full
// the records the request named at a lower version or not at all, this
// node's own included, and the heartbeats it holds newer for the others.
func (m *Machine) groupState(requester identity.NodeID, msg *wire.GroupSync) *wire.GroupState {
	// A digest names records by ID prefix. A prefix that the request names
	// twice, or that two records here share, is ambiguous, so only the
	// request's full records show what the requester holds under it.
	prefixes := make(map[uint64]prefixUse, len(msg.Digest)+len(m.group)+1)
	for _, h := range msg.Digest {
		u := prefixes[h.Prefix]
		u.named++
		u.latest = laterHeartbeat(u.latest, h)
		prefixes[h.Prefix] = u
	}
	hold := func(id identity.NodeID) {
		u := prefixes[wire.IDPrefix(id)]
		u.held++
		prefixes[wire.IDPrefix(id)] = u
	}
	hold(m.self.ID)
	for i := range m.group {
		if m.group[i].live() {
			hold(m.group[i].id)
		}
	}
	full := make(map[identity.NodeID]wire.Heartbeat, len(msg.Members))
	for i := range msg.Members {
		rec := &msg.Members[i]
		h := wire.Heartbeat{Prefix: wire.IDPrefix(rec.Contact.ID), Version: rec.Version, Beat: rec.Beat}
		full[rec.Contact.ID] = laterHeartbeat(full[rec.Contact.ID], h)
	}

	state := &wire.GroupState{}
	offer := func(id identity.NodeID, version, beat uint64, record func() wire.Member) {
		k, ok := full[id]
		if u := prefixes[wire.IDPrefix(id)]; u.named == 1 && u.held == 1 {
			k, ok = laterHeartbeat(k, u.latest), true
		}
		switch {
		case !ok || version > k.Version:
			if len(state.Members) < wire.MaxGroupMembers {
				state.Members = append(state.Members, record())
			}
		case version == k.Version && beat > k.Beat && len(state.Digest) < wire.MaxGroupMembers:
			state.Digest = append(state.Digest, wire.Heartbeat{Prefix: wire.IDPrefix(id), Version: version, Beat: beat})
		}
	}
	offer(m.self.ID, m.version, m.beat, m.ownRecord)
	for i := range m.group {
		e := &m.group[i]
		if e.live() && e.id != requester {
			offer(e.id, e.version, e.beat, func() wire.Member { return m.record(e) })
		}
	}
	return state
}

// prefixUse counts the uses of one ID prefix in groupState: the digest
// entries of the request that name it, the latest of them, and the
// records this node holds under it.
type prefixUse struct {
	named, held int
	latest      wire.Heartbeat
}

// laterHeartbeat returns the later of two heartbeats of a record: the
// higher version, then the higher beat.
func laterHeartbeat(a, b wire.Heartbeat) wire.Heartbeat {
	if b.Version > a.Version || (b.Version == a.Version && b.Beat > a.Beat) {
		return b
	}
	return a
}

// groupStateArrived takes in the response of member to to a GroupSync.
func (m *Machine) groupStateArrived(t int64, to wire.Contact, msg *wire.GroupState) {
	m.mergeFrom(t, to, msg.Members)
	m.applyDigest(t, msg.Digest)
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

// seedRefresh is how often a representative replaces the seeds it
// publishes while they all stay in its routing table. A new set is a new
// version of its record, which every member then fetches.
const seedRefresh = 5 * time.Minute

// refreshExternals replaces the seeds a representative publishes with a
// few contacts of its routing table outside its group, so that the group
// keeps fresh ways into the DHT. Unless forced, it does so only when one
// of them has left the table or seedRefresh has passed.
func (m *Machine) refreshExternals(now time.Time, force bool) {
	if m.routing == nil {
		return
	}
	t := m.clock(now)
	if !force && t < m.nextSeedRefresh && len(m.externals) == wire.MaxSeeds && m.externalsInTable() {
		return
	}
	m.nextSeedRefresh = t + int64(seedRefresh)
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
	if len(fresh) > 0 && !slices.Equal(fresh, m.externals) {
		m.externals = fresh
		m.recordChanged = true
	}
}

// externalsInTable reports whether every published seed is still in the
// routing table.
func (m *Machine) externalsInTable() bool {
	for _, s := range m.externals {
		if !m.routing.Contains(s.id) {
			return false
		}
	}
	return true
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
	known := false
	for i := range m.externals {
		if m.externals[i].id == c.ID {
			known = m.externals[i] == s
			m.externals = append(m.externals[:i], m.externals[i+1:]...)
			break
		}
	}
	// Only a new seed changes the record; the order is a local matter.
	m.recordChanged = m.recordChanged || !known
	m.externals = append([]seed{s}, m.externals...)
	if len(m.externals) > wire.MaxSeeds {
		m.externals = m.externals[:wire.MaxSeeds]
	}
}

// ownSeeds returns the DHT contacts this node publishes in its record.
func (m *Machine) ownSeeds() []seed { return m.externals }
