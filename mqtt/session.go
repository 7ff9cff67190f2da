package mqtt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// maxClientID bounds a client id, in bytes. 3.1.1 requires servers to
// accept 23; longer ids are common.
const maxClientID = 256

// maxBatch and maxBatchBytes bound the messages handed to the Handler in
// one call, and so the memory a connection holds. QoS 0 messages need no
// acknowledgement, so only these bound their batches.
const (
	maxBatch      = 1024
	maxBatchBytes = 1 << 20
)

// session is one client connection. The read loop owns every field but
// the ones under mu; a writer goroutine owns the connection's writes.
type session struct {
	srv    *Server
	conn   net.Conn
	br     *bufio.Reader
	client Client
	connect
	// pending holds QoS 0 and 1 messages read and not yet stored: at
	// most maxBatch, of which inflight, at most Limits.MaxInflight, are
	// QoS 1.
	pending      []publish
	inflight     int
	pendingBytes int
	// warned is set once a rejected message of this session was logged.
	warned bool

	out       chan []byte // packets for the writer, in order
	done      chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex // guards subs
	subs map[string]bool
}

func newSession(srv *Server, conn net.Conn) *session {
	return &session{
		srv:  srv,
		conn: conn,
		br:   bufio.NewReaderSize(conn, 16<<10),
		out:  make(chan []byte, srv.limits.MaxQueued),
		done: make(chan struct{}),
		subs: map[string]bool{},
	}
}

// run serves the connection until it closes.
func (ss *session) run() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		ss.write()
	}()
	defer func() {
		ss.srv.unregister(ss)
		ss.shutdown()
		<-writerDone
	}()

	if err := ss.handshake(); err != nil {
		ss.logClose("mqtt: connection rejected", err)
		return
	}
	if err := ss.serve(); err != nil {
		ss.logClose("mqtt: connection closed", err)
	}
}

// logClose logs why the server ended a connection. A client that goes
// away is normal, and sensors often connect once per message, so only
// protocol errors are warnings.
func (ss *session) logClose(msg string, err error) {
	args := []any{"remote", ss.conn.RemoteAddr(), "client", ss.client.ID, "err", err}
	if errors.Is(err, ErrMalformed) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrTooLarge) {
		ss.srv.warn.log(msg, args...)
		return
	}
	ss.srv.log.Debug(msg, args...)
}

// handshake reads CONNECT and replies with CONNACK.
func (ss *session) handshake() error {
	ss.conn.SetReadDeadline(time.Now().Add(ss.srv.limits.ConnectTimeout))
	p, err := readPacket(ss.br, ss.srv.limits.MaxPacketSize)
	if err != nil {
		return err
	}
	if p.kind != typeConnect {
		return fmt.Errorf("%w: first packet has type %d, want CONNECT", ErrProtocol, p.kind)
	}
	c, err := decodeConnect(p.body)
	if errors.Is(err, errUnsupportedVersion) {
		ss.sendFinal(connBadVersion311)
		return err
	}
	if err != nil {
		return err
	}
	ss.connect = c
	return ss.accept()
}

// accept checks the client id, takes over an older session of the same
// id, and sends CONNACK.
func (ss *session) accept() error {
	props := &connackProps{
		receiveMax:    uint16(ss.srv.limits.MaxInflight),
		maxPacket:     uint32(ss.srv.limits.MaxPacketSize),
		sessionExpiry: ss.sessionExpiry != 0,
	}
	id := ss.clientID
	switch {
	case len(id) > maxClientID:
		ss.rejectConnect(connBadClientID311, connBadClientID5)
		return fmt.Errorf("%w: client id of %d bytes, limit %d", ErrProtocol, len(id), maxClientID)
	case id == "" && ss.version == version311 && !ss.cleanStart:
		ss.rejectConnect(connBadClientID311, connBadClientID5)
		return fmt.Errorf("%w: empty client id without clean session", ErrProtocol)
	case id == "":
		id = newClientID()
		props.assignedClientID = id
	}
	ss.client = Client{ID: id, Username: ss.username, Addr: ss.conn.RemoteAddr()}

	if old := ss.srv.register(ss); old != nil {
		old.sendFinal(reasonSessionTaken)
		old.shutdown()
	}
	ss.send(encodeConnack(ss.version, connAccepted, props))
	ss.srv.log.Debug("mqtt: client connected", "remote", ss.conn.RemoteAddr(), "client", id,
		"version", ss.version, "keep_alive_s", ss.keepAlive)
	return nil
}

func (ss *session) rejectConnect(code311, code5 byte) {
	code := code311
	if ss.version == version5 {
		code = code5
	}
	ss.sendFinal(code)
}

