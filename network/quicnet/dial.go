package quicnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// errConnGone reports a connection that closed before a stream could be
// opened on it, so nothing was sent.
var errConnGone = errors.New("quicnet: connection closed")

// dialCall is a dial in progress. Callers that want the same peer while
// it runs wait for it instead of dialing again.
type dialCall struct {
	done chan struct{} // closed when conn and err are set
	conn *peerConn
	err  error
}

// Request sends req to the peer and waits for its response. Without a
// deadline in ctx it waits at most Config.RequestTimeout. A *wire.Error
// response is returned as the response, not as an error.
func (t *Transport) Request(ctx context.Context, to wire.Contact, req wire.Message) (wire.Message, error) {
	request := t.requestID.Add(1)
	body, err := wire.Encode(request, req)
	if err != nil {
		return nil, err
	}
	frame := appendFrame(body)
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()

	resp, err := t.exchange(ctx, to, request, req.Type(), frame)
	for retry := 0; retry < maxRetries && err != nil && retryable(err); retry++ {
		resp, err = t.exchange(ctx, to, request, req.Type(), frame)
	}
	return resp, err
}

// maxRetries bounds how often a request or message goes out again after
// a retryable failure. A retry usually takes another connection, because
// the one that failed is closing. After an outage, this node may hold
// stale connections to a peer on a LAN with IPv4 and IPv6: up to
// MaxConnsPerPeer (default 2) incoming ones and one dialed per address
// family. With the defaults, the fifth try reaches a new connection.
const maxRetries = 4

// Send sends msg to the peer without waiting for it to be handled. Without
// a deadline in ctx it waits at most Config.RequestTimeout to connect and
// hand the message to QUIC.
func (t *Transport) Send(ctx context.Context, to wire.Contact, msg wire.Message) error {
	body, err := wire.Encode(0, msg)
	if err != nil {
		return err
	}
	frame := appendFrame(body)
	ctx, cancel := t.withTimeout(ctx)
	defer cancel()

	err = t.sendOneWay(ctx, to, msg.Type(), frame)
	for retry := 0; retry < maxRetries && err != nil && retryable(err); retry++ {
		err = t.sendOneWay(ctx, to, msg.Type(), frame)
	}
	return err
}

func (t *Transport) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.cfg.RequestTimeout)
}

// retryable reports whether a request or message failed without the peer
// handling it, on a connection that was already going away, so it may be
// repeated on a new connection. A peer that closed the connection for a
// reason other than idleness, such as overload, is not asked again. A
// stateless reset shows that the peer has no state for the connection,
// for example because it closed it during an outage that kept its close
// from arriving, so it handled nothing sent on it.
func retryable(err error) bool {
	var appErr *quic.ApplicationError
	var streamErr *quic.StreamError
	var resetErr *quic.StatelessResetError
	switch {
	case errors.As(err, &resetErr):
		return true
	case errors.As(err, &appErr) && appErr.Remote:
		return appErr.ErrorCode == codeIdle
	case errors.As(err, &streamErr):
		return streamErr.Remote && streamErr.ErrorCode == streamRefused
	}
	return errors.Is(err, errConnGone)
}

// exchange sends one request frame on a new stream and reads the response.
func (t *Transport) exchange(ctx context.Context, to wire.Contact, request uint64, typ wire.Type, frame []byte) (wire.Message, error) {
	pc, err := t.connect(ctx, to)
	if err != nil {
		return nil, err
	}
	defer t.release(pc)

	s, err := pc.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, t.retireIfRetryable(pc, t.openError(ctx, to, typ, err))
	}
	stop := context.AfterFunc(ctx, func() { cancelStream(s, streamCancelled) })
	defer stop()

	start, received := time.Now(), pc.qc.ConnectionStats().PacketsReceived
	resp, err := t.roundTrip(ctx, pc, s, request, typ, frame)
	if err != nil {
		cancelStream(s, streamCancelled)
		t.closeIfSilent(ctx, err, pc, start, received)
		return nil, t.retireIfRetryable(pc, t.requestError(ctx, to, typ, err))
	}
	return resp, nil
}

