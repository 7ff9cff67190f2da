package alert

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// Peer names a neighbour: in the daemon the node ID proven by the
// transport handshake, in a simulator any distinct value.
type Peer = identity.NodeID

// ErrDuplicate is returned by Publish for an alert the Machine holds.
var ErrDuplicate = errors.New("alert: alert is already held")

// ErrReplayed is wrapped by rejections of an alert whose sequence number
// the Machine has seen used, or is far older than the newest it has seen
// from that authority.
var ErrReplayed = errors.New("alert: alert is replayed")

// ErrRateLimited is wrapped by rejections of an alert that arrived while
// its sender's or its authority's token bucket was empty.
var ErrRateLimited = errors.New("alert: rate limit exceeded")

// Config tunes a Machine. The zero value of a field selects its default.
type Config struct {
	// Authorities are the keys whose alerts the Machine accepts.
	Authorities Authorities
	// ClockSkew is how far in the future an alert's issue time may be.
	// Default 5m.
	ClockSkew time.Duration
	// MaxLifetime is the longest time from an alert's issue to its
	// expiry, which bounds how long the Machine holds it. Default 7 days.
	MaxLifetime time.Duration
	// MaxPerAuthority is the most alerts held per authority key; a new
	// alert beyond it evicts the one with the lowest sequence. Default 256.
	MaxPerAuthority int
	// ReorderWindow is how far below the highest sequence seen from an
	// authority a new alert's sequence may be. A flood hands alerts over
	// in sequence order, but alerts taking different paths can overtake
	// one another; an alert further behind is a replay. Default 64.
	ReorderWindow uint64
	// SyncInterval is how often the Machine sends each neighbour its
	// summary, which repairs lost pushes. Default 1m.
	SyncInterval time.Duration
	// RetryInterval is the wait before the Machine sends a summary again
	// to a neighbour reported Unreachable. It doubles with every report,
	// up to SyncInterval, and resets when the neighbour is heard from.
	// Default 1s.
	RetryInterval time.Duration
	// ResendAfter is the wait before the Machine pushes an alert again to
	// a neighbour whose summary lacks it, which covers pushes still in
	// flight when the summary was sent. Default 10s. A value below
	// SyncInterval lets the next summary repair a lost push.
	ResendAfter time.Duration
	// SenderRate and SenderBurst bound the new alerts (duplicates are
	// free) the Machine checks per second from one peer. Defaults 2/s and
	// 128, enough to pass a full summary's worth after a partition heals.
	SenderRate  float64
	SenderBurst int
	// AuthorityRate and AuthorityBurst bound the new alerts the Machine
	// accepts per second from one authority key, so that a stolen key
	// cannot flood the network. Defaults 0.2/s and 32.
	AuthorityRate  float64
	AuthorityBurst int
	// MaxStrangers bounds the rate limits kept for peers that push alerts
	// without being neighbours. Beyond it such peers share one bucket, so
	// that a sender forging many source addresses cannot grow the Machine
	// without bound. Default 1024.
	MaxStrangers int
}

func (c Config) withDefaults() Config {
	orDefault := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	orDefault(&c.ClockSkew, 5*time.Minute)
	orDefault(&c.MaxLifetime, 7*24*time.Hour)
	orDefault(&c.SyncInterval, time.Minute)
	orDefault(&c.ResendAfter, 10*time.Second)
	orDefault(&c.RetryInterval, time.Second)
	c.RetryInterval = min(c.RetryInterval, c.SyncInterval)
	if c.MaxPerAuthority <= 0 {
		c.MaxPerAuthority = 256
	}
	if c.ReorderWindow == 0 {
		c.ReorderWindow = 64
	}
	if c.SenderRate <= 0 {
		c.SenderRate = 2
	}
	if c.SenderBurst <= 0 {
		c.SenderBurst = 128
	}
	if c.AuthorityRate <= 0 {
		c.AuthorityRate = 0.2
	}
	if c.AuthorityBurst <= 0 {
		c.AuthorityBurst = 32
	}
	if c.MaxStrangers <= 0 {
		c.MaxStrangers = 1024
	}
	return c
}

