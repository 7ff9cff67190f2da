// Package quicnet implements transport.Transport over QUIC (quic-go).
//
// # Sockets
//
// A Transport owns one UDP socket and one quic.Transport on it, which both
// accepts and dials connections. Every packet a node sends therefore leaves
// from the address it listens on, so the source address a peer observes is
// the node's listen address (unless a NAT rewrites it). That is what
// transport.Peer.Addr promises, and it lets a node learn the listen address
// of every peer that contacts it.
//
// # Identity
//
// Connections use TLS 1.3 and both sides present a self-signed X.509
// certificate of their node's Ed25519 key, made at Listen. A peer's
// certificate must be the only one it presents, hold an Ed25519 key and
// carry a valid self-signature. The peer's node ID is the hash of that
// key, and the TLS handshake signature proves that the peer holds it. A
// dialer also checks that the ID is the one it expected and otherwise
// aborts the handshake before proving its own identity. The network name
// is part of the ALPN protocol name, so nodes of different networks, or
// of different wire versions, fail the handshake.
//
// # Framing
//
// Each request uses its own bidirectional stream and each one-way message
// its own unidirectional stream. A message travels as a frame: a 4-byte
// big-endian length and one wire.Encode envelope. A receiver rejects a
// length above wire.MaxMessageSize before reading the body, and reserves
// the length against byte budgets per connection, per IP address and per
// transport before it allocates the body. Every message it drops is
// counted by reason, and a peer that sends more than Config.MaxInvalid
// invalid messages loses its connection.
//
// # Connections
//
// A Transport keeps one connection per peer for new streams, the newest,
// and dials it once however many callers want it at the same time. A
// connection with no stream for Config.IdleTimeout is closed, and so is
// one on which a request timed out while no packet came from the peer.
// Incoming connections are limited per node ID, per IP address and in
// total, and a new connection beyond a limit displaces the least recently
// used idle one. Each stream
// has a deadline, so a slow or silent peer holds a goroutine for at most
// Config.RequestTimeout.
//
// # Metrics
//
// Stats returns a snapshot of the counters, which the daemon exports as
// metrics.
package quicnet

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// Transport is a transport.Transport over QUIC. It is safe for concurrent
// use.
type Transport struct {
	// Set by Listen and not changed after.
	cfg       Config
	log       *slog.Logger
	local     netip.AddrPort
	udp       *net.UDPConn
	qt        *quic.Transport
	listener  *quic.Listener
	cert      tls.Certificate
	proto     string
	quicConf  *quic.Config
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	stats     *counters
	requestID atomic.Uint64
	buffered  *budget // MaxBuffered, shared by all connections

	closeOnce sync.Once
	closeErr  error

	// wg counts the goroutines Close waits for. Add is called only under
	// mu while closed is false, so no Add races with Wait.
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// conns holds every open connection, incoming and outgoing.
	conns map[*peerConn]struct{}
	// byPeer holds the connection that new streams to a peer use: the
	// newest one. A peer has a second connection when both sides dialed
	// at once, or when it reconnected after an outage or a restart, and
	// the older one keeps serving its streams until it is idle.
	byPeer map[identity.NodeID]*peerConn
	// dials holds the dials in progress.
	dials map[wire.Contact]*dialCall
	// sources holds the state shared by the connections to each
	// sourcePrefix.
	sources map[netip.Prefix]*source
}

var _ transport.Transport = (*Transport)(nil)

