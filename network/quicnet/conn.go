package quicnet

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// Application error codes sent when closing a connection.
const (
	// codeShutdown: the node is shutting down.
	codeShutdown quic.ApplicationErrorCode = 0
	// codeIdle: the connection carried no stream for the idle timeout,
	// or had no stream in progress and was closed to admit a new one.
	// The closer handled no stream after deciding to close, so a request
	// that fails with this code may be repeated on a new connection.
	codeIdle quic.ApplicationErrorCode = 1
	// codeBadPeer: the peer sent too many invalid messages.
	codeBadPeer quic.ApplicationErrorCode = 2
	// codeOverloaded: a connection limit was reached and every connection
	// counting towards it had streams in progress.
	codeOverloaded quic.ApplicationErrorCode = 3
	// codeInternal: a bug on the closing side.
	codeInternal quic.ApplicationErrorCode = 4
	// codeSilent: a request on the connection timed out and no packet
	// came from the peer while it waited (see closeIfSilent).
	codeSilent quic.ApplicationErrorCode = 5
)

// Stream error codes sent when cancelling a stream.
const (
	// streamDone stops the peer from sending more after the one frame a
	// stream carries. Once the peer's end of stream was read, cancelling
	// sends nothing.
	streamDone quic.StreamErrorCode = 0
	// streamCancelled: the requester gave up or the response could not
	// be sent.
	streamCancelled quic.StreamErrorCode = 1
	// streamRejected: the frame or its message was invalid.
	streamRejected quic.StreamErrorCode = 2
	// streamRefused: the connection is closing and the stream was not
	// handled, so the request may be repeated on a new connection.
	streamRefused quic.StreamErrorCode = 3
)

// peerConn is one QUIC connection to an authenticated peer.
type peerConn struct {
	// Set by addConn and not changed after.
	qc       *quic.Conn
	peer     transport.Peer
	incoming bool         // the peer dialed the connection
	opened   time.Time    // when the handshake completed
	source   netip.Prefix // sourcePrefix of the peer's address
	buffers  budgets      // reserved for every frame body read on it

	invalid atomic.Int64 // invalid messages received

	// Guarded by Transport.mu.
	active   int       // streams in progress, in either direction
	lastUsed time.Time // when active last fell to zero
	closing  bool      // set once the connection takes no new streams
	silent   bool      // close once the last stream ends (see closeIfSilent)
}

// addConn registers a connection and starts serving the streams the peer
// opens. It returns nil, after closing qc, once the transport is closing.
func (t *Transport) addConn(qc *quic.Conn, peer transport.Peer, incoming bool) *peerConn {
	pc := &peerConn{
		qc:       qc,
		peer:     peer,
		incoming: incoming,
		source:   sourcePrefix(peer.Addr.Addr()),
		opened:   time.Now(),
	}
	pc.lastUsed = pc.opened

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		qc.CloseWithError(codeShutdown, "node shutting down")
		return nil
	}
	pc.buffers = budgets{newBudget(t.cfg.MaxBufferedPerConn), t.addSource(pc.source), t.buffered}
	t.conns[pc] = struct{}{}
	// A handshake that just completed shows that the path works, while an
	// older connection may have stopped delivering (see closeIfSilent).
	t.byPeer[peer.ID] = pc
	t.wg.Go(func() { t.serveConn(pc) })
	t.mu.Unlock()

	t.log.Debug("connection opened", "peer", peer.ID.Short(), "remote", peer.Addr)
	return pc
}

// serveConn serves the peer's streams until the connection closes.
func (t *Transport) serveConn(pc *peerConn) {
	t.wg.Go(func() { t.acceptOneWay(pc) })
	t.acceptRequests(pc)

	t.mu.Lock()
	delete(t.conns, pc)
	t.forget(pc)
	t.removeSource(pc.source)
	t.mu.Unlock()
	t.log.Debug("connection closed", "peer", pc.peer.ID.Short(), "remote", pc.peer.Addr,
		"reason", context.Cause(pc.qc.Context()))
}

// markClosing stops new streams on pc. The caller holds t.mu.
func (t *Transport) markClosing(pc *peerConn) {
	pc.closing = true
	t.forget(pc)
}

// forget removes pc as the connection for new streams to its peer,
// replacing it with the newest other open connection to the peer if there
// is one. The caller holds t.mu.
func (t *Transport) forget(pc *peerConn) {
	if t.byPeer[pc.peer.ID] != pc {
		return
	}
	delete(t.byPeer, pc.peer.ID)
	var newest *peerConn
	for other := range t.conns {
		if other == pc || other.peer.ID != pc.peer.ID || other.closing {
			continue
		}
		if newest == nil || other.opened.After(newest.opened) {
			newest = other
		}
	}
	if newest != nil {
		t.byPeer[pc.peer.ID] = newest
	}
}

// acquire counts a new stream on pc. It returns false if pc is closing.
func (t *Transport) acquire(pc *peerConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pc.closing || t.closed {
		return false
	}
	pc.active++
	return true
}

// release ends a stream counted by acquire.
func (t *Transport) release(pc *peerConn) {
	t.mu.Lock()
	pc.active--
	if pc.active == 0 {
		pc.lastUsed = time.Now()
	}
	closeSilent := pc.silent && pc.active == 0
	t.mu.Unlock()

	if closeSilent {
		// The last stream may have been a request this node served, whose
		// response closing at once would discard before it is sent. No
		// new stream opens on pc meanwhile.
		time.AfterFunc(silentCloseDelay, func() {
			pc.qc.CloseWithError(codeSilent, "no packet received during a request")
		})
	}
}

