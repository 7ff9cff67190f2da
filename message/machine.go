package message

import (
	"cmp"
	"crypto/ed25519"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// Config sets up a Machine. Zero durations and counts take the defaults
// below.
type Config struct {
	// Self is this node's contact, as location records name it.
	Self wire.Contact
	// Copies is how many custodians hold an item whose recipient cannot
	// be reached. A local user's location record goes to the same number
	// of nodes closest to the user, this node included when it is one.
	Copies int
	// Quota bounds the items this node holds for others.
	Quota Quota
	// AnnounceInterval is how often a local user's location is announced
	// again after a successful announcement.
	AnnounceInterval time.Duration
	// RetryInterval is the wait before retrying what failed for lack of
	// a reachable peer: an announcement, a hold, a push.
	RetryInterval time.Duration
	// DownFor is how long a peer that failed a request is skipped.
	DownFor time.Duration
	// ClosestTTL is how long the result of a lookup is reused.
	ClosestTTL time.Duration
	// MaxSkew is how far in the future an item's creation time may lie,
	// to allow for clocks that are not in step.
	MaxSkew time.Duration
}

// Quota bounds the items a node holds for others, in all and per sender.
// A zero field takes its value from DefaultQuota. A custodian rejects an item past any limit with wire.MsgFull.
type Quota struct {
	Items       int
	Bytes       int64
	SenderItems int
	SenderBytes int64
}

// DefaultQuota is the quota of a node that sets none: room for many
// senders, while one sender can fill at most a small part of it.
var DefaultQuota = Quota{Items: 10000, Bytes: 64 << 20, SenderItems: 256, SenderBytes: 4 << 20}

// setDefaults fills each zero limit from DefaultQuota, so that a caller
// may set one limit alone.
func (q *Quota) setDefaults() {
	if q.Items <= 0 {
		q.Items = DefaultQuota.Items
	}
	if q.Bytes <= 0 {
		q.Bytes = DefaultQuota.Bytes
	}
	if q.SenderItems <= 0 {
		q.SenderItems = DefaultQuota.SenderItems
	}
	if q.SenderBytes <= 0 {
		q.SenderBytes = DefaultQuota.SenderBytes
	}
}

func (c *Config) setDefaults() {
	if c.Copies <= 0 {
		c.Copies = 3
	}
	c.Quota.setDefaults()
	if c.AnnounceInterval <= 0 {
		c.AnnounceInterval = time.Minute
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 3 * time.Second
	}
	if c.DownFor <= 0 {
		c.DownFor = 30 * time.Second
	}
	if c.ClosestTTL <= 0 {
		c.ClosestTTL = 30 * time.Second
	}
	if c.MaxSkew <= 0 {
		c.MaxSkew = 5 * time.Minute
	}
}

// Outgoing is a request the caller sends to a peer, and whose response or
// failure it hands back with HandleResponse or HandleFailure.
type Outgoing struct {
	To      wire.Contact
	Request uint64
	Msg     wire.Message
}

// EventKind is the kind of change an Event reports.
type EventKind uint8

const (
	// Received: Item reached a local user. The caller stores it in the
	// user's inbox and, for a message, signs a receipt and Sends it.
	Received EventKind = iota + 1
	// Held: this node now holds Item for another node's user. The caller
	// stores it so that a restart keeps it.
	Held
	// Released: this node no longer holds Item, because it was delivered
	// or expired. The caller deletes its copy.
	Released
	// StatusChanged: the status of an item sent from this node changed.
	// The caller stores Status.
	StatusChanged
	// Rejected: a peer sent an item that is forged, malformed or expired.
	// Err is the reason.
	Rejected
)

// Event reports a change the caller must act on or log.
type Event struct {
	Kind   EventKind
	Item   *Item
	Status *Status
	From   identity.NodeID
	Err    error
}

// Counters count what the Machine did since it started.
type Counters struct {
	Received, Held, Released, Pushed, Full, Forged uint64
}

// Machine routes messages and receipts between users as a deterministic
// state machine: it starts no goroutines and reads no clock, socket or
// disk, and every method takes the current time. Given the same calls, it
// returns the same outputs in the same order. It is not safe for
// concurrent use.
//
// An item sent with Send goes straight to its recipient's node when a
// location record names one that responds. Otherwise Copies custodians,
// the nodes closest to the recipient's UserKey, hold it until it expires
// or until the recipient's node announces itself to them, at which point
// they push it there.
type Machine struct {
	cfg Config

	// users are the local users, by signing key, with the location
	// record this node announces for each.
	users map[string]*localUser
	// locations are the newest records this node was given, by UserKey.
	locations map[identity.NodeID]*Location
	// out are the items sent from this node, until they expire.
	out map[Key]*outbound
	// held are the items held for other nodes' users.
	held map[Key]*heldItem
	// heldFor indexes held by the recipient's UserKey.
	heldFor map[identity.NodeID]map[Key]*heldItem
	usage   usage
	// senders is the usage of held items per sender's signing key.
	senders map[string]*usage
	// received are the keys of items given to local users, until they
	// expire, so a second copy is reported as a duplicate.
	received map[Key]time.Time

	down     map[identity.NodeID]time.Time
	closest  map[identity.NodeID]closestEntry
	looking  map[identity.NodeID]bool
	lookups  []identity.NodeID
	locating map[identity.NodeID]int // outstanding UserLocate requests
	located  map[identity.NodeID]time.Time
	// heldLocateAt is when to look up next where the recipient of held
	// items is; heldLooking marks such lookups in flight.
	heldLocateAt map[identity.NodeID]time.Time
	heldLooking  map[identity.NodeID]bool

	pending     map[uint64]pendingRequest
	nextRequest uint64
	outbox      []Outgoing
	events      []Event
	counters    Counters
}

type closestEntry struct {
	contacts []wire.Contact
	at       time.Time
}

type usage struct {
	items int
	bytes int64
}

// New returns a Machine with no users and no items.
func New(cfg Config) *Machine {
	cfg.setDefaults()
	return &Machine{
		cfg:       cfg,
		users:     make(map[string]*localUser),
		locations: make(map[identity.NodeID]*Location),
		out:       make(map[Key]*outbound),
		held:      make(map[Key]*heldItem),
		heldFor:   make(map[identity.NodeID]map[Key]*heldItem),
		senders:   make(map[string]*usage),
		received:  make(map[Key]time.Time),
		down:      make(map[identity.NodeID]time.Time),
		closest:   make(map[identity.NodeID]closestEntry),
		looking:   make(map[identity.NodeID]bool),
		locating:  make(map[identity.NodeID]int),
		located:   make(map[identity.NodeID]time.Time),

		heldLocateAt: make(map[identity.NodeID]time.Time),
		heldLooking:  make(map[identity.NodeID]bool),
		pending:      make(map[uint64]pendingRequest),
	}
}

// Config returns the Machine's configuration with defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// Outbox returns and clears the requests to send.
func (m *Machine) Outbox() []Outgoing {
	out := m.outbox
	m.outbox = nil
	return out
}

// Events returns and clears the events since the last call.
func (m *Machine) Events() []Event {
	ev := m.events
	m.events = nil
	return ev
}

// Lookups returns and clears the overlay keys whose closest nodes the
// caller must find and hand to HandleClosest.
func (m *Machine) Lookups() []identity.NodeID {
	l := m.lookups
	m.lookups = nil
	return l
}

// Counters returns the Machine's counters.
func (m *Machine) Counters() Counters { return m.counters }

// HandleClosest hands the Machine the nodes a lookup for target found,
// in any order; nil when the lookup failed.
func (m *Machine) HandleClosest(now time.Time, target identity.NodeID, contacts []wire.Contact) {
	delete(m.looking, target)
	var live []wire.Contact
	for _, c := range contacts {
		if c.ID != m.cfg.Self.ID && c.Validate() == nil {
			live = append(live, c)
		}
	}
	m.closest[target] = closestEntry{contacts: live, at: now}
	m.advanceTarget(now, target)
	m.announceTarget(now, target)
	if m.heldLooking[target] {
		delete(m.heldLooking, target)
		m.locate(now, target, live)
	}
}

// HandleResponse hands the Machine the response to one of its requests.
func (m *Machine) HandleResponse(now time.Time, request uint64, resp wire.Message) {
	p, ok := m.pending[request]
	if !ok {
		return
	}
	delete(m.pending, request)
	p.done(m, now, resp)
}

// HandleFailure reports that one of the Machine's requests failed or
// timed out.
func (m *Machine) HandleFailure(now time.Time, request uint64) {
	p, ok := m.pending[request]
	if !ok {
		return
	}
	delete(m.pending, request)
	m.down[p.to.ID] = now.Add(m.cfg.DownFor)
	p.done(m, now, nil)
}

// NextDeadline returns when Tick next has work to do, or the zero time.
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, u := range m.users {
		// A round in flight ends with a response, not a deadline.
		if u.announcing == 0 {
			earlier(u.nextAnnounce)
		}
	}
	for _, o := range m.out {
		if o.phase == phaseWait {
			earlier(o.nextTry)
		}
		earlier(o.status.Item.Expires)
	}
	for _, at := range m.heldLocateAt {
		earlier(at)
	}
	for _, h := range m.held {
		earlier(h.item.Expires)
		if !h.pushing {
			earlier(h.pushAt)
		}
	}
	return next
}