// Listen opens the UDP socket and starts accepting connections.
func Listen(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	network, addr, err := parseListenAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	cert, err := newCertificate(cfg.Identity)
	if err != nil {
		return nil, err
	}
	resetKey, err := statelessResetKey(cfg.Identity)
	if err != nil {
		return nil, err
	}
	udp, err := listenUDP(network, addr, cfg.Fallback, cfg.Logger)
	if err != nil {
		return nil, err
	}

	t := &Transport{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.Identity.ID.Short()),
		local:    udp.LocalAddr().(*net.UDPAddr).AddrPort(),
		udp:      udp,
		qt:       &quic.Transport{Conn: udp, StatelessResetKey: resetKey},
		cert:     cert,
		proto:    alpn(cfg.Network),
		stats:    newCounters(),
		buffered: newBudget(cfg.MaxBuffered),
		conns:    make(map[*peerConn]struct{}),
		byPeer:   make(map[identity.NodeID]*peerConn),
		dials:    make(map[wire.Contact]*dialCall),
		sources:  make(map[netip.Prefix]*source),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	connInitial, connMax := connectionWindows(cfg.MaxStreams)
	t.quicConf = &quic.Config{
		HandshakeIdleTimeout:           handshakeTimeout,
		MaxIdleTimeout:                 deadPeerTimeout(cfg.IdleTimeout),
		KeepAlivePeriod:                cfg.IdleTimeout / 2,
		MaxIncomingStreams:             int64(cfg.MaxStreams),
		MaxIncomingUniStreams:          int64(cfg.MaxStreams),
		InitialStreamReceiveWindow:     streamWindowInitial,
		MaxStreamReceiveWindow:         streamWindow,
		InitialConnectionReceiveWindow: connInitial,
		MaxConnectionReceiveWindow:     connMax,
	}

	serverTLS := serverTLSConfig(cert, t.proto, t.rejectCertificate)
	t.listener, err = t.qt.Listen(serverTLS, t.quicConf)
	if err != nil {
		t.cancel()
		return nil, errors.Join(fmt.Errorf("quicnet: listen on %s: %w", t.local, err), t.qt.Close(), udp.Close())
	}
	t.spawn(t.acceptLoop)
	t.spawn(t.closeIdleLoop)
	t.log.Info("transport listening", "addr", t.local, "id", cfg.Identity.ID, "network", cfg.Network)
	return t, nil
}

// deadPeerTimeout returns how long a connection may receive no packet
// before QUIC closes it. The transport closes connections without streams
// after idle itself, so this timeout matters only while streams are open,
// when keep-alive packets every idle/2 keep a live peer's connection busy.
// Twice idle leaves room for a keep-alive or its acknowledgement to come
// late.
func deadPeerTimeout(idle time.Duration) time.Duration {
	return 2 * idle
}

// listenUDP opens the socket, on a free port of the same host if the port
// is in use and fallback is set.
func listenUDP(network string, addr *net.UDPAddr, fallback bool, log *slog.Logger) (*net.UDPConn, error) {
	conn, err := net.ListenUDP(network, addr)
	if err == nil {
		return conn, nil
	}
	// NOTE: syscall.EADDRINUSE matches the error Linux and the BSDs
	// return. Windows errors were not tested, so there the port fallback
	// may not notice a port in use.
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("quicnet: listen on %s: %w", addr, err)
	}
	if !fallback || addr.Port == 0 {
		// The hint names the flag of the yui command, the transport's
		// only user that sets a port.
		return nil, fmt.Errorf("quicnet: listen on %s: UDP port %d is in use; pass another with --listen or stop the other node: %w",
			addr, addr.Port, err)
	}

	free := *addr
	free.Port = 0
	conn, err = net.ListenUDP(network, &free)
	if err != nil {
		return nil, fmt.Errorf("quicnet: port of %s in use, and listen on a free port failed: %w", addr, err)
	}
	log.Warn("port in use, listening on another port", "requested", addr, "addr", conn.LocalAddr())
	return conn, nil
}

// statelessResetKey derives the key for QUIC stateless resets from the
// node key. A node restarted with the same key and address can then reset
// the connections peers still hold to its previous run, so they redial at
// once instead of waiting for the idle timeout.
func statelessResetKey(id *identity.Identity) (*quic.StatelessResetKey, error) {
	b, err := hkdf.Key(sha256.New, id.Private.Seed(), nil, "yui quic stateless reset key", 32)
	if err != nil {
		return nil, fmt.Errorf("quicnet: derive stateless reset key: %w", err)
	}
	var key quic.StatelessResetKey
	copy(key[:], b)
	return &key, nil
}