// closeIfSilent closes pc, once its last stream ends, after a request on
// it failed with err for lack of time, if no packet came from the peer
// since the request started at start, when pc had received received
// packets. A peer that gets a
// request acknowledges it within its maximum ACK delay, however busy its
// handler is, so such silence means that the peer or the path is gone, or
// that QUIC holds the request back. The last happens after an outage,
// when the connection's retransmission timer has backed off exponentially
// (up to 60 s in quic-go v0.66) and its congestion window is full of lost
// packets. Such a connection sends nothing new until that timer fires,
// even once the path works again. The next request then dials a new
// connection, which starts with fresh timers.
func (t *Transport) closeIfSilent(ctx context.Context, err error, pc *peerConn, start time.Time, received uint64) {
	// The stream's deadline is the context's, and either may pass first.
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
	stats := pc.qc.ConnectionStats()
	if !timedOut || stats.PacketsReceived != received {
		return
	}
	if waited := time.Since(start); waited < silenceLimit(stats) {
		return // too short a wait for an acknowledgement to come back
	}

	// New requests go on another connection at once, while the streams
	// still open on this one may finish: a peer starved of CPU can be
	// silent for a while and still answer them. release closes the
	// connection when its last stream ends, the caller's among them.
	t.mu.Lock()
	closing := pc.closing || t.closed
	t.markClosing(pc)
	pc.silent = true
	t.mu.Unlock()
	if closing {
		return
	}
	t.stats.silentConns.Add(1)
	t.log.Info("closing connection that received nothing during a request; the next request dials a new one",
		"peer", pc.peer.ID.Short(), "remote", pc.peer.Addr, "waited", time.Since(start).Round(time.Millisecond))
}

// maxAckDelay is the longest a peer delays an acknowledgement: the
// default of the max_ack_delay transport parameter (RFC 9000, section
// 18.2), which quic-go v0.66 uses.
const maxAckDelay = 25 * time.Millisecond

// silenceLimit returns how long a request must wait without any packet
// from the peer before closeIfSilent counts the connection as silent. It
// is three probe timeouts, which RFC 9002, section 6.2.1 computes from the
// connection's round-trip estimates, and at least 100 ms.
func silenceLimit(stats quic.ConnectionStats) time.Duration {
	pto := stats.SmoothedRTT + max(4*stats.MeanDeviation, time.Millisecond) + maxAckDelay
	return max(3*pto, 100*time.Millisecond)
}

// roundTrip writes the request frame on s and reads the response.
func (t *Transport) roundTrip(ctx context.Context, pc *peerConn, s *quic.Stream, request uint64, typ wire.Type, frame []byte) (wire.Message, error) {
	deadline, _ := ctx.Deadline()
	s.SetDeadline(deadline)
	if _, err := s.Write(frame); err != nil {
		return nil, err
	}
	s.Close()
	t.stats.sent(typ, len(frame))

	respID, resp, size, reason, err := readMessage(ctx, s, pc.buffers)
	if err != nil {
		if reason.invalid() && ctx.Err() == nil {
			t.drop(pc, reason, err)
		}
		return nil, err
	}
	s.CancelRead(streamDone)
	if respID != request {
		err := fmt.Errorf("response to request %d carries request ID %d", request, respID)
		t.drop(pc, DropWrongRequest, err)
		return nil, err
	}
	t.stats.received(resp.Type(), size)
	return resp, nil
}

func cancelStream(s *quic.Stream, code quic.StreamErrorCode) {
	s.CancelRead(code)
	s.CancelWrite(code)
}

// sendOneWay sends one frame on a new unidirectional stream.
func (t *Transport) sendOneWay(ctx context.Context, to wire.Contact, typ wire.Type, frame []byte) error {
	pc, err := t.connect(ctx, to)
	if err != nil {
		return err
	}
	defer t.release(pc)

	s, err := pc.qc.OpenUniStreamSync(ctx)
	if err != nil {
		return t.retireIfRetryable(pc, t.openError(ctx, to, typ, err))
	}
	deadline, _ := ctx.Deadline()
	s.SetWriteDeadline(deadline)
	if _, err := s.Write(frame); err != nil {
		s.CancelWrite(streamCancelled)
		return t.retireIfRetryable(pc, t.requestError(ctx, to, typ, err))
	}
	s.Close()
	t.stats.sent(typ, len(frame))
	return nil
}

// retireIfRetryable stops new streams going to pc if err lets the request
// go out again, and returns err. Such a failure means that pc is closing,
// but the goroutine that removes a closed connection from the transport
// may not have run yet. Without this, every retry could take pc again.
func (t *Transport) retireIfRetryable(pc *peerConn, err error) error {
	if retryable(err) {
		t.mu.Lock()
		t.markClosing(pc)
		t.mu.Unlock()
	}
	return err
}

// openError wraps a failure to open a stream.
func (t *Transport) openError(ctx context.Context, to wire.Contact, typ wire.Type, err error) error {
	if t.ctx.Err() != nil || ctx.Err() != nil {
		return t.requestError(ctx, to, typ, err)
	}
	return fmt.Errorf("%w: %v to %s: %w", errConnGone, typ, to, err)
}

// requestError wraps a stream failure. It reports a transport closed
// meanwhile as ErrClosed, and a passed deadline or a cancellation as the
// context's error.
func (t *Transport) requestError(ctx context.Context, to wire.Contact, typ wire.Type, err error) error {
	if t.ctx.Err() != nil {
		return transport.ErrClosed
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		err = context.DeadlineExceeded
	}
	return fmt.Errorf("quicnet: %v to %s: %w", typ, to, err)
}

