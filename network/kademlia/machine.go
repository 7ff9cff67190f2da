// Package kademlia is the routing core of the overlay: one node's routing
// table and its lookups, as a deterministic state machine.
//
// A Machine starts no goroutines and touches no socket, clock or random
// source of its own. Its caller feeds it the current time, incoming
// requests, responses and failures, and calls Tick when NextDeadline has
// passed; it then drains the requests to send with Outbox and the things
// that happened with Events. The daemon drives a Machine over QUIC; the
// simulator and the tests drive many Machines over a simulated network
// with virtual time. Given the same inputs and seed a Machine produces the
// same outputs.
//
// A Machine is not safe for concurrent use.
package kademlia

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// Config tunes a Machine. The zero value of a field selects its default.
type Config struct {
	// K is the bucket size and the number of closest nodes a lookup
	// returns. Default 20.
	K int
	// Alpha is the number of requests a lookup keeps in flight. Default 3.
	Alpha int
	// RequestTimeout is the longest the Machine waits for a response
	// before it counts the request as failed, and the wait for a node
	// whose round-trip time it has not measured. Default 2s.
	RequestTimeout time.Duration
	// MinRequestTimeout is the shortest wait for a response. A contact
	// with a measured round-trip time gets an adaptive timeout between
	// MinRequestTimeout and RequestTimeout (see entry.timeout). Default
	// 250ms: LAN round trips take milliseconds, so the floor rather than
	// the estimate usually decides. It leaves room for a new connection's
	// handshake or a busy small device before a live contact counts as
	// failed, and still waits on a dead contact an eighth of the default
	// RequestTimeout. At most RequestTimeout.
	MinRequestTimeout time.Duration
	// RefreshInterval is how long a bucket may go without a lookup into
	// its range before the Machine refreshes it with one. Default 15m.
	RefreshInterval time.Duration
	// PingInterval is how long a contact may stay silent before the
	// Machine checks it is alive. Default 5m.
	PingInterval time.Duration
	// MaxFailures is the number of consecutive failed requests after which
	// a contact is evicted (replaced from the replacement cache). Default 3.
	MaxFailures int
	// ReplacementCache is the number of spare contacts kept per bucket.
	// Default K.
	ReplacementCache int
	// MaxPerPrefixBucket and MaxPerPrefixTable cap the contacts from one
	// IPv4 /24 or IPv6 /48 in one bucket and in the whole table, so one
	// host cannot fill a bucket. Loopback, private and link-local
	// addresses are exempt, because on a LAN every node shares a prefix.
	// Defaults 2 and 10.
	MaxPerPrefixBucket int
	MaxPerPrefixTable  int
	// LivenessPings caps the pings to silent contacts in flight at once,
	// so that a large table does not send a burst of them in one Tick.
	// Default 4.
	LivenessPings int
}

// withDefaults returns c with every zero or negative field set to its
// default and every field clamped to what the Machine can represent.
func (c Config) withDefaults() Config {
	orDefault := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	orDefaultDuration := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
		*v = min(*v, maxClock)
	}

	orDefault(&c.K, 20)
	// A Nodes response carries at most wire.MaxContacts contacts.
	c.K = min(c.K, wire.MaxContacts)
	orDefault(&c.Alpha, 3)
	orDefaultDuration(&c.RequestTimeout, 2*time.Second)
	orDefaultDuration(&c.MinRequestTimeout, 250*time.Millisecond)
	c.MinRequestTimeout = min(c.MinRequestTimeout, c.RequestTimeout)
	orDefaultDuration(&c.RefreshInterval, 15*time.Minute)
	orDefaultDuration(&c.PingInterval, 5*time.Minute)
	orDefault(&c.MaxFailures, 3)
	// Entries count failures in a uint8.
	c.MaxFailures = min(c.MaxFailures, math.MaxUint8)
	orDefault(&c.ReplacementCache, c.K)
	orDefault(&c.MaxPerPrefixBucket, 2)
	orDefault(&c.MaxPerPrefixTable, 10)
	orDefault(&c.LivenessPings, 4)
	return c
}

// Outgoing is a message the caller must send for the Machine.
type Outgoing struct {
	To wire.Contact
	// Request is the ID to send the message under; the response must be
	// given to HandleResponse with the same ID. Zero for one-way messages.
	Request uint64
	Msg     wire.Message
	// Timeout is how long the Machine waits for the response to a
	// request before it fails the request itself. The caller should bound
	// the network call by it too. Zero for one-way messages.
	Timeout time.Duration
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// PeerAdded reports a contact that entered the routing table.
	PeerAdded EventKind = iota + 1
	// PeerRemoved reports a contact evicted or gone.
	PeerRemoved
	// LookupDone reports a finished lookup; Lookup holds its result.
	LookupDone
)

// Event reports something the Machine did, for logs, metrics and callers
// waiting on a lookup.
type Event struct {
	Kind   EventKind
	Peer   wire.Contact  // PeerAdded, PeerRemoved
	Lookup *LookupResult // LookupDone
}

// LookupID names a lookup started by Lookup.
type LookupID uint64