// serve reads packets until the client disconnects or breaks the
// protocol.
func (ss *session) serve() error {
	for {
		ss.setReadDeadline()
		p, err := readPacket(ss.br, ss.srv.limits.MaxPacketSize)
		if err != nil {
			return ss.readFailed(err)
		}
		stop, err := ss.handle(p)
		if err != nil {
			ss.disconnectFor(err)
			return err
		}
		if stop {
			return nil
		}
	}
}

// setReadDeadline applies the keep-alive: a client must send a packet
// within one and a half keep-alive periods.
func (ss *session) setReadDeadline() {
	if ss.keepAlive == 0 {
		ss.conn.SetReadDeadline(time.Time{})
		return
	}
	ss.conn.SetReadDeadline(time.Now().Add(time.Duration(ss.keepAlive) * 1500 * time.Millisecond))
}

func (ss *session) readFailed(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		ss.sendFinal(reasonKeepAlive)
		return fmt.Errorf("mqtt: keep-alive of %d s expired", ss.keepAlive)
	case errors.Is(err, io.EOF):
		// A client may publish and close at once, as mosquitto_pub
		// does at QoS 0.
		return ss.flush()
	}
	ss.disconnectFor(err)
	return err
}

// disconnectFor sends a 5.0 client the reason the server closes the
// connection.
func (ss *session) disconnectFor(err error) {
	switch {
	case errors.Is(err, ErrTooLarge):
		ss.sendFinal(connPacketTooLarge5)
	case errors.Is(err, ErrMalformed):
		ss.sendFinal(connMalformed5)
	case errors.Is(err, errQoS2):
		ss.sendFinal(reasonQoSNotSupported)
	case errors.Is(err, ErrProtocol):
		ss.sendFinal(connProtocolError5)
	default:
		ss.sendFinal(reasonUnspecified)
	}
}

var errQoS2 = errors.New("QoS 2")

// handle serves one packet. It returns true when the client disconnected.
func (ss *session) handle(p packet) (bool, error) {
	if p.kind != typePublish {
		// Acknowledge the messages read before, in order.
		if err := ss.flush(); err != nil {
			return false, err
		}
	}
	switch p.kind {
	case typePublish:
		return false, ss.handlePublish(p)
	case typePuback:
		// The server sends only QoS 0, so no PUBACK is expected; a
		// client that sends one anyway is ignored.
		_, err := decodePacketID(p.body, ss.version)
		return false, err
	case typeSubscribe:
		return false, ss.handleSubscribe(p)
	case typeUnsubscribe:
		return false, ss.handleUnsubscribe(p)
	case typePingreq:
		if len(p.body) != 0 {
			return false, fmt.Errorf("%w: PINGREQ with a body", ErrMalformed)
		}
		ss.send(pingresp)
		return false, nil
	case typeDisconnect:
		return true, nil
	case typeConnect:
		return false, fmt.Errorf("%w: second CONNECT on one connection", ErrProtocol)
	}
	return false, fmt.Errorf("%w: unexpected packet type %d from a client", ErrProtocol, p.kind)
}

func (ss *session) handlePublish(p packet) error {
	pub, err := decodePublish(p, ss.version)
	if err != nil && p.flags>>1&3 == 2 {
		return fmt.Errorf("%w: %w", errQoS2, err)
	}
	if err != nil {
		return err
	}
	ss.pending = append(ss.pending, pub)
	ss.pendingBytes += len(p.body)
	if pub.QoS == 1 {
		ss.inflight++
	}
	// Store what the client has sent so far as one batch, once nothing
	// more is waiting in the buffer or a limit is reached. Handlers
	// such as Yui's sensor sink pay a cost per call, so batches make
	// ingest faster.
	if ss.br.Buffered() == 0 || ss.inflight >= ss.srv.limits.MaxInflight || len(ss.pending) >= maxBatch || ss.pendingBytes >= maxBatchBytes {
		return ss.flush()
	}
	return nil
}

// flush stores the pending messages and acknowledges the QoS 1 ones.
func (ss *session) flush() error {
	if len(ss.pending) == 0 {
		return nil
	}
	msgs := make([]Message, len(ss.pending))
	for i, p := range ss.pending {
		msgs[i] = p.Message
	}
	rejected, err := ss.srv.handler.Store(ss.srv.ctx, ss.client, msgs)
	if err != nil {
		ss.pending, ss.inflight, ss.pendingBytes = ss.pending[:0], 0, 0
		return fmt.Errorf("mqtt: store %d messages: %w", len(msgs), err)
	}
	for i, p := range ss.pending {
		var reason byte
		if i < len(rejected) && rejected[i] != nil {
			switch {
			case errors.Is(rejected[i], ErrTopicRejected):
				reason = reasonTopicInvalid
			case errors.Is(rejected[i], ErrNotAuthorized):
				reason = reasonNotAuthorized
			default:
				reason = reasonPayloadInvalid
			}
			ss.logRejected(p, rejected[i])
		}
		if p.QoS == 1 {
			ss.send(encodeAck(typePuback, p.packetID, ss.version, reason))
		}
	}
	ss.pending, ss.inflight, ss.pendingBytes = ss.pending[:0], 0, 0
	return nil
}

