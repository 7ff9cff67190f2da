package hierarchy

import (
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// candidate is one node of a group in an election.
type candidate struct {
	id    identity.NodeID
	merit uint32
	// claim is set when the node's record claims a representative's seat.
	claim bool
}

// outranks reports whether a ranks above b: higher merit first, then the
// lower ID, so that every node orders the same candidates the same way.
func outranks(a, b *candidate) bool {
	if a.merit != b.merit {
		return a.merit > b.merit
	}
	return identity.Compare(a.id, b.id) < 0
}

// rank sorts candidates best first.
func rank(cands []candidate) {
	slices.SortFunc(cands, func(a, b candidate) int {
		switch {
		case outranks(&a, &b):
			return -1
		case outranks(&b, &a):
			return 1
		}
		return 0
	})
}

// verdict is the outcome of an election for one node.
type verdict uint8

const (
	// stay keeps the node in its current role.
	stay verdict = iota
	// claimSeat makes a member a representative now.
	claimSeat
	// challenge means a member has Margin over the weakest
	// representative, and takes the seat once that has held for HoldTime.
	challenge
	// stepDown asks a representative to give up its seat.
	stepDown
)

// decide runs the election for node self over cands, which holds every
// live member of the group in self's view, self included. Each node
// decides only for itself, from its own view:
//
//   - A representative steps down when more than reps nodes claim a seat
//     and it is not among the best reps of them.
//   - A member claims a free seat at once when it is among the best
//     members that could fill the free seats.
//   - When no seat is free, the best member challenges the weakest of the
//     best reps representatives if its merit exceeds theirs by margin.
//
// When every node has the same records, all reach the same result: the
// seats go to the claimants that already hold them, filled up by rank, and
// change hands only on a challenge.
func decide(cands []candidate, self identity.NodeID, reps int, margin uint32) verdict {
	rank(cands)
	var claimants, others []candidate
	for _, c := range cands {
		if c.claim {
			claimants = append(claimants, c)
		} else {
			others = append(others, c)
		}
	}

	if i := indexOfCandidate(claimants, self); i >= 0 {
		if i >= reps {
			return stepDown
		}
		return stay
	}
	i := indexOfCandidate(others, self)
	if i < 0 {
		return stay
	}
	if free := reps - len(claimants); free > 0 {
		if i < free {
			return claimSeat
		}
		return stay
	}
	weakest := claimants[reps-1]
	if i == 0 && uint64(others[0].merit) >= uint64(weakest.merit)+uint64(margin) {
		return challenge
	}
	return stay
}

func indexOfCandidate(cands []candidate, id identity.NodeID) int {
	for i := range cands {
		if cands[i].id == id {
			return i
		}
	}
	return -1
}

// candidates returns this node and its live group members as candidates.
// This node's merit is taken from its record as of its current heartbeat,
// the same the others compute from that record.
func (m *Machine) candidates() []candidate {
	self := candidate{id: m.self.ID, claim: m.rep, merit: Score{
		Uptime:   uptimeAt(uint64(max(m.published.Uptime, 0)/time.Second), m.beat),
		Capacity: m.published.Capacity, Link: m.published.Link,
	}.Merit()}
	cands := []candidate{self}
	for i := range m.group {
		if e := &m.group[i]; e.live() {
			cands = append(cands, candidate{id: e.id, merit: e.merit(), claim: e.rep})
		}
	}
	return cands
}

// elect runs the election if the view changed or a challenge is under way,
// and acts on its verdict. It reports whether this node's role changed.
func (m *Machine) elect(now time.Time) bool {
	if m.cfg.Mode == Flat || (!m.dirty && m.challengeSince == noTime) {
		return false
	}
	m.dirty = false
	t := m.clock(now)

	switch decide(m.candidates(), m.self.ID, m.cfg.Reps, m.cfg.Margin) {
	case claimSeat:
		if m.quietUntil != noTime {
			return false
		}
		m.challengeSince = noTime
		m.becomeRepresentative(now)
		return true
	case challenge:
		if m.challengeSince == noTime {
			m.challengeSince = t
		}
		if t-m.challengeSince < int64(m.cfg.HoldTime) {
			return false
		}
		m.challengeSince = noTime
		m.becomeRepresentative(now)
		return true
	case stepDown:
		m.challengeSince = noTime
		m.stepDown(now)
		return true
	}
	m.challengeSince = noTime
	return false
}

// heardGroup ends the start-up wait once the node has exchanged records
// with a member and verified every member those records named: until
// then it does not know who holds the seats.
func (m *Machine) heardGroup() {
	if m.quietUntil == noTime {
		return
	}
	for i := range m.group {
		if m.group[i].state == unverified {
			return
		}
	}
	m.endQuiet()
}

// endQuiet ends the start-up wait.
func (m *Machine) endQuiet() {
	if m.quietUntil != noTime {
		m.quietUntil = noTime
		m.dirty = true
	}
}

// challengeDue returns when a challenge under way will have held for
// HoldTime, or noTime.
func (m *Machine) challengeDue() int64 {
	if m.challengeSince == noTime {
		return noTime
	}
	return m.challengeSince + int64(m.cfg.HoldTime)
}

// Representatives returns the live nodes of the group, this one included,
// that claim a seat, best first. More than Config.Reps claim for a moment
// after a challenge or when views differ. It is nil in Flat mode.
func (m *Machine) Representatives() []wire.Contact {
	if m.cfg.Mode == Flat {
		return nil
	}
	cands := m.candidates()
	rank(cands)
	var out []wire.Contact
	for _, c := range cands {
		if !c.claim {
			continue
		}
		if c.id == m.self.ID {
			out = append(out, m.self)
		} else {
			out = append(out, m.contactOf(&m.group[m.findMember(c.id)]))
		}
	}
	return out
}

// Group returns the live members of the group in this node's view, not
// counting itself, by ID. It is nil in Flat mode.
func (m *Machine) Group() []wire.Contact {
	var out []wire.Contact
	for i := range m.group {
		if e := &m.group[i]; e.live() {
			out = append(out, m.contactOf(e))
		}
	}
	slices.SortFunc(out, func(a, b wire.Contact) int { return identity.Compare(a.ID, b.ID) })
	return out
}

// becomeRepresentative takes a seat: the node gets a routing table, seeds
// it and joins the DHT. A node still draining its old table keeps it.
func (m *Machine) becomeRepresentative(now time.Time) {
	m.rep, m.draining = true, false
	if m.routing == nil {
		m.gen++
		m.routing = kademlia.New(m.self, m.cfg.Kademlia, m.rng.Uint64(), now)
	}
	m.seedRouting(now)
}

// seedRouting gives the routing table every DHT contact the group holds:
// the other representatives, whose tables cover the same DHT, and the
// seeds in the members' records. Then it bootstraps.
func (m *Machine) seedRouting(now time.Time) {
	for i := range m.group {
		e := &m.group[i]
		if e.live() && e.rep {
			m.routing.AddContact(now, m.contactOf(e))
		}
		for _, s := range e.seeds {
			m.routing.AddContact(now, m.unpackContact(s))
		}
	}
	for _, s := range m.externals {
		m.routing.AddContact(now, m.unpackContact(s))
	}
	m.routing.Bootstrap(now)
	m.joinedAt = m.clock(now)
}

// rejoinInterval is how long a representative whose routing table has
// no node outside its group waits between attempts to join the DHT
// through the group's seeds.
const rejoinInterval = 30 * time.Second

// rejoin seeds and bootstraps again a representative's routing table that
// still holds no node outside the group, because the seeds it had were
// gone or came late. The first group of a network elects before any other
// exists, so its representatives fill their tables with one another only.
// Groups that join later reach it through one of its nodes. A fellow
// representative that learns of them cannot pass on this node's address
// if it has only a link-local one for it, so this node must contact them
// itself.
func (m *Machine) rejoin(now time.Time, t int64) {
	if t >= m.rejoinDue() && !m.knowsOutsideGroup() {
		m.seedRouting(now)
	}
}

func (m *Machine) rejoinDue() int64 {
	if !m.rep || m.routing == nil || m.joinedAt == noTime || m.knowsOutsideGroup() {
		return noTime
	}
	return m.joinedAt + int64(rejoinInterval)
}

// rejoinSoon makes a representative with no node outside its group in its
// table rejoin at its next tick, because a record brought seeds that may lead
// outside.
func (m *Machine) rejoinSoon(t int64) {
	if m.rejoinDue() != noTime {
		m.joinedAt = min(m.joinedAt, t-int64(rejoinInterval))
	}
}

// knowsOutsideGroup reports whether the routing table holds a node that is
// not a member of this node's group.
func (m *Machine) knowsOutsideGroup() bool {
	size := m.routing.Len()
	if size > len(m.group) {
		// NextDeadline calls this after every event. A table larger than
		// the group must hold an outsider, so no lookup per member is needed.
		return true
	}
	inGroup := 0
	for i := range m.group {
		if m.routing.Contains(m.group[i].id) {
			inGroup++
		}
	}
	return size > inGroup
}

// stepDown gives up the seat. The routing table stays until the lookups
// the node runs for others and for itself have finished.
func (m *Machine) stepDown(now time.Time) {
	m.rep = false
	if len(m.serving) > 0 || len(m.own) > 0 {
		m.draining = true
		return
	}
	m.retire(now)
}

// retire drops the routing table of a node that gave up its seat. It sends
// Leave to its DHT contacts outside the group, and keeps a few of them as
// seeds for the group.
func (m *Machine) retire(now time.Time) {
	if m.routing == nil || m.rep {
		return
	}
	m.queueRouting(m.routing.Outbox())
	m.refreshExternals(now, true)
	for _, o := range m.routing.Leave() {
		if i := m.findMember(o.To.ID); i < 0 {
			m.outbox = append(m.outbox, o)
		}
	}
	m.routing = nil
	m.draining = false
	m.joinedAt = noTime
}