// Outgoing is a one-way message the caller must send for the Machine.
type Outgoing struct {
	To  Peer
	Msg wire.Message // *wire.AlertPush or *wire.AlertSummary
}

// EventKind is the kind of an Event.
type EventKind uint8

const (
	// Accepted reports a new valid alert. From is the zero Peer for an
	// alert given to Publish.
	Accepted EventKind = iota + 1
	// Rejected reports an alert that failed a check. Err names the check.
	Rejected
	// Dropped reports a held alert that expired or was evicted.
	Dropped
)

// Event reports something the Machine did, for logs, storage and clients
// watching for alerts.
type Event struct {
	Kind  EventKind
	Alert *Signed // Accepted, Dropped; nil for a Rejected alert that did not decode
	From  Peer    // Accepted, Rejected
	Err   error   // Rejected
}

// held is an alert the Machine keeps until it expires.
type held struct {
	*Signed
	from     Peer
	received time.Time
}

// authorityState is the Machine's record of one authority key.
type authorityState struct {
	// highest is the highest sequence accepted; valid when seen is set.
	highest uint64
	seen    bool
	// floor is the highest sequence evicted; every sequence at or below
	// it is a replay. Valid when evicted is set.
	floor   uint64
	evicted bool
	// sequences maps the sequence of each held alert to its ID.
	sequences map[uint64]ID
	limit     bucket
}

// neighbour is a peer the Machine floods to.
type neighbour struct {
	// has holds the alerts the peer is known to hold: the zero time for
	// ones it sent or listed, the push time for ones pushed to it.
	has      map[wire.AlertShortID]time.Time
	nextSync time.Time
	// retry is the wait before the next summary after a failed send; zero
	// while the peer is reachable.
	retry time.Duration
	limit bucket
}

// Machine is one node's part in the alert flood. See the package
// documentation for how a caller drives it.
type Machine struct {
	cfg Config

	held        map[ID]*held
	authorities map[KeyID]*authorityState
	// neighbours is keyed by peer; peers lists the same peers sorted, so
	// that floods go out in a deterministic order.
	neighbours map[Peer]*neighbour
	peers      []Peer
	// strangers holds the rate limits of peers that push alerts without
	// being neighbours. Tick deletes the ones whose buckets have refilled.
	// crowd is the bucket they share once strangers is full.
	strangers map[Peer]*bucket
	crowd     bucket

	outbox   []Outgoing
	events   []Event
	counters Counters
}

// New returns a Machine with no alerts and no neighbours.
func New(cfg Config) *Machine {
	return &Machine{
		cfg:         cfg.withDefaults(),
		held:        make(map[ID]*held),
		authorities: make(map[KeyID]*authorityState),
		neighbours:  make(map[Peer]*neighbour),
		strangers:   make(map[Peer]*bucket),
		counters:    Counters{Rejected: make(map[Reason]uint64)},
	}
}

// Outbox returns the messages to send and empties the queue.
func (m *Machine) Outbox() []Outgoing {
	out := m.outbox
	m.outbox = nil
	return out
}

// Events returns what happened since the last call and empties the queue.
func (m *Machine) Events() []Event {
	ev := m.events
	m.events = nil
	return ev
}

// Counters returns a copy of the Machine's counters.
func (m *Machine) Counters() Counters {
	c := m.counters
	c.Rejected = make(map[Reason]uint64, len(m.counters.Rejected))
	for r, n := range m.counters.Rejected {
		c.Rejected[r] = n
	}
	c.Held = len(m.held)
	c.Neighbours = len(m.neighbours)
	return c
}

