package quicnet

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/yuinet/yui/network/wire"
)

// Traffic counts messages of one type and their bytes, frame headers
// included.
type Traffic struct {
	Messages uint64
	Bytes    uint64
}

// Stats is a snapshot of a transport's counters since Listen. The daemon
// exports them as metrics, so that this package needs no metrics library.
type Stats struct {
	// Conns is the number of open connections, incoming and outgoing.
	Conns int
	// Dials counts outgoing connections established.
	Dials uint64
	// Accepts counts incoming connections accepted.
	Accepts uint64

	// In and Out count valid messages received and sent, by type.
	In  map[wire.Type]Traffic
	Out map[wire.Type]Traffic

	// Dropped counts received messages discarded, by reason.
	Dropped map[DropReason]uint64

	// HandshakeFailures counts handshakes that failed as seen by this
	// node: peer certificates it rejected while accepting, and dials
	// whose TLS handshake failed. Handshakes an incoming peer aborts, for
	// example over a network name mismatch, are not counted.
	HandshakeFailures uint64
	// PeerMismatches counts dials that reached a node with another ID
	// than the one expected.
	PeerMismatches uint64
	// BadPeers counts connections closed because the peer sent more than
	// Config.MaxInvalid invalid messages.
	BadPeers uint64
	// RejectedConns counts incoming connections closed at once because
	// they exceeded Config.MaxConns, MaxConnsPerPeer or MaxConnsPerIP and
	// no idle connection could make room.
	RejectedConns uint64
	// EvictedConns counts idle connections closed to make room for an
	// incoming one.
	EvictedConns uint64
	// SilentConns counts connections closed because a request on them
	// timed out and no packet came from the peer meanwhile.
	SilentConns uint64

	// Buffered is the number of bytes of frame bodies reserved now,
	// against Config.MaxBuffered.
	Buffered int
}

// counters holds the transport's counters.
type counters struct {
	dials             atomic.Uint64
	accepts           atomic.Uint64
	handshakeFailures atomic.Uint64
	peerMismatches    atomic.Uint64
	badPeers          atomic.Uint64
	rejectedConns     atomic.Uint64
	evictedConns      atomic.Uint64
	silentConns       atomic.Uint64

	// mu guards the maps, which grow as new types and reasons occur.
	mu      sync.Mutex
	in      map[wire.Type]Traffic
	out     map[wire.Type]Traffic
	dropped map[DropReason]uint64
}

func newCounters() *counters {
	return &counters{
		in:      make(map[wire.Type]Traffic),
		out:     make(map[wire.Type]Traffic),
		dropped: make(map[DropReason]uint64),
	}
}

func (c *counters) received(t wire.Type, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	addTraffic(c.in, t, size)
}

func (c *counters) sent(t wire.Type, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	addTraffic(c.out, t, size)
}

func addTraffic(m map[wire.Type]Traffic, t wire.Type, size int) {
	traffic := m[t]
	traffic.Messages++
	traffic.Bytes += uint64(size)
	m[t] = traffic
}

func (c *counters) drop(reason DropReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropped[reason]++
}

// snapshot returns the counters as Stats, with Conns and Buffered left
// for the caller.
func (c *counters) snapshot() Stats {
	s := Stats{
		Dials:             c.dials.Load(),
		Accepts:           c.accepts.Load(),
		HandshakeFailures: c.handshakeFailures.Load(),
		PeerMismatches:    c.peerMismatches.Load(),
		BadPeers:          c.badPeers.Load(),
		RejectedConns:     c.rejectedConns.Load(),
		EvictedConns:      c.evictedConns.Load(),
		SilentConns:       c.silentConns.Load(),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.In = maps.Clone(c.in)
	s.Out = maps.Clone(c.out)
	s.Dropped = maps.Clone(c.dropped)
	return s
}
