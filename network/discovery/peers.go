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
	// relearn is set when the link to the peer came back, so that its
	// next beacon counts as fresh.
	relearn bool
}

// verdict is the table's decision on an accepted beacon.
type verdict struct {
	// duplicate is set for a beacon already seen (the same beacon over a
	// second route, or a replay); the caller drops it.
	duplicate bool
	// limited is set for the beacon of a new peer that arrived while the
	// admission limit was used up. The table did not record the peer, so
	// its next beacon is new again. The caller drops this one.
	limited bool
	// report is set when the caller should report the contact, and
	// reason names the cause.
	report bool
	reason reportReason
	// reply is set when the caller should send a beacon straight back.
	reply bool
	// broadcast is set when the caller should also broadcast its reply on
	// the link the beacon came in on.
	broadcast bool
}

// reportReason is the cause of a report, as the log names it.
type reportReason string

const (
	// reasonNew: the path was not in the table.
	reasonNew reportReason = "new"
	// reasonRestarted: the peer sends from another source port.
	reasonRestarted reportReason = "restarted"
	// reasonRelearn: the link to the peer came back (see relearn).
	reasonRelearn reportReason = "link-back"
	// reasonSilent: the peer was silent for longer than the window or the
	// silence limit.
	reasonSilent reportReason = "silent"
	// reasonRequested: the peer requested replies because it joined a
	// link or got one back.
	reasonRequested reportReason = "reply-requested"
	// reasonPort: the peer advertises another listen port.
	reasonPort reportReason = "port-changed"
	// reasonRefresh: a window passed since the last report.
	reasonRefresh reportReason = "refresh"
)

// peerTable decides which beacons to report and reply to. It is owned by
// one goroutine and takes the time as a parameter.
type peerTable struct {
	// window is how long a peer counts as seen recently: a peer silent for
	// longer is new again, and a contact is reported again after it.
	window time.Duration
	// cooldown is the shortest gap between two replies to one path, and
	// between two reports that its requests for replies trigger. So a
	// peer that requests replies in every beacon gets only some.
	cooldown time.Duration
	// max bounds the table; beyond it the least recently heard path goes.
	max int
	// silence, if not zero, is how long a path may go unheard before its
	// peer looks new again, even within the window. A peer that missed
	// beacons may have been cut off, and evicted by this node meanwhile.
	silence time.Duration
	// admission, if not nil, limits how many new paths the table accepts,
	// so that a flood of beacons from fresh keys cannot push unbounded
	// work into the node. Known paths never take a token.
	admission *tokenBucket

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
// back.
//
// A path looks fresh when it is new, its sender restarted, it was silent
// for longer than the window or the silence limit, or relearn marked it.
// A fresh path is reported and gets a reply. A known path is also
// reported once per window, when its listen port changes, and when its
// beacon requests replies because the peer joined a link. A path also gets
// a reply when it requests one. Neither a report that a request triggered
// nor a reply repeats within the cooldown.
func (t *peerTable) observe(now time.Time, b *Beacon, src netip.AddrPort) verdict {
	key := peerKey{id: b.ID, addr: src.Addr()}
	p, known := t.peers[key]
	if known && p.srcPort == src.Port() && b.Seq <= p.seq {
		return verdict{duplicate: true}
	}
	if !known && t.admission != nil && !t.admission.take(now) {
		return verdict{limited: true}
	}

	freshReason := t.freshness(now, p, known, src.Port())
	fresh := freshReason != ""
	if !known {
		p = t.insert(now, key)
	}

	var v verdict
	switch {
	case fresh:
		v.reason = freshReason
	case b.ReplyRequested && now.Sub(p.reported) >= t.cooldown:
		v.reason = reasonRequested
	case p.listenPort != b.ListenPort:
		v.reason = reasonPort
	case now.Sub(p.reported) >= t.window:
		v.reason = reasonRefresh
	}
	v.report = v.reason != ""
	v.reply = (fresh || b.ReplyRequested) && (p.replied.IsZero() || now.Sub(p.replied) >= t.cooldown)
	v.broadcast = v.reply && b.ReplyRequested

	p.srcPort, p.listenPort, p.seq, p.heard = src.Port(), b.ListenPort, b.Seq, now
	p.relearn = false
	if v.report {
		p.reported = now
	}
	if v.reply {
		p.replied = now
	}
	return v
}

// freshness returns the cause that makes the path p look fresh to a
// beacon from srcPort, or "" if it does not look fresh.
func (t *peerTable) freshness(now time.Time, p *peerState, known bool, srcPort uint16) reportReason {
	switch {
	case !known:
		return reasonNew
	case p.srcPort != srcPort:
		return reasonRestarted
	case p.relearn:
		return reasonRelearn
	case t.silent(now, p):
		return reasonSilent
	}
	return ""
}

// silent reports whether p went unheard for longer than the window or the
// silence limit.
func (t *peerTable) silent(now time.Time, p *peerState) bool {
	gap := now.Sub(p.heard)
	return gap > t.window || (t.silence > 0 && gap > t.silence)
}

// relearn marks the paths whose address matches, so that the next beacon
// of each counts as fresh. The caller marks the paths over a link that
// came back: its node may have evicted their peers while the link was
// down, and the peers' beacons may not show that they were missed.
func (t *peerTable) relearn(match func(netip.Addr) bool) {
	for key, p := range t.peers {
		if match(key.addr) {
			p.relearn = true
		}
	}
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