// Alerts returns the alerts held at now, oldest issue first. Alerts that
// expired since the last Tick are left out.
func (m *Machine) Alerts(now time.Time) []*Signed {
	var list []*Signed
	for _, h := range m.held {
		if now.Before(h.Expires) {
			list = append(list, h.Signed)
		}
	}
	slices.SortFunc(list, compareIssued)
	return list
}

// Publish accepts an alert signed on this node and floods it to every
// neighbour. It runs every check but the rate limits, because the local
// operator is trusted with its own node; the other nodes still apply theirs.
// It returns ErrDuplicate for an alert already held.
func (m *Machine) Publish(now time.Time, s *Signed) error {
	if _, ok := m.held[s.ID]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicate, s.ID)
	}
	if err := m.check(now, s); err != nil {
		return err
	}
	m.accept(now, s, Peer{})
	return nil
}

// Restore holds alerts saved before a restart, without the rate limits and
// without flooding them: neighbours get them through summaries. It skips
// alerts that no longer pass the checks, such as expired ones, and returns
// how many it held.
func (m *Machine) Restore(now time.Time, raws [][]byte) int {
	var list []*Signed
	for _, raw := range raws {
		if s, err := Decode(raw); err == nil {
			list = append(list, s)
		}
	}
	// Sequence order keeps each authority's alerts inside the reorder
	// window.
	slices.SortFunc(list, compareSequence)

	n := 0
	for _, s := range list {
		if _, ok := m.held[s.ID]; ok || m.check(now, s) != nil {
			continue
		}
		m.hold(now, s, Peer{})
		n++
	}
	return n
}

// HandleMessage processes a message from peer from. It ignores message
// types other than wire.AlertPush and wire.AlertSummary.
func (m *Machine) HandleMessage(now time.Time, from Peer, msg wire.Message) {
	if n, ok := m.neighbours[from]; ok {
		n.retry = 0
	}
	switch msg := msg.(type) {
	case *wire.AlertPush:
		for _, raw := range msg.Alerts {
			m.receive(now, from, raw)
		}
	case *wire.AlertSummary:
		m.handleSummary(now, from, msg)
	}
}

// NeighbourUp adds peer p as a neighbour, or resets the Machine's record
// of it if it is one already (the peer may have restarted). It sends p a
// summary that requests p's summary in return.
func (m *Machine) NeighbourUp(now time.Time, p Peer) {
	m.expire(now)
	if _, ok := m.neighbours[p]; !ok {
		i, _ := slices.BinarySearchFunc(m.peers, p, identity.Compare)
		m.peers = slices.Insert(m.peers, i, p)
	}
	n := &neighbour{has: make(map[wire.AlertShortID]time.Time)}
	if b, ok := m.strangers[p]; ok {
		n.limit = *b
		delete(m.strangers, p)
	} else if old, ok := m.neighbours[p]; ok {
		n.limit = old.limit
	}
	m.neighbours[p] = n
	m.sendSummary(now, p, n, true)
}

// NeighbourDown removes neighbour p.
func (m *Machine) NeighbourDown(now time.Time, p Peer) {
	if _, ok := m.neighbours[p]; !ok {
		return
	}
	delete(m.neighbours, p)
	if i, ok := slices.BinarySearchFunc(m.peers, p, identity.Compare); ok {
		m.peers = slices.Delete(m.peers, i, i+1)
	}
}

// Unreachable reports that a message to neighbour p could not be sent. The
// Machine clears its marks of the alerts pushed to p that p has not
// confirmed. It sends p a summary again after a wait that doubles with
// every report, so that p gets what it missed soon after it is reachable
// again.
func (m *Machine) Unreachable(now time.Time, p Peer) {
	n, ok := m.neighbours[p]
	if !ok {
		return
	}
	for id, pushed := range n.has {
		if !pushed.IsZero() {
			delete(n.has, id)
		}
	}
	n.retry = min(max(2*n.retry, m.cfg.RetryInterval), m.cfg.SyncInterval)
	if next := now.Add(n.retry); next.Before(n.nextSync) {
		n.nextSync = next
	}
}