// connect returns the connection for new streams to the peer with one
// stream acquired on it, dialing the peer if there is no connection.
// Concurrent callers share one dial.
func (t *Transport) connect(ctx context.Context, to wire.Contact) (*peerConn, error) {
	pc, call, err := t.connection(to)
	if pc != nil || err != nil {
		return pc, err
	}

	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("quicnet: connect to %s: %w", to, ctx.Err())
	}
	if call.err != nil {
		return nil, call.err
	}
	if call.conn == nil || !t.acquire(call.conn) {
		return nil, fmt.Errorf("%w: connection to %s closed right after the handshake", transport.ErrUnreachable, to)
	}
	return call.conn, nil
}

// connection returns the open connection to the peer with one stream
// acquired on it, or else the dial to wait for, starting it if needed.
func (t *Transport) connection(to wire.Contact) (*peerConn, *dialCall, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, transport.ErrClosed
	}
	if pc := t.byPeer[to.ID]; pc != nil {
		if pc.qc.Context().Err() == nil {
			pc.active++
			return pc, nil, nil
		}
		// Closed, but serveConn has not removed it yet.
		t.markClosing(pc)
	}

	call := t.dials[to]
	if call == nil {
		call = &dialCall{done: make(chan struct{})}
		t.dials[to] = call
		t.wg.Go(func() { t.dial(to, call) })
	}
	return nil, call, nil
}

// dial connects to the peer and completes call.
func (t *Transport) dial(to wire.Contact, call *dialCall) {
	pc, err := t.dialConn(to)

	t.mu.Lock()
	delete(t.dials, to)
	t.mu.Unlock()
	call.conn, call.err = pc, err
	close(call.done)
}

func (t *Transport) dialConn(to wire.Contact) (*peerConn, error) {
	if !to.Addr.IsValid() || to.Addr.Port() == 0 {
		return nil, fmt.Errorf("%w: %s has no usable address", transport.ErrUnreachable, to)
	}

	// The dial is bounded by the transport's lifetime, not by the
	// context of the caller that started it, because other callers may
	// wait for it too. HandshakeIdleTimeout ends it after at most twice
	// handshakeTimeout.
	var check dialCheck
	conf := clientTLSConfig(t.cert, t.proto, to.ID, &check)
	qc, err := t.qt.Dial(t.ctx, net.UDPAddrFromAddrPort(to.Addr), conf, t.quicConf)
	if err != nil {
		return nil, t.dialError(to, err, &check)
	}

	t.stats.dials.Add(1)
	pc := t.addConn(qc, transport.Peer{ID: to.ID, Addr: udpAddrPort(qc.RemoteAddr())}, false)
	if pc == nil {
		return nil, transport.ErrClosed
	}
	return pc, nil
}

// dialError classifies a failed dial, counting and logging it.
func (t *Transport) dialError(to wire.Contact, err error, check *dialCheck) error {
	if t.ctx.Err() != nil {
		return transport.ErrClosed
	}

	observed, certErr := check.result()
	if !observed.IsZero() && observed != to.ID {
		t.stats.peerMismatches.Add(1)
		t.log.Warn("peer ID mismatch, handshake aborted", "expected", to.ID, "observed", observed, "addr", to.Addr)
		return fmt.Errorf("%w: %s proved node ID %s, want %s", transport.ErrPeerMismatch, to.Addr, observed, to.ID)
	}
	if certErr != nil {
		t.stats.handshakeFailures.Add(1)
		t.log.Debug("peer certificate rejected", "peer", to, "err", certErr)
		return fmt.Errorf("%w: dial %s: %w", transport.ErrUnreachable, to, certErr)
	}

	var transportErr *quic.TransportError
	if errors.As(err, &transportErr) && transportErr.ErrorCode.IsCryptoError() {
		t.stats.handshakeFailures.Add(1)
		t.log.Debug("TLS handshake failed", "peer", to, "err", err)
	}
	if otherNetwork(err) {
		return t.otherNetworkError("dial "+to.String(), err)
	}
	return fmt.Errorf("%w: dial %s: %v", transport.ErrUnreachable, to, err)
}

// noApplicationProtocol is the QUIC error code of the TLS alert
// no_application_protocol (120): a crypto error is 0x100 plus the alert
// (RFC 9001, section 4.8).
const noApplicationProtocol = quic.TransportErrorCode(0x100 + 120)

// otherNetwork reports whether a handshake failed because the peer
// offered no TLS application protocol in common. The network name is
// part of that protocol, so the peer belongs to another network.
func otherNetwork(err error) bool {
	var transportErr *quic.TransportError
	return errors.As(err, &transportErr) && transportErr.ErrorCode == noApplicationProtocol
}

// otherNetworkError says that the node reached by what belongs to
// another network, with the fix, instead of the bare TLS alert.
func (t *Transport) otherNetworkError(what string, err error) error {
	return fmt.Errorf("%w: %s: the node there belongs to another network than %q, so it rejected the handshake; give both nodes the same --network (%v)",
		transport.ErrUnreachable, what, t.cfg.Network, err)
}