// Tick expires what has expired and retries what is due.
func (m *Machine) Tick(now time.Time) {
	m.expire(now)
	for _, key := range m.sortedOut() {
		if o := m.out[key]; o.phase == phaseWait && !now.Before(o.nextTry) {
			m.advance(now, o)
		}
	}
	m.retryPushes(now)
	m.announceDue(now)
	m.locateHeld(now)
}

func (m *Machine) expire(now time.Time) {
	for _, key := range m.sortedHeld() {
		if h := m.held[key]; !now.Before(h.item.Expires) {
			m.release(h)
		}
	}
	for _, key := range m.sortedOut() {
		o := m.out[key]
		if now.Before(o.status.Item.Expires) {
			continue
		}
		delete(m.out, key)
		if o.status.State == StatePending || o.status.State == StateHeld {
			o.status.State = StateExpired
			m.emitStatus(now, o)
		}
	}
	for k, exp := range m.received {
		if !now.Before(exp) {
			delete(m.received, k)
		}
	}
	for k, l := range m.locations {
		if !now.Before(l.Expires) {
			delete(m.locations, k)
		}
	}
	for id, until := range m.down {
		if !now.Before(until) {
			delete(m.down, id)
		}
	}
	for k, e := range m.closest {
		if now.Sub(e.at) >= m.cfg.ClosestTTL {
			delete(m.closest, k)
		}
	}
	for k, at := range m.located {
		if now.Sub(at) >= m.cfg.ClosestTTL {
			delete(m.located, k)
		}
	}
	for k := range m.heldLocateAt {
		if m.holdsFor(k) == 0 {
			delete(m.heldLocateAt, k)
		}
	}
}