// SetAuthorities replaces the trusted keys. Held alerts stay held, even
// those of a key that is no longer trusted, until they expire.
func (m *Machine) SetAuthorities(auths Authorities) { m.cfg.Authorities = auths }

// Neighbours returns the current neighbours, sorted.
func (m *Machine) Neighbours() []Peer { return slices.Clone(m.peers) }

// Tick drops expired alerts and sends summaries that are due.
func (m *Machine) Tick(now time.Time) {
	m.expire(now)
	for _, p := range m.peers {
		if n := m.neighbours[p]; !now.Before(n.nextSync) {
			m.sendSummary(now, p, n, false)
		}
	}
	for p, b := range m.strangers {
		if now.Sub(b.last).Seconds()*m.cfg.SenderRate >= float64(m.cfg.SenderBurst) {
			delete(m.strangers, p)
		}
	}
}

// NextDeadline returns when Tick next has work: the earliest expiry or
// summary due. It returns the zero time when there is none.
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, h := range m.held {
		earlier(h.Expires)
	}
	for _, n := range m.neighbours {
		earlier(n.nextSync)
	}
	return next
}

// receive runs one pushed alert through the checks and floods it on.
func (m *Machine) receive(now time.Time, from Peer, raw []byte) {
	m.counters.Received++
	id := ID(sha256.Sum256(raw))
	if n, ok := m.neighbours[from]; ok {
		n.has[id.Short()] = time.Time{}
	}
	if _, ok := m.held[id]; ok {
		m.counters.Duplicate++
		return
	}

	// The sender pays for every new alert before the signature check, so
	// a peer sending forgeries cannot keep this node busy verifying.
	if !m.senderBucket(from).take(now, m.cfg.SenderRate, m.cfg.SenderBurst) {
		m.reject(from, nil, fmt.Errorf("%w: peer %s sent more than %d new alerts in a burst",
			ErrRateLimited, from.Short(), m.cfg.SenderBurst))
		m.forget(from, id)
		return
	}
	s, err := Decode(raw)
	if err == nil {
		err = m.check(now, s)
	}
	if err == nil {
		auth := m.authority(s.KeyID)
		if !auth.limit.take(now, m.cfg.AuthorityRate, m.cfg.AuthorityBurst) {
			err = fmt.Errorf("%w: authority %q issued more than %d alerts in a burst",
				ErrRateLimited, s.Authority, m.cfg.AuthorityBurst)
		}
	}
	if err != nil {
		m.reject(from, s, err)
		if errors.Is(err, ErrRateLimited) {
			m.forget(from, id)
		}
		return
	}
	m.accept(now, s, from)
}

// forget clears the mark that from holds an alert this node did not take,
// so that from offers it again at the next summary exchange.
func (m *Machine) forget(from Peer, id ID) {
	if n, ok := m.neighbours[from]; ok {
		delete(n.has, id.Short())
	}
}

// check runs every test of s that does not spend a token: signature, time
// and replay.
func (m *Machine) check(now time.Time, s *Signed) error {
	if err := s.Verify(m.cfg.Authorities); err != nil {
		return err
	}
	if err := s.CheckTime(now, m.cfg.ClockSkew); err != nil {
		return err
	}
	if life := s.Expires.Sub(s.Issued); life > m.cfg.MaxLifetime {
		return fmt.Errorf("%w: alert %s is valid for %s, limit %s", ErrInvalid, s.ID, life, m.cfg.MaxLifetime)
	}

	auth := m.authority(s.KeyID)
	if id, ok := auth.sequences[s.Sequence]; ok && id != s.ID {
		return fmt.Errorf("%w: authority %q already used sequence %d for alert %s",
			ErrReplayed, s.Authority, s.Sequence, id)
	}
	if auth.evicted && s.Sequence <= auth.floor {
		return fmt.Errorf("%w: sequence %d of %q is at or below evicted sequence %d",
			ErrReplayed, s.Sequence, s.Authority, auth.floor)
	}
	if auth.seen && s.Sequence+m.cfg.ReorderWindow < auth.highest {
		return fmt.Errorf("%w: sequence %d of %q is more than %d below the highest seen, %d",
			ErrReplayed, s.Sequence, s.Authority, m.cfg.ReorderWindow, auth.highest)
	}
	return nil
}