// LocalAddr returns the UDP address the transport listens on.
func (t *Transport) LocalAddr() netip.AddrPort { return t.local }

// ID returns the node ID the transport proves to its peers.
func (t *Transport) ID() identity.NodeID { return t.cfg.Identity.ID }

// Stats returns a snapshot of the transport's counters.
func (t *Transport) Stats() Stats {
	s := t.stats.snapshot()
	s.Buffered = t.buffered.used()
	t.mu.Lock()
	s.Conns = len(t.conns)
	t.mu.Unlock()
	return s
}

// Close stops listening, closes every connection and waits for the
// transport's goroutines. It is safe to call more than once and returns
// the first call's result.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() { t.closeErr = t.close() })
	return t.closeErr
}

func (t *Transport) close() error {
	t.mu.Lock()
	t.closed = true
	open := slices.Collect(maps.Keys(t.conns))
	t.mu.Unlock()

	// Cancelling the context ends dials and the accept loop. Closing
	// connections one by one sends each peer a CONNECTION_CLOSE, which
	// quic.Transport.Close would not.
	t.cancel()
	for _, pc := range open {
		pc.qc.CloseWithError(codeShutdown, "node shutting down")
	}
	err := errors.Join(t.listener.Close(), t.qt.Close(), t.udp.Close())

	t.wg.Wait()
	t.log.Info("transport closed", "addr", t.local)
	if err != nil {
		return fmt.Errorf("quicnet: close %s: %w", t.local, err)
	}
	return nil
}

// spawn runs f in a goroutine that Close waits for. Once Close has begun
// it returns false and does not run f.
func (t *Transport) spawn(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Go(f)
	return true
}

func (t *Transport) acceptLoop() {
	for {
		qc, err := t.listener.Accept(t.ctx)
		if err != nil {
			if t.ctx.Err() == nil {
				t.log.Error("accepting connections failed, no longer accepting", "addr", t.local, "err", err)
			}
			return
		}
		t.accept(qc)
	}
}

// connPeer returns the authenticated peer of a connection.
func connPeer(qc *quic.Conn) (transport.Peer, error) {
	certs := qc.ConnectionState().TLS.PeerCertificates
	raw := make([][]byte, len(certs))
	for i, c := range certs {
		raw[i] = c.Raw
	}
	id, err := peerID(raw)
	if err != nil {
		return transport.Peer{}, err
	}
	return transport.Peer{ID: id, Addr: udpAddrPort(qc.RemoteAddr())}, nil
}

// udpAddrPort converts a UDP address, turning IPv4-mapped IPv6 addresses,
// as a dual-stack socket reports IPv4 peers, into plain IPv4 ones.
func udpAddrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (t *Transport) rejectCertificate(err error) {
	t.stats.handshakeFailures.Add(1)
	t.log.Debug("peer certificate rejected", "err", err)
}

// closeIdleLoop closes idle connections until the transport closes.
func (t *Transport) closeIdleLoop() {
	ticker := time.NewTicker(max(t.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case now := <-ticker.C:
			t.closeIdle(now)
		}
	}
}

// closeIdle closes the connections that carried no stream for
// IdleTimeout.
func (t *Transport) closeIdle(now time.Time) {
	var idle []*peerConn
	t.mu.Lock()
	for pc := range t.conns {
		if pc.active == 0 && !pc.closing && now.Sub(pc.lastUsed) >= t.cfg.IdleTimeout {
			t.markClosing(pc)
			idle = append(idle, pc)
		}
	}
	t.mu.Unlock()

	for _, pc := range idle {
		t.log.Debug("closing idle connection", "peer", pc.peer.ID.Short(), "remote", pc.peer.Addr)
		pc.qc.CloseWithError(codeIdle, "idle")
	}
}
