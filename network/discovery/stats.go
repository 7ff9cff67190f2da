package discovery

import (
	"errors"
	"sync/atomic"
)

// Stats counts what a Discoverer did since it started.
type Stats struct {
	// Sent counts datagrams sent. SendErrors counts sends that failed, and
	// RateLimited the datagrams not sent because of Config.MaxPerSecond.
	Sent, SendErrors, RateLimited uint64
	// Received counts datagrams read from the sockets.
	Received uint64
	// Accepted counts valid beacons of other nodes of this network, not
	// counting duplicates.
	Accepted uint64
	// Own counts this node's own beacons, which come back over broadcast
	// and multicast, and replays of them. OtherNetwork counts valid
	// beacons of other networks. Duplicate counts copies of beacons
	// already accepted.
	Own, OtherNetwork, Duplicate uint64
	// Clones counts beacons with this node's ID that this node did not
	// send: another process holds its key, usually because the data
	// folder was copied.
	Clones uint64
	// NewPeersDropped counts beacons of new peers dropped because of
	// Config.MaxNewPeersPerSecond.
	NewPeersDropped uint64
	// Rejected counts datagrams dropped by reason.
	Rejected Rejected
	// InboxFull counts verified beacons dropped because the goroutine
	// that handles them fell behind.
	InboxFull uint64
	// Reported counts contacts delivered on the Contacts channel.
	// ContactsDropped counts contacts dropped because its buffer was full,
	// and BadSource those whose source address cannot be a contact.
	Reported, ContactsDropped, BadSource uint64
}

// Rejected counts dropped datagrams by the error DecodeBeacon returned.
type Rejected struct {
	TooLarge, Malformed, Version, Invalid, IDMismatch, BadSignature, Timestamp uint64
}

// Total returns the number of rejected datagrams.
func (r Rejected) Total() uint64 {
	return r.TooLarge + r.Malformed + r.Version + r.Invalid + r.IDMismatch + r.BadSignature + r.Timestamp
}

type counters struct {
	sent, sendErrors, rateLimited        atomic.Uint64
	received, accepted                   atomic.Uint64
	own, otherNetwork, duplicate         atomic.Uint64
	clones, newPeersDropped              atomic.Uint64
	tooLarge, malformed, version         atomic.Uint64
	invalid, idMismatch, badSignature    atomic.Uint64
	timestamp, inboxFull                 atomic.Uint64
	reported, contactsDropped, badSource atomic.Uint64
}

// reject counts a datagram that DecodeBeacon rejected with err.
func (c *counters) reject(err error) {
	for _, r := range []struct {
		err     error
		counter *atomic.Uint64
	}{
		{ErrOtherNetwork, &c.otherNetwork},
		{ErrTooLarge, &c.tooLarge},
		{ErrMalformed, &c.malformed},
		{ErrVersion, &c.version},
		{ErrInvalid, &c.invalid},
		{ErrIDMismatch, &c.idMismatch},
		{ErrBadSignature, &c.badSignature},
		{ErrTimestamp, &c.timestamp},
	} {
		if errors.Is(err, r.err) {
			r.counter.Add(1)
			return
		}
	}
	c.malformed.Add(1)
}

func (c *counters) snapshot() Stats {
	return Stats{
		Sent:            c.sent.Load(),
		SendErrors:      c.sendErrors.Load(),
		RateLimited:     c.rateLimited.Load(),
		Received:        c.received.Load(),
		Accepted:        c.accepted.Load(),
		Own:             c.own.Load(),
		OtherNetwork:    c.otherNetwork.Load(),
		Duplicate:       c.duplicate.Load(),
		Clones:          c.clones.Load(),
		NewPeersDropped: c.newPeersDropped.Load(),
		Rejected: Rejected{
			TooLarge:     c.tooLarge.Load(),
			Malformed:    c.malformed.Load(),
			Version:      c.version.Load(),
			Invalid:      c.invalid.Load(),
			IDMismatch:   c.idMismatch.Load(),
			BadSignature: c.badSignature.Load(),
			Timestamp:    c.timestamp.Load(),
		},
		InboxFull:       c.inboxFull.Load(),
		Reported:        c.reported.Load(),
		ContactsDropped: c.contactsDropped.Load(),
		BadSource:       c.badSource.Load(),
	}
}