// accept holds s, reports it and floods it to every neighbour that may
// not hold it.
func (m *Machine) accept(now time.Time, s *Signed, from Peer) {
	m.hold(now, s, from)
	m.counters.Accepted++
	m.events = append(m.events, Event{Kind: Accepted, Alert: s, From: from})

	short := s.ID.Short()
	for _, p := range m.peers {
		n := m.neighbours[p]
		if _, ok := n.has[short]; ok || p == from {
			continue
		}
		n.has[short] = now
		m.outbox = append(m.outbox, Outgoing{To: p, Msg: &wire.AlertPush{Alerts: [][]byte{s.Raw}}})
	}
}

// hold stores s and evicts its authority's lowest sequence when the
// authority is over its limit.
func (m *Machine) hold(now time.Time, s *Signed, from Peer) {
	m.held[s.ID] = &held{Signed: s, from: from, received: now}
	auth := m.authority(s.KeyID)
	auth.sequences[s.Sequence] = s.ID
	if !auth.seen || s.Sequence > auth.highest {
		auth.highest, auth.seen = s.Sequence, true
	}
	if len(auth.sequences) <= m.cfg.MaxPerAuthority {
		return
	}

	lowest := s.Sequence
	for seq := range auth.sequences {
		lowest = min(lowest, seq)
	}
	victim := m.held[auth.sequences[lowest]]
	m.drop(victim.Signed)
	m.counters.Evicted++
	if !auth.evicted || lowest > auth.floor {
		auth.floor, auth.evicted = lowest, true
	}
}

// expire drops every alert whose expiry has passed, in a deterministic
// order.
func (m *Machine) expire(now time.Time) {
	var gone []*Signed
	for _, h := range m.held {
		if !now.Before(h.Expires) {
			gone = append(gone, h.Signed)
		}
	}
	slices.SortFunc(gone, compareSequence)
	for _, s := range gone {
		m.drop(s)
		m.counters.Expired++
	}
}

func (m *Machine) drop(s *Signed) {
	delete(m.held, s.ID)
	delete(m.authority(s.KeyID).sequences, s.Sequence)
	short := s.ID.Short()
	for _, n := range m.neighbours {
		delete(n.has, short)
	}
	m.events = append(m.events, Event{Kind: Dropped, Alert: s})
}

func (m *Machine) reject(from Peer, s *Signed, err error) {
	m.counters.Rejected[ReasonOf(err)]++
	m.events = append(m.events, Event{Kind: Rejected, Alert: s, From: from, Err: err})
}

func (m *Machine) authority(k KeyID) *authorityState {
	a, ok := m.authorities[k]
	if !ok {
		a = &authorityState{sequences: make(map[uint64]ID)}
		m.authorities[k] = a
	}
	return a
}

func (m *Machine) senderBucket(p Peer) *bucket {
	if n, ok := m.neighbours[p]; ok {
		return &n.limit
	}
	b, ok := m.strangers[p]
	if ok {
		return b
	}
	if len(m.strangers) >= m.cfg.MaxStrangers {
		return &m.crowd
	}
	b = new(bucket)
	m.strangers[p] = b
	return b
}

func compareIssued(a, b *Signed) int {
	if c := a.Issued.Compare(b.Issued); c != 0 {
		return c
	}
	return compareSequence(a, b)
}

func compareSequence(a, b *Signed) int {
	if c := slices.Compare(a.KeyID[:], b.KeyID[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Sequence, b.Sequence); c != 0 {
		return c
	}
	return slices.Compare(a.ID[:], b.ID[:])
}