// logRejected logs the first rejected message of a session as a warning
// and the rest at debug level.
func (ss *session) logRejected(p publish, err error) {
	args := []any{"client", ss.client.ID, "topic", p.Topic, "err", err}
	if !ss.warned {
		ss.warned = true
		ss.srv.warn.log("mqtt: message rejected", args...)
		return
	}
	ss.srv.log.Debug("mqtt: message rejected", args...)
}

func (ss *session) handleSubscribe(p packet) error {
	id, subs, err := decodeSubscribe(p.body, ss.version)
	if err != nil {
		return err
	}
	codes := make([]byte, len(subs))
	ss.mu.Lock()
	for i, sub := range subs {
		switch {
		case validateFilter(sub.filter) != nil:
			codes[i] = failureCode(ss.version, reasonFilterInvalid)
		case !ss.subs[sub.filter] && len(ss.subs) >= ss.srv.limits.MaxSubscriptions:
			codes[i] = failureCode(ss.version, reasonQuotaExceeded)
		default:
			ss.subs[sub.filter] = true
			codes[i] = 0 // granted at QoS 0
		}
	}
	ss.mu.Unlock()
	ss.send(encodeSuback(typeSuback, id, ss.version, codes))
	return nil
}

// failureCode is 3.1.1's single failure code 0x80, or a 5.0 reason.
func failureCode(version, reason byte) byte {
	if version == version5 {
		return reason
	}
	return 0x80
}

func (ss *session) handleUnsubscribe(p packet) error {
	id, filters, err := decodeUnsubscribe(p.body, ss.version)
	if err != nil {
		return err
	}
	codes := make([]byte, len(filters))
	ss.mu.Lock()
	for i, f := range filters {
		if !ss.subs[f] {
			codes[i] = reasonNoSubscription
		}
		delete(ss.subs, f)
	}
	ss.mu.Unlock()
	ss.send(encodeSuback(typeUnsuback, id, ss.version, codes))
	return nil
}

// subscribed reports whether one of the session's filters matches topic.
func (ss *session) subscribed(topic string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for f := range ss.subs {
		if matchTopic(f, topic) {
			return true
		}
	}
	return false
}

// deliver queues a PUBLISH without blocking, and reports false when the
// client's queue is full or the packet exceeds the client's maximum.
func (ss *session) deliver(topic string, payload []byte) bool {
	pkt := encodePublish(ss.version, topic, payload)
	if ss.maxPacket != 0 && len(pkt) > int(ss.maxPacket) {
		return false
	}
	select {
	case ss.out <- pkt:
		return true
	case <-ss.done:
		return false
	default:
		return false
	}
}

// send queues a packet for the writer, waiting while the queue is full.
func (ss *session) send(pkt []byte) {
	select {
	case ss.out <- pkt:
	case <-ss.done:
	}
}

// sendFinal queues the last packet before the server closes: a CONNACK
// code during the handshake, a 5.0 DISCONNECT afterwards. 3.1.1 has no
// DISCONNECT from the server, so nothing is sent then. The packet is
// dropped if the queue is full, since the connection closes anyway.
func (ss *session) sendFinal(code byte) {
	var pkt []byte
	switch {
	case ss.version == 0 && code == connBadVersion311:
		pkt = encodeConnack(version311, code, nil)
	case ss.client.ID == "" && ss.version != 0:
		pkt = encodeConnack(ss.version, code, nil)
	case ss.version == version5:
		pkt = encodeDisconnect(code)
	default:
		return
	}
	select {
	case ss.out <- pkt:
	default:
	}
}

// shutdown stops the writer once it has sent what is queued, and then
// closes the connection.
func (ss *session) shutdown() {
	ss.closeOnce.Do(func() { close(ss.done) })
}

// write sends queued packets until shutdown, then sends what is left and
// closes the connection, which also ends the read loop.
func (ss *session) write() {
	defer func() {
		// A failed write ends the session too, so that the read loop
		// does not wait on a queue that nobody drains.
		ss.shutdown()
		ss.conn.Close()
	}()
	for {
		select {
		case pkt := <-ss.out:
			if !ss.writePacket(pkt) {
				return
			}
		case <-ss.done:
			for {
				select {
				case pkt := <-ss.out:
					if !ss.writePacket(pkt) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

func (ss *session) writePacket(pkt []byte) bool {
	ss.conn.SetWriteDeadline(time.Now().Add(ss.srv.limits.WriteTimeout))
	if _, err := ss.conn.Write(pkt); err != nil {
		ss.srv.log.Debug("mqtt: write failed", "client", ss.client.ID, "err", err)
		return false
	}
	return true
}