// LookupResult is the outcome of an iterative lookup.
type LookupResult struct {
	ID     LookupID
	Target identity.NodeID
	// Closest holds up to K responsive nodes, closest to Target first.
	Closest []wire.Contact
	// Hops is the number of request rounds along the longest referral
	// chain to a node in Closest. A node taken from the routing table
	// counts 1 and a node named in a response one more than the node that
	// named it. A lookup whose closest nodes were all in the table reports
	// 1, and one that found no node reports 0.
	Hops int
	// Queried and Failed count the requests the lookup sent and the ones
	// that timed out or failed.
	Queried, Failed int
	// Started and Finished are the times given to Lookup and to the call
	// that finished it.
	Started, Finished time.Time
}

// PeerInfo is a routing-table contact with its measured metrics.
type PeerInfo struct {
	wire.Contact
	// Bucket is the contact's bucket: the number of leading bits its ID
	// shares with this node's ID.
	Bucket int
	// RTT is the moving average of the contact's response times; zero
	// until it has answered once.
	RTT time.Duration
	// FirstSeen and LastSeen are when the contact was first and last heard
	// from.
	FirstSeen, LastSeen time.Time
	// Failures counts consecutive requests to the contact that failed.
	Failures int
}

// BucketInfo describes how full one bucket is.
type BucketInfo struct {
	Index        int // leading bits shared with this node's ID
	Contacts     int
	Replacements int
}

// Machine is one node's routing table and lookups. See the package
// documentation for how a caller drives it.
type Machine struct {
	// Set by New.
	self  wire.Contact
	cfg   Config
	epoch time.Time // the time given to New; entries store times relative to it
	rng   rand.PCG  // refresh targets; seeded by New

	// buckets[i] holds the contacts sharing i leading bits with self. The
	// slice is as long as the deepest non-empty bucket needs.
	buckets []bucket
	// zones holds the IPv6 zones that entries refer to by index.
	zones []string
	// failed holds the nodes whose requests failed recently.
	failed failedSet
	// suspectsDue is set when a table contact may have failed its last
	// request and have no request in flight. It spares pingSilent a scan
	// of the table while no request has failed.
	suspectsDue bool

	// pending holds the requests in flight, in increasing ID order.
	pending     []request
	nextRequest uint64
	lookups     []*lookup
	nextLookup  LookupID
	// farNext and farEnd are the range of far buckets whose join refresh
	// has not started yet (see refreshFarBuckets).
	farNext, farEnd int
	// joinShort is set while the last join lookup found fewer than K
	// nodes, and joinDue is when Tick runs the join again, or noDeadline
	// (see retryShortJoin).
	joinShort bool
	joinDue   int64
	// joined is set once a join lookup has ended (see Joined).
	joined bool
	// contactQueue holds up to K contacts from AddContact that wait for a
	// ping; droppedContacts counts those that found it full.
	contactQueue    []wire.Contact
	droppedContacts uint64

	// refreshDue and pingDue are lower bounds on when Tick must next
	// refresh a bucket or ping a silent contact; noDeadline if nothing is
	// due. They are recomputed by Tick and lowered when buckets or
	// contacts appear.
	refreshDue int64
	pingDue    int64

	outbox []Outgoing
	events []Event
}

// noDeadline marks a due time that is never reached.
const noDeadline = math.MaxInt64

// New returns a Machine for the node self with an empty routing table. The
// seed drives the random refresh targets; now is the current time, which
// later calls must not precede.
func New(self wire.Contact, cfg Config, seed uint64, now time.Time) *Machine {
	return &Machine{
		self:       self,
		cfg:        cfg.withDefaults(),
		epoch:      now,
		rng:        *rand.NewPCG(seed, seed^0x9e3779b97f4a7c15),
		refreshDue: noDeadline,
		pingDue:    noDeadline,
		joinDue:    noDeadline,
	}
}

// Self returns the contact the Machine was created for.
func (m *Machine) Self() wire.Contact { return m.self }

// Config returns the configuration in force, with defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// Outbox returns the messages queued since the last call and empties the
// queue. Requests carry nonzero Request IDs; the caller reports each one's
// outcome with HandleResponse or HandleFailure.
func (m *Machine) Outbox() []Outgoing {
	out := m.outbox
	m.outbox = nil
	return out
}

// Events returns the events since the last call and empties the queue.
func (m *Machine) Events() []Event {
	out := m.events
	m.events = nil
	return out
}

// maxClock bounds the times (in nanoseconds since the epoch) and the
// configured durations the Machine computes with, about 73 years, so that
// the sum or difference of two of them cannot overflow an int64.
//
// NOTE: A Machine given a time more than 73 years after New uses the
// clamped time instead and expires no more timers.
const maxClock = 1 << 61

// clock converts a wall time to nanoseconds since the epoch, clamped to
// ±maxClock.
func (m *Machine) clock(now time.Time) int64 {
	return min(max(int64(now.Sub(m.epoch)), -maxClock), maxClock)
}

// wall converts nanoseconds since the epoch back to a time.
func (m *Machine) wall(t int64) time.Time { return m.epoch.Add(time.Duration(t)) }

func (m *Machine) emit(kind EventKind, peer wire.Contact) {
	m.events = append(m.events, Event{Kind: kind, Peer: peer})
}