func (m *Machine) isDown(id identity.NodeID, now time.Time) bool {
	until, ok := m.down[id]
	return ok && now.Before(until)
}

// freshLocation returns the location record of the user with UserKey key,
// if one is current.
func (m *Machine) freshLocation(key identity.NodeID, now time.Time) *Location {
	l := m.locations[key]
	if l == nil || !now.Before(l.Expires) {
		return nil
	}
	return l
}

// storeLocation keeps l if it is newer than the record held for its user.
func (m *Machine) storeLocation(l *Location) bool {
	key := l.Key()
	if old := m.locations[key]; old != nil && !l.Issued.After(old.Issued) {
		return false
	}
	m.locations[key] = l
	return true
}

// wantClosest returns the cached closest nodes to target, or queues a
// lookup for the caller and returns false.
func (m *Machine) wantClosest(target identity.NodeID, now time.Time) ([]wire.Contact, bool) {
	if e, ok := m.closest[target]; ok && now.Sub(e.at) < m.cfg.ClosestTTL {
		return e.contacts, true
	}
	if !m.looking[target] {
		m.looking[target] = true
		m.lookups = append(m.lookups, target)
	}
	return nil, false
}

// custodians returns up to Copies nodes closest to target, this node
// among the candidates, without nodes that are down.
func (m *Machine) custodians(target identity.NodeID, contacts []wire.Contact, now time.Time) []wire.Contact {
	all := append([]wire.Contact{m.cfg.Self}, contacts...)
	slices.SortFunc(all, func(a, b wire.Contact) int { return compareDistance(target, a.ID, b.ID) })
	var picked []wire.Contact
	for _, c := range all {
		if len(picked) == m.cfg.Copies {
			break
		}
		if c.ID != m.cfg.Self.ID && m.isDown(c.ID, now) {
			continue
		}
		picked = append(picked, c)
	}
	return picked
}

// compareDistance orders a and b by XOR distance to target.
func compareDistance(target, a, b identity.NodeID) int {
	for i := range target {
		if c := cmp.Compare(a[i]^target[i], b[i]^target[i]); c != 0 {
			return c
		}
	}
	return 0
}

// request queues a request and records which step its response completes.
func (m *Machine) request(to wire.Contact, msg wire.Message, p pendingRequest) {
	m.nextRequest++
	p.to = to
	m.pending[m.nextRequest] = p
	m.outbox = append(m.outbox, Outgoing{To: to, Request: m.nextRequest, Msg: msg})
}

func (m *Machine) isLocal(user ed25519.PublicKey) bool {
	_, ok := m.users[string(user)]
	return ok
}

func (m *Machine) sortedOut() []Key {
	keys := make([]Key, 0, len(m.out))
	for k := range m.out {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func (m *Machine) sortedHeld() []Key {
	keys := make([]Key, 0, len(m.held))
	for k := range m.held {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func compareKeys(a, b Key) int {
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return slices.Compare(a.ID[:], b.ID[:])
}
