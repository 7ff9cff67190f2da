package hierarchy

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// Machine is one node of the overlay in either mode. See the package
// documentation for how a caller drives it and how the hierarchy works.
type Machine struct {
	// Set by New.
	self  wire.Contact
	cfg   Config
	epoch time.Time // the time given to New; times are stored relative to it
	rng   rand.PCG

	// routing is the node's DHT routing table: always set in Flat mode, and
	// set in Hierarchical mode while the node represents its group or
	// drains its last forwarded lookups after stepping down.
	routing *kademlia.Machine
	// gen counts the routing Machines created, which tags their request
	// IDs (see routingRequest).
	gen uint64

	// Hierarchical mode only from here on.

	// score is the node's own score, valid at scoreAt.
	score   Score
	scoreAt int64
	// version is the version of the node's own record, written at
	// versionAt, and published the score it states. beat is the node's
	// heartbeat, in milliseconds after version. recordChanged is set when
	// the record's seeds changed or the group holds a later version of
	// it, so that the next heartbeat writes a new version instead.
	version       uint64
	versionAt     int64
	published     Score
	beat          uint64
	recordChanged bool
	// nextSeedRefresh is when a representative next replaces the seeds
	// it publishes (see refreshExternals).
	nextSeedRefresh int64
	// pullFrom is a member whose GroupSync named records newer than this
	// node holds; the next gossip round goes to it to fetch them.
	pullFrom identity.NodeID
	// rep is set while the node claims a seat as representative;
	// draining while it still serves forwarded lookups after giving it up.
	rep, draining bool
	// challengeSince is when this node first had Margin over the weakest
	// representative in the current challenge, or noTime.
	challengeSince int64
	// externals are DHT contacts learned outside the group (AddContact,
	// FindNode senders, the table of a former representative), newest
	// first, at most wire.MaxSeeds.
	externals []seed
	// group holds the other members of the broadcast domain, with dead
	// ones kept as tombstones for a while. zones holds the IPv6 zones
	// that packed addresses refer to.
	group []member
	zones []string

	// pending holds this node's own requests in flight, by increasing ID.
	pending     []request
	nextRequest uint64
	// forwards are this node's lookups waiting on a representative, and
	// serving are the lookups this representative runs for members. own
	// maps a representative's own lookups to the IDs given to its caller.
	forwards   []forward
	serving    []serving
	own        []ownLookup
	nextLookup kademlia.LookupID
	// joinedAt is when the routing table was last seeded and bootstrapped,
	// or noTime.
	joinedAt int64

	nextGossip int64
	dirty      bool // the view changed since the last election
	// quietUntil is the end of the start-up wait, or noTime once the node
	// has exchanged records with a member or waited long enough. Until
	// then it claims no seat, because a node that has not heard its group
	// would take a seat from a representative without a challenge.
	quietUntil int64

	outbox []kademlia.Outgoing
	events []kademlia.Event
}

// maxClock bounds the times, in nanoseconds since the epoch, and the
// configured durations the Machine computes with, about 73 years, so that
// the sum of two cannot overflow an int64.
const maxClock = 1 << 61

// noTime marks a time that is never reached.
const noTime = math.MaxInt64

// New returns a Machine for the node self with the given score. In
// Hierarchical mode the node starts alone: AddNeighbour introduces its
// group and AddContact the rest of the network. The seed drives every
// random choice; now is the current time, which later calls must not
// precede.
func New(self wire.Contact, score Score, cfg Config, seed uint64, now time.Time) *Machine {
	m := &Machine{
		self:           self,
		cfg:            cfg.withDefaults(),
		epoch:          now,
		rng:            *rand.NewPCG(seed, seed^0x2545f4914f6cdd1d),
		score:          score,
		challengeSince: noTime,
		joinedAt:       noTime,
	}
	if m.cfg.Mode == Flat {
		m.routing = kademlia.New(self, m.cfg.Kademlia, seed, now)
		m.cfg.Kademlia = m.routing.Config()
		return m
	}
	// Only kademlia.Machine fills in kademlia's defaults, which bound the
	// hierarchy's requests too, so an empty one is made to read them.
	m.cfg.Kademlia = kademlia.New(self, m.cfg.Kademlia, seed, now).Config()
	m.nextVersion(now)
	m.nextGossip = m.jitter(int64(m.cfg.GossipInterval))
	// A node that hears no group within a gossip interval is alone, and
	// so its own group's representative.
	m.quietUntil = int64(m.cfg.GossipInterval)
	return m
}

// Self returns the contact the Machine was created for.
func (m *Machine) Self() wire.Contact { return m.self }

// Config returns the configuration in force, with defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// Mode returns the Machine's mode.
func (m *Machine) Mode() Mode { return m.cfg.Mode }

// Role returns the node's current part in the overlay.
func (m *Machine) Role() Role {
	switch {
	case m.cfg.Mode == Flat:
		return RoleFlat
	case m.rep:
		return RoleRepresentative
	}
	return RoleMember
}

// IsRepresentative reports whether the node represents its group in the
// DHT. It is false in Flat mode, where there are no groups.
func (m *Machine) IsRepresentative() bool { return m.cfg.Mode == Hierarchical && m.rep }

// JoinedDHT reports whether the node is a representative whose routing
// table has ended a join lookup (see kademlia.Machine.Joined).
func (m *Machine) JoinedDHT() bool {
	return m.IsRepresentative() && m.routing != nil && m.routing.Joined()
}

// Routing returns the node's DHT routing table, or nil while the node takes
// no part in the DHT. It is never nil in Flat mode. The caller may read it
// but must make every change through the hierarchy Machine.
func (m *Machine) Routing() *kademlia.Machine { return m.routing }

