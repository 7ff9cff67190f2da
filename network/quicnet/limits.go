package quicnet

import (
	"fmt"
	"net/netip"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/transport"
)

// source is the state shared by the connections to one sourcePrefix.
type source struct {
	buffered *budget // MaxBufferedPerIP
	conns    int     // open connections, incoming and outgoing
}

// sourcePrefix returns the block of addresses that counts as one source
// of connections: an IPv4 address, or an IPv6 /64, because a single IPv6
// host is commonly given a whole /64 and can use any address in it.
func sourcePrefix(addr netip.Addr) netip.Prefix {
	bits := 64
	if addr.Is4() {
		bits = 32
	}
	// An error is possible only for the zero Addr, which gets the zero
	// Prefix.
	p, _ := addr.Prefix(bits)
	return p
}

// addSource counts a new connection to p and returns the budget that the
// connections to p share. The caller holds t.mu.
func (t *Transport) addSource(p netip.Prefix) *budget {
	src := t.sources[p]
	if src == nil {
		src = &source{buffered: newBudget(t.cfg.MaxBufferedPerIP)}
		t.sources[p] = src
	}
	src.conns++
	return src.buffered
}

// removeSource uncounts a closed connection to p. The caller holds t.mu.
func (t *Transport) removeSource(p netip.Prefix) {
	src := t.sources[p]
	src.conns--
	if src.conns == 0 {
		delete(t.sources, p)
	}
}

// accept registers an incoming connection, after making room for it if
// it exceeds a connection limit, or closes it when the peer cannot be
// identified or no room can be made.
func (t *Transport) accept(qc *quic.Conn) {
	peer, err := connPeer(qc)
	if err != nil {
		// The handshake checked the certificate, so this is a bug.
		t.log.Error("accepted connection without a valid certificate", "remote", qc.RemoteAddr(), "err", err)
		qc.CloseWithError(codeInternal, "internal error")
		return
	}

	t.mu.Lock()
	limit, idle := t.admit(peer)
	if idle != nil {
		t.markClosing(idle)
	}
	t.mu.Unlock()

	switch {
	case limit == "":
	case idle != nil:
		t.stats.evictedConns.Add(1)
		t.log.Debug("closing least recently used idle connection to admit a new one", "limit", limit,
			"closed_peer", idle.peer.ID.Short(), "closed_remote", idle.peer.Addr,
			"peer", peer.ID.Short(), "remote", peer.Addr)
		idle.qc.CloseWithError(codeIdle, "idle, closed to admit a new connection")
	default:
		t.stats.rejectedConns.Add(1)
		t.log.Debug("connection rejected, no idle connection to close", "limit", limit,
			"peer", peer.ID.Short(), "remote", peer.Addr)
		qc.CloseWithError(codeOverloaded, "too many connections")
		return
	}
	if t.addConn(qc, peer, true) != nil {
		t.stats.accepts.Add(1)
	}
}

// admit checks a new incoming connection from peer against MaxConnsPerPeer,
// MaxConnsPerIP and MaxConns, in that order. It returns "" if all have
// room. Otherwise it returns the first limit reached and the least
// recently used idle connection that counts towards it, or nil if every
// such connection has streams in progress. Closing and closed connections
// do not count. The caller holds t.mu.
//
// The per-peer and per-IP limits come first, so that one peer or one
// address making connections closes only its own idle ones.
func (t *Transport) admit(peer transport.Peer) (limit string, idle *peerConn) {
	src := sourcePrefix(peer.Addr.Addr())
	var total, fromPeer, fromSource int
	var idleAny, idlePeer, idleSource *peerConn
	for pc := range t.conns {
		if pc.closing || pc.qc.Context().Err() != nil {
			continue // closed, but serveConn has not removed it yet
		}
		total++
		idleAny = lessRecentlyUsed(idleAny, pc)
		if !pc.incoming {
			continue
		}
		if pc.peer.ID == peer.ID {
			fromPeer++
			idlePeer = lessRecentlyUsed(idlePeer, pc)
		}
		if pc.source == src {
			fromSource++
			idleSource = lessRecentlyUsed(idleSource, pc)
		}
	}

	switch {
	case fromPeer >= t.cfg.MaxConnsPerPeer:
		return fmt.Sprintf("%d incoming connections per node ID", t.cfg.MaxConnsPerPeer), idlePeer
	case fromSource >= t.cfg.MaxConnsPerIP:
		return fmt.Sprintf("%d incoming connections per IP address", t.cfg.MaxConnsPerIP), idleSource
	case total >= t.cfg.MaxConns:
		return fmt.Sprintf("%d connections", t.cfg.MaxConns), idleAny
	}
	return "", nil
}

// lessRecentlyUsed returns whichever of best and pc is idle and was used
// less recently, preferring best on a tie. best may be nil, and pc is
// skipped if it has streams in progress. The caller holds t.mu.
func lessRecentlyUsed(best, pc *peerConn) *peerConn {
	if pc.active > 0 {
		return best
	}
	if best == nil || pc.lastUsed.Before(best.lastUsed) {
		return pc
	}
	return best
}
