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
	// RequestTimeout is how long the Machine waits for a response before
	// it counts the request as failed. Default 2s.
	RequestTimeout time.Duration
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
}

// Outgoing is a message the caller must send for the Machine.
type Outgoing struct {
	To wire.Contact
	// Request is the ID to send the message under; the response must be
	// given to HandleResponse with the same ID. Zero for one-way messages.
	Request uint64
	Msg     wire.Message
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
	// Hops is the length of the longest referral chain that led to a node
	// in Closest: 1 if the first contacts asked already knew them all.
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
