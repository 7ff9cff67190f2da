package kademlia

import (
	"encoding/binary"
	"math"
	"math/bits"
	"time"

	"github.com/yuinet/yui/network/identity"
)

// entry is one contact in a bucket or a replacement cache, with its
// metrics. It is 80 bytes (76 used) and holds no pointers, because a
// simulator keeps a million routing tables in one process. Times are
// nanoseconds since the Machine's epoch (the time given to New).
type entry struct {
	id        identity.NodeID
	ip        [16]byte
	firstSeen int64
	lastSeen  int64
	rtt       int32 // smoothed round-trip time in microseconds; 0 until measured
	rttvar    int32 // mean deviation of the round-trip time in microseconds
	port      uint16
	addrKind  uint8 // addrIPv4, addrIPv6 or addrZoneBase+zone index
	failures  uint8 // consecutive failed requests, saturating at 255
}

// The round-trip estimate follows TCP's (RFC 6298, section 2): the first
// sample R sets SRTT = R and RTTVAR = R/2; each later one updates
// RTTVAR += (|SRTT - R| - RTTVAR) / 4 and then SRTT += (R - SRTT) / 8.
const (
	rttWeight    = 8 // the newest sample's weight in SRTT is 1/rttWeight
	rttvarWeight = 4 // and in RTTVAR 1/rttvarWeight
)

// recordRTT folds one measured round trip into the estimate.
func (e *entry) recordRTT(sample time.Duration) {
	us := min(max(sample.Microseconds(), 1), math.MaxInt32)
	if e.rtt == 0 {
		e.rtt, e.rttvar = int32(us), int32(us/2)
		return
	}
	deviation := us - int64(e.rtt)
	if deviation < 0 {
		deviation = -deviation
	}
	e.rttvar = int32(int64(e.rttvar) + (deviation-int64(e.rttvar))/rttvarWeight)
	e.rtt = int32(int64(e.rtt) + (us-int64(e.rtt))/rttWeight)
}

// timeout returns how long to wait for the contact's response: TCP's
// retransmission timeout SRTT + 4·RTTVAR, clamped to [lo, hi], or hi
// while no round trip has been measured.
//
// NOTE: Unlike TCP (RFC 6298, section 5.5) the timeout does not double
// after a failure, so a dead contact costs each lookup that asks it the
// same short wait. A live contact whose round trip grew far past the
// estimate therefore fails MaxFailures times and is evicted, and it
// returns with no estimate at its next request.
func (e *entry) timeout(lo, hi time.Duration) time.Duration {
	if e.rtt == 0 {
		return hi
	}
	rto := time.Duration(int64(e.rtt)+4*int64(e.rttvar)) * time.Microsecond
	return min(max(rto, lo), hi)
}

// addFailure counts one more consecutive failure.
func (e *entry) addFailure() {
	if e.failures < math.MaxUint8 {
		e.failures++
	}
}

// moreStable reports whether a is a better replacement than b: fewer
// consecutive failures first, then the longer span between first and last
// contact (the uptime this node has observed, which predicts further
// uptime), then the more recent contact.
func moreStable(a, b *entry) bool {
	if a.failures != b.failures {
		return a.failures < b.failures
	}
	if spanA, spanB := a.lastSeen-a.firstSeen, b.lastSeen-b.firstSeen; spanA != spanB {
		return spanA > spanB
	}
	return a.lastSeen > b.lastSeen
}

// bucket holds the contacts whose IDs share exactly its index's number of
// leading bits with this node's ID.
type bucket struct {
	// entries is the bucket proper, at most K contacts, least recently
	// seen first.
	entries []entry
	// replacements holds verified contacts that found the bucket full, at
	// most Config.ReplacementCache, least recently seen first.
	replacements []entry
	// lastLookup is when a lookup last targeted an ID in the bucket's range.
	lastLookup int64
	// sockets has the socketBit of every entry and replacement set, and
	// may keep bits of contacts that left. It lets entryAt skip the
	// buckets that cannot hold an address.
	sockets uint64
}

// socketBit returns the bit that represents an address and port in
// bucket.sockets: one of 64, picked by a multiplicative hash.
func socketBit(ip [16]byte, port uint16) uint64 {
	h := binary.LittleEndian.Uint64(ip[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(ip[8:]) ^ uint64(port)
	h *= 0xbf58476d1ce4e5b9
	return 1 << (h >> 58)
}

// holdSocket records in the bucket's filter that an entry or replacement
// uses e's address. Every addition to a bucket and every change of an
// entry's address calls it. Removals leave their bits, so once the filter
// has twice as many bits set as the bucket has contacts, and more than
// 16, it is rebuilt from the contacts.
func (b *bucket) holdSocket(e *entry) {
	b.sockets |= socketBit(e.ip, e.port)
	contacts := len(b.entries) + len(b.replacements)
	if bits.OnesCount64(b.sockets) <= max(2*contacts, 16) {
		return
	}
	b.sockets = 0
	for i := range b.entries {
		b.sockets |= socketBit(b.entries[i].ip, b.entries[i].port)
	}
	for i := range b.replacements {
		b.sockets |= socketBit(b.replacements[i].ip, b.replacements[i].port)
	}
}

// indexOf returns the position of id in list, or -1.
func indexOf(list []entry, id identity.NodeID) int {
	for i := range list {
		if sameID(&list[i].id, &id) {
			return i
		}
	}
	return -1
}

// appendBounded appends e to list, growing the backing array at most to
// limit entries so that a full bucket wastes no capacity.
func appendBounded(list []entry, e entry, limit int) []entry {
	if len(list) == cap(list) {
		grown := make([]entry, len(list), min(max(2*cap(list), 4), max(limit, len(list)+1)))
		copy(grown, list)
		list = grown
	}
	return append(list, e)
}

// insertByLastSeen inserts e into list, which is ordered by lastSeen, at
// the position its own lastSeen gives it.
func insertByLastSeen(list []entry, e entry, limit int) []entry {
	list = appendBounded(list, e, limit)
	i := len(list) - 1
	for i > 0 && list[i-1].lastSeen > e.lastSeen {
		list[i] = list[i-1]
		i--
	}
	list[i] = e
	return list
}

// moveToBack moves list[i] to the end (most recently seen), keeping the
// order of the others.
func moveToBack(list []entry, i int) {
	e := list[i]
	copy(list[i:], list[i+1:])
	list[len(list)-1] = e
}

// removeAt deletes list[i], keeping the order of the others.
func removeAt(list []entry, i int) []entry {
	copy(list[i:], list[i+1:])
	list[len(list)-1] = entry{}
	return list[:len(list)-1]
}

// bestReplacement returns the index of the most stable replacement for
// which allowed returns true, or -1.
func (b *bucket) bestReplacement(allowed func(*entry) bool) int {
	best := -1
	for i := range b.replacements {
		r := &b.replacements[i]
		if allowed(r) && (best < 0 || moreStable(r, &b.replacements[best])) {
			best = i
		}
	}
	return best
}

func (b *bucket) empty() bool { return len(b.entries) == 0 && len(b.replacements) == 0 }
