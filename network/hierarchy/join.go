package hierarchy

import (
	"slices"
	"time"

	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// AddContact considers a node outside the broadcast domain, such as a
// --bootstrap address. A representative gives it to its routing table,
// which verifies it before use. A member keeps it as a seed and publishes
// it in its record, so that whichever member is elected can join the DHT
// through it. In Flat mode it is kademlia's AddContact.
func (m *Machine) AddContact(now time.Time, c wire.Contact) {
	if m.cfg.Mode == Flat {
		m.routing.AddContact(now, c)
		return
	}
	m.addExternal(c)
	if m.routing != nil {
		m.routing.AddContact(now, c)
	}
	m.pump(now)
}

// Bootstrap joins the overlay. In Flat mode it starts kademlia's join
// lookup, whose LookupDone event the caller sees. In Hierarchical mode a
// representative joins the DHT through every contact its group knows, and
// a member sends a GroupSync to each neighbour it has not verified; the
// Machine does both by itself too, so the call only speeds them up.
func (m *Machine) Bootstrap(now time.Time) {
	if m.cfg.Mode == Flat {
		m.routing.Bootstrap(now)
		return
	}
	t := m.clock(now)
	if m.rep && m.routing != nil {
		m.seedRouting(now)
	}
	m.checkMembers(t)
	m.pump(now)
}

// SetScore replaces the node's score. The Machine keeps adding the time
// that passes to s.Uptime. The node's record carries the new score at once
// if it changes the merit, and otherwise from its next version.
func (m *Machine) SetScore(now time.Time, s Score) {
	before := m.Score(now)
	m.score, m.scoreAt = s, m.clock(now)
	if m.cfg.Mode == Flat || !meritTermsDiffer(before, s) {
		return
	}
	m.nextVersion(now)
	m.dirty = true
	m.pump(now)
}

// meritTermsDiffer reports whether a new score b changes a term of the
// merit that score a gives, or its uptime by more than a second. A score
// that changes none need not be published: a new version would send the
// record to every member, and a daemon measures its score every minute.
func meritTermsDiffer(a, b Score) bool {
	drift := a.Uptime - b.Uptime
	return drift >= time.Second || drift <= -time.Second ||
		lg16(uint64(a.Capacity)) != lg16(uint64(b.Capacity)) ||
		lg16(uint64(a.Link)) != lg16(uint64(b.Link))
}

// Score returns the node's score as of now.
func (m *Machine) Score(now time.Time) Score {
	s := m.score
	s.Uptime += time.Duration(max(m.clock(now)-m.scoreAt, 0))
	return s
}

// Leave returns a one-way Leave message for every live group member and
// every routing contact, for the caller to send on a clean shutdown. It
// changes nothing. In Flat mode it is kademlia's Leave.
func (m *Machine) Leave() []kademlia.Outgoing {
	var out []kademlia.Outgoing
	if m.routing != nil {
		out = m.routing.Leave()
	}
	if m.cfg.Mode == Flat {
		return out
	}
	routed := len(out)
	for i := range m.group {
		e := &m.group[i]
		if !e.live() || slices.ContainsFunc(out[:routed], func(o kademlia.Outgoing) bool { return o.To.ID == e.id }) {
			continue
		}
		out = append(out, kademlia.Outgoing{To: m.contactOf(e), Msg: &wire.Leave{}})
	}
	return out
}

// Peers returns the routing table's contacts with their metrics, then the
// live group members outside it with Bucket -1, the time this node last
// heard of them, and a FirstSeen taken from their own uptime.
func (m *Machine) Peers() []kademlia.PeerInfo {
	var peers []kademlia.PeerInfo
	if m.routing != nil {
		peers = m.routing.Peers()
	}
	for i := range m.group {
		e := &m.group[i]
		if !e.live() || containsPeer(peers, e) {
			continue
		}
		peers = append(peers, kademlia.PeerInfo{
			Contact: m.contactOf(e),
			Bucket:  -1,
			// The member's own uptime, as of its record, dates its start.
			FirstSeen: m.wall(e.heard).Add(-time.Duration(e.uptime) * time.Second),
			LastSeen:  m.wall(e.heard),
			Failures:  int(e.failures),
		})
	}
	return peers
}

func containsPeer(peers []kademlia.PeerInfo, e *member) bool {
	for i := range peers {
		if peers[i].ID == e.id {
			return true
		}
	}
	return false
}
