package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Handler stores the messages that clients publish.
type Handler interface {
	// Store stores messages that one client published, in the order it
	// sent them. The server sends PUBACK for the QoS 1 ones only after
	// Store returns, so Store must return only once they are stored.
	//
	// rejected is nil or holds one entry per message: nil for a message
	// stored, or why a message can never be stored, such as an invalid
	// payload. Such a message is acknowledged all the same, because
	// sending it again would not help, and a 5.0 client learns the reason
	// code. A non-nil err means that none of the messages was stored: the
	// server then closes the connection without acknowledging them, so
	// the client sends them again.
	Store(ctx context.Context, c Client, msgs []Message) (rejected []error, err error)
}

// ErrTopicRejected marks a rejection from a Handler as caused by the
// topic name, so a 5.0 client gets reason code 0x90 (Topic Name invalid)
// instead of 0x99 (Payload format invalid).
var ErrTopicRejected = errors.New("mqtt: topic name not accepted")

// ErrNotAuthorized marks a rejection from a Handler as caused by the
// client's user lacking the right to publish there, so a 5.0 client gets
// reason code 0x87 (Not authorized). Resending such a message cannot
// succeed, so it is acknowledged as rejected rather than left to resend.
var ErrNotAuthorized = errors.New("mqtt: not authorized")

// Client identifies the client that published messages.
type Client struct {
	ID string
	// Username is the user name the client sent in CONNECT, or "". The
	// server does not check it.
	Username string
	Addr     net.Addr
}

// Limits bound what one client may make the server hold. The zero value
// of each field selects its default.
type Limits struct {
	// MaxPacketSize bounds one packet from a client, in bytes, fixed
	// header included. Default 128 KiB.
	MaxPacketSize int
	// MaxInflight bounds the QoS 1 messages of one connection that the
	// server has read and not yet acknowledged. 5.0 clients receive it
	// as Receive Maximum in CONNACK. Default 64.
	MaxInflight int
	// MaxConnections bounds the open connections. Default 1024.
	MaxConnections int
	// MaxSubscriptions bounds the topic filters of one session. Default
	// 64.
	MaxSubscriptions int
	// MaxQueued bounds the packets waiting to be sent to one client.
	// Messages from Publish to a client whose queue is full are dropped,
	// as QoS 0 allows. Default 256.
	MaxQueued int
	// ConnectTimeout bounds the time from accepting a connection to its
	// CONNECT. Default 10 s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to a client. Default 10 s.
	WriteTimeout time.Duration
}

func (l *Limits) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxPacketSize, 128<<10)
	def(&l.MaxInflight, 64)
	def(&l.MaxConnections, 1024)
	def(&l.MaxSubscriptions, 64)
	def(&l.MaxQueued, 256)
	if l.ConnectTimeout <= 0 {
		l.ConnectTimeout = 10 * time.Second
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 10 * time.Second
	}
	// 5.0's Receive Maximum is a two-byte integer.
	l.MaxInflight = min(l.MaxInflight, 65535)
}

// Config configures a Server.
type Config struct {
	Handler Handler
	Limits  Limits
	// Logger receives starts, stops and protocol errors; default
	// slog.Default().
	Logger *slog.Logger
}

// Server accepts MQTT connections and hands what clients publish to its
// Handler. Publish sends messages to subscribed clients.
type Server struct {
	handler Handler
	limits  Limits
	log     *slog.Logger
	warn    *rateLimitedLog

	ctx    context.Context // cancelled by Close, for Handler calls
	cancel context.CancelFunc
	wg     sync.WaitGroup // Serve loops and sessions

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	sessions  map[string]*session // by client id, once connected
	closed    bool
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("mqtt: server closed")

// NewServer returns a server; Serve starts it on a listener.
func NewServer(cfg Config) *Server {
	cfg.Limits.setDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		handler:   cfg.Handler,
		limits:    cfg.Limits,
		log:       cfg.Logger,
		warn:      &rateLimitedLog{logger: cfg.Logger, every: 10 * time.Second},
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
		sessions:  map[string]*session{},
	}
}

// Serve accepts connections on ln until Close, and then returns
// ErrServerClosed. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer ln.Close()

	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.log.Error("mqtt: accept failed, listener stopped", "addr", ln.Addr(), "err", err)
			return err
		}
		if !s.track(conn) {
			conn.Close()
			continue
		}
		go s.serveConn(conn)
	}
}

// track registers a new connection, or reports false when the server is
// closed or full.
func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.limits.MaxConnections {
		s.warn.log("mqtt: connection rejected, too many open", "remote", conn.RemoteAddr(), "limit", s.limits.MaxConnections)
		return false
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) serveConn(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	newSession(s, conn).run()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// register makes ss the session of its client id, and returns the
// session it takes over from, if any.
func (s *Server) register(ss *session) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.sessions[ss.client.ID]
	s.sessions[ss.client.ID] = ss
	return old
}

func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.client.ID] == ss {
		delete(s.sessions, ss.client.ID)
	}
}

// Publish sends a message at QoS 0 to every client subscribed to a
// matching filter and returns how many it was queued for. A client whose
// send queue is full misses it. Publish does not block on slow clients.
func (s *Server) Publish(topic string, payload []byte) int {
	if validateTopicName(topic) != nil {
		return 0
	}
	s.mu.Lock()
	var targets []*session
	for _, ss := range s.sessions {
		if ss.subscribed(topic) {
			targets = append(targets, ss)
		}
	}
	s.mu.Unlock()

	queued := 0
	for _, ss := range targets {
		if ss.deliver(topic, payload) {
			queued++
		}
	}
	return queued
}

// Close stops every listener and connection and waits for them. Handler
// calls in progress see their context cancelled. Close is safe to call
// more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	connected := map[net.Conn]bool{}
	for _, ss := range s.sessions {
		// The writer sends the DISCONNECT, then closes the connection.
		ss.sendFinal(reasonShuttingDown)
		ss.shutdown()
		connected[ss.conn] = true
	}
	for conn := range s.conns {
		if !connected[conn] {
			conn.Close()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// newClientID returns an id for a client that sent none.
func newClientID() string {
	var b [8]byte
	rand.Read(b[:])
	return "yui-" + hex.EncodeToString(b[:])
}

// rateLimitedLog logs at most one warning per interval and counts the
// ones it drops, so a misbehaving client cannot flood the log.
type rateLimitedLog struct {
	logger *slog.Logger
	every  time.Duration

	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (r *rateLimitedLog) log(msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < r.every {
		r.dropped++
		r.mu.Unlock()
		return
	}
	dropped := r.dropped
	r.last, r.dropped = now, 0
	r.mu.Unlock()
	if dropped > 0 {
		args = append(args, "similar_warnings_dropped", dropped)
	}
	r.logger.Warn(msg, args...)
}