// silentCloseDelay is how long a silent connection stays open after its
// last stream ends, for the response of a request served on it to go out.
const silentCloseDelay = time.Second

func (t *Transport) acceptRequests(pc *peerConn) {
	for {
		s, err := pc.qc.AcceptStream(context.Background())
		if err != nil {
			return // the connection closed
		}
		if !t.acquire(pc) {
			cancelStream(s, streamRefused)
			continue
		}
		t.wg.Go(func() {
			defer t.release(pc)
			t.serveRequest(pc, s)
		})
	}
}

func (t *Transport) acceptOneWay(pc *peerConn) {
	for {
		s, err := pc.qc.AcceptUniStream(context.Background())
		if err != nil {
			return // the connection closed
		}
		if !t.acquire(pc) {
			s.CancelRead(streamRefused)
			continue
		}
		t.wg.Go(func() {
			defer t.release(pc)
			t.serveOneWay(pc, s)
		})
	}
}

// serveRequest reads one request, hands it to the handler and writes the
// response, all within RequestTimeout.
func (t *Transport) serveRequest(pc *peerConn, s *quic.Stream) {
	deadline := time.Now().Add(t.cfg.RequestTimeout)
	s.SetDeadline(deadline)

	readCtx, cancelRead := context.WithDeadline(pc.qc.Context(), deadline)
	request, msg, size, reason, err := readMessage(readCtx, s, pc.buffers)
	cancelRead()
	if err != nil {
		t.drop(pc, reason, err)
		cancelStream(s, streamRejected)
		return
	}
	s.CancelRead(streamDone)
	t.stats.received(msg.Type(), size)

	// The stream's context ends when the requester cancels the request.
	ctx, cancel := context.WithDeadline(s.Context(), deadline)
	resp := t.handle(ctx, pc.peer, msg, true)
	cancel()

	resp, frame := t.encodeResponse(pc, request, resp)
	if _, err := s.Write(frame); err != nil {
		t.log.Debug("response not sent", "peer", pc.peer.ID.Short(), "type", resp.Type(), "err", err)
		s.CancelWrite(streamCancelled)
		return
	}
	s.Close()
	t.stats.sent(resp.Type(), len(frame))
}

// serveOneWay reads one message and hands it to the handler.
func (t *Transport) serveOneWay(pc *peerConn, s *quic.ReceiveStream) {
	deadline := time.Now().Add(t.cfg.RequestTimeout)
	s.SetReadDeadline(deadline)

	readCtx, cancelRead := context.WithDeadline(pc.qc.Context(), deadline)
	_, msg, size, reason, err := readMessage(readCtx, s, pc.buffers)
	cancelRead()
	if err != nil {
		t.drop(pc, reason, err)
		s.CancelRead(streamRejected)
		return
	}
	s.CancelRead(streamDone)
	t.stats.received(msg.Type(), size)

	ctx, cancel := context.WithTimeout(pc.qc.Context(), t.cfg.RequestTimeout)
	t.handle(ctx, pc.peer, msg, false)
	cancel()
}

// handle calls the handler and makes sure a request gets a response.
func (t *Transport) handle(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	if t.cfg.Handler == nil {
		if isRequest {
			return &wire.Error{Code: wire.CodeUnsupported, Message: "node serves no requests"}
		}
		return nil
	}
	resp := t.cfg.Handler.HandleMessage(ctx, from, msg, isRequest)
	if resp == nil && isRequest {
		t.log.Error("handler returned no response", "peer", from.ID.Short(), "type", msg.Type())
		return &wire.Error{Code: wire.CodeInternal, Message: "no response"}
	}
	return resp
}

// encodeResponse returns the frame for a response, or for an internal
// error if the response cannot be encoded, with the message it holds.
func (t *Transport) encodeResponse(pc *peerConn, request uint64, resp wire.Message) (wire.Message, []byte) {
	body, err := wire.Encode(request, resp)
	if err != nil {
		t.log.Error("response not encodable, sending an error instead", "peer", pc.peer.ID.Short(), "type", resp.Type(), "err", err)
		resp = &wire.Error{Code: wire.CodeInternal, Message: "response could not be encoded"}
		// A short wire.Error always encodes.
		body, _ = wire.Encode(request, resp)
	}
	return resp, appendFrame(body)
}

// drop counts a discarded message and closes the connection of a peer
// that sent more than MaxInvalid invalid ones.
func (t *Transport) drop(pc *peerConn, reason DropReason, err error) {
	t.stats.drop(reason)
	t.log.Debug("message dropped", "peer", pc.peer.ID.Short(), "remote", pc.peer.Addr, "reason", reason, "err", err)
	if !reason.invalid() {
		return
	}
	if pc.invalid.Add(1) != int64(t.cfg.MaxInvalid)+1 {
		return
	}

	// NOTE: the peer may reconnect at once and send MaxInvalid more
	// invalid messages, because the transport keeps no list of bad peers.

	t.stats.badPeers.Add(1)
	t.log.Warn("closing connection of peer that sent too many invalid messages",
		"peer", pc.peer.ID, "remote", pc.peer.Addr, "limit", t.cfg.MaxInvalid)
	t.mu.Lock()
	t.markClosing(pc)
	t.mu.Unlock()
	pc.qc.CloseWithError(codeBadPeer, "too many invalid messages")
}