// Len returns the number of contacts the node keeps: the routing table
// plus the live group members not in it, so it equals len(Peers()).
func (m *Machine) Len() int {
	n := 0
	if m.routing != nil {
		n = m.routing.Len()
	}
	for i := range m.group {
		e := &m.group[i]
		if e.live() && (m.routing == nil || !m.routing.Contains(e.id)) {
			n++
		}
	}
	return n
}

// Outbox returns the messages queued since the last call and empties the
// queue. The caller reports the outcome of each request (nonzero Request)
// with HandleResponse or HandleFailure.
func (m *Machine) Outbox() []kademlia.Outgoing {
	if m.cfg.Mode == Flat {
		return m.routing.Outbox()
	}
	out := m.outbox
	m.outbox = nil
	return out
}

// Events returns the events since the last call and empties the queue.
// PeerAdded and PeerRemoved report group members as well as routing
// contacts; LookupDone reports the lookups started with Lookup.
func (m *Machine) Events() []kademlia.Event {
	if m.cfg.Mode == Flat {
		return m.routing.Events()
	}
	out := m.events
	m.events = nil
	return out
}

// clock converts a wall time to nanoseconds since the epoch, clamped to
// ±maxClock.
func (m *Machine) clock(now time.Time) int64 {
	return min(max(int64(now.Sub(m.epoch)), -maxClock), maxClock)
}

// jitter returns d spread uniformly over ±10%, so that nodes started
// together do not gossip in step.
func (m *Machine) jitter(d int64) int64 {
	spread := d / 5
	if spread <= 0 {
		return d
	}
	return d - spread/2 + int64(m.rng.Uint64()%uint64(spread))
}

// wallVersion returns a record version taken from the wall clock, in
// milliseconds, so that a restarted node's records supersede those of its
// previous run unless its clock went back.
func wallVersion(now time.Time) uint64 { return uint64(max(now.UnixMilli(), 0)) }

// maxVersion bounds the record versions a node takes in, about 146
// million years of milliseconds, so that a node that jumps past a version
// the group holds cannot overflow. Records and heartbeats above it are
// ignored.
//
// NOTE: records are not signed, so a record forged at maxVersion stays in
// the group for as long as its owner runs, because the owner cannot write
// a version above it that the others take in.
const maxVersion = 1 << 62

// nextVersion advances the node's own record version, which publishes its
// current score and seeds and starts its heartbeat again.
func (m *Machine) nextVersion(now time.Time) {
	m.version = max(m.version+1, wallVersion(now))
	m.versionAt = m.clock(now)
	m.published = m.Score(now)
	m.beat = 0
	m.recordChanged = false
}

// heartbeat advances the node's heartbeat, once per gossip round. If the
// record changed since its version was written, it writes a new version
// instead, which carries the change and restarts the heartbeat.
func (m *Machine) heartbeat(now time.Time) {
	if m.recordChanged {
		m.nextVersion(now)
		return
	}
	beat := m.beat + 1
	if since := m.clock(now) - m.versionAt; since > 0 {
		// The heartbeat counts milliseconds since the version was
		// written, which receivers add to the stated uptime. They run
		// from versionAt, not from the version's value, because that
		// runs ahead of the wall clock after the clock went back.
		beat = max(beat, uint64(since/int64(time.Millisecond)))
	}
	m.beat = beat
}

const (
	peerAdded   = kademlia.PeerAdded
	peerRemoved = kademlia.PeerRemoved
)

func (m *Machine) emit(kind kademlia.EventKind, peer wire.Contact) {
	m.events = append(m.events, kademlia.Event{Kind: kind, Peer: peer})
}

// Request IDs. The hierarchy's own requests have the top bit set. Requests
// of routing Machine number gen carry gen in bits 40 to 62 above the
// Machine's own ID, so a late response never reaches a newer Machine.
const (
	ownRequestBit = 1 << 63
	genShift      = 40
	innerMask     = 1<<genShift - 1
)

// routingRequest splits a request ID of the routing Machine in force into
// the ID that Machine gave it.
func (m *Machine) routingRequest(id uint64) (uint64, bool) {
	if m.routing == nil || id&ownRequestBit != 0 || id>>genShift != m.gen {
		return 0, false
	}
	return id & innerMask, true
}

// pump moves what the routing Machine queued into this Machine's queues,
// tagging its request IDs and acting on its events. Every entry point
// calls it last, so Outbox and Events always hold everything.
func (m *Machine) pump(now time.Time) {
	if m.elect(now) {
		m.announce(now)
	}
	for m.routing != nil {
		out, events := m.routing.Outbox(), m.routing.Events()
		if len(out) == 0 && len(events) == 0 {
			return
		}
		m.queueRouting(out)
		for _, ev := range events {
			m.routingEvent(now, ev)
		}
	}
}

// queueRouting queues messages of the routing Machine, tagging the IDs of
// its requests with its generation.
func (m *Machine) queueRouting(out []kademlia.Outgoing) {
	for _, o := range out {
		if o.Request != 0 {
			// NOTE: a routing Machine that sends more than 2^40 requests
			// would reuse IDs of its own generation.
			o.Request = m.gen<<genShift | o.Request&innerMask
		}
		m.outbox = append(m.outbox, o)
	}
}

// sortContacts orders contacts by distance to target, closest first.
func sortContacts(contacts []wire.Contact, target identity.NodeID) {
	slices.SortFunc(contacts, func(a, b wire.Contact) int {
		return identity.Compare(identity.Xor(a.ID, target), identity.Xor(b.ID, target))
	})
}
