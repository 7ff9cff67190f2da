package discovery

import (
	"net/netip"
	"time"

	"github.com/yuinet/yui/network/identity"
)

// peerKey names one path to a peer: its node ID and the IP address its
// beacons come from. A peer reached over IPv4 and IPv6, or over two links,
// has one entry per path, because the same beacon arrives on each.
type peerKey struct {
	id   identity.NodeID
	addr netip.Addr
}

// peerState is the table's record of one path.
type peerState struct {
	srcPort    uint16 // source port of the peer's beacons; changes when it restarts
	listenPort uint16
	seq        uint64 // highest sequence number accepted from srcPort
	heard      time.Time
	reported   time.Time
	replied    time.Time // zero if never
}

// verdict is the table's decision on an accepted beacon.
type verdict struct {
	// duplicate is set for a beacon already seen (the same beacon over a
	// second route, or a replay); the caller drops it.
	duplicate bool
	// report is set when the caller should report the contact.
	report bool
	// reply is set when the caller should send a beacon straight back.
	reply bool
	// broadcast is set when the caller should also broadcast its reply on
	// the link the beacon came in on.
	broadcast bool
}

// peerTable decides which beacons to report and reply to. It is owned by
// one goroutine and takes the time as a parameter.
type peerTable struct {
	// window is how long a peer counts as seen recently: a peer silent for
	// longer is new again, and a contact is reported again after it.
	window time.Duration
	// cooldown is the shortest gap between two replies to one path, so a
	// peer that requests replies in every beacon gets only some.
	cooldown time.Duration
	// max bounds the table; beyond it the least recently heard path goes.
	max   int
	peers map[peerKey]*peerState
}

func newPeerTable(window, cooldown time.Duration, max int) *peerTable {
	return &peerTable{window: window, cooldown: cooldown, max: max, peers: make(map[peerKey]*peerState)}
}

// observe records a valid beacon of another node that arrived from src and
// returns what to do with it.
//
// A beacon is a duplicate if its sequence number is not above the last one
// from the same source port. A restarted sender has a new source port,
// and its sequence numbers start above the old ones unless its clock went
// back. A sender gets a reply when it is new, has been silent for longer
// than the window, or requests a reply, but never twice within the
// cooldown.
func (t *peerTable) observe(now time.Time, b *Beacon, src netip.AddrPort) verdict {
	key := peerKey{id: b.ID, addr: src.Addr()}
	p, known := t.peers[key]
	if known && p.srcPort == src.Port() && b.Seq <= p.seq {
		return verdict{duplicate: true}
	}

	fresh := !known || now.Sub(p.heard) > t.window || p.srcPort != src.Port()
	if !known {
		p = t.insert(now, key)
	}

	var v verdict
	v.report = !known || p.listenPort != b.ListenPort || now.Sub(p.reported) >= t.window
	v.reply = (fresh || b.ReplyRequested) && (p.replied.IsZero() || now.Sub(p.replied) >= t.cooldown)
	v.broadcast = v.reply && b.ReplyRequested

	p.srcPort, p.listenPort, p.seq, p.heard = src.Port(), b.ListenPort, b.Seq, now
	if v.report {
		p.reported = now
	}
	if v.reply {
		p.replied = now
	}
	return v
}

func (t *peerTable) insert(now time.Time, key peerKey) *peerState {
	if len(t.peers) >= t.max {
		t.prune(now)
	}
	if len(t.peers) >= t.max {
		t.evictOldest()
	}
	p := new(peerState)
	t.peers[key] = p
	return p
}

// prune removes paths not heard within the window.
func (t *peerTable) prune(now time.Time) {
	for key, p := range t.peers {
		if now.Sub(p.heard) > t.window {
			delete(t.peers, key)
		}
	}
}

func (t *peerTable) evictOldest() {
	var oldest peerKey
	var heard time.Time
	for key, p := range t.peers {
		if heard.IsZero() || p.heard.Before(heard) {
			oldest, heard = key, p.heard
		}
	}
	delete(t.peers, oldest)
}

// len returns the number of paths in the table.
func (t *peerTable) len() int { return len(t.peers) }
