package quicnet

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// testCertificate returns a valid certificate of a fresh identity.
func testCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := newCertificate(id)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// dialCounted connects to n presenting cert and waits until n has
// registered the connection or closed it.
func (e *rawEndpoint) dialCounted(t testing.TB, n *testNode, cert tls.Certificate) *quic.Conn {
	t.Helper()
	handled := func() uint64 {
		s := n.Stats()
		return s.Accepts + s.RejectedConns
	}
	before := handled()
	qc, err := e.dial(t, n, cert)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	waitFor(t, "the node to accept or reject the connection", func() bool { return handled() > before })
	return qc
}

// wantClosed waits until qc is closed and checks the application error
// code the node closed it with.
func wantClosed(t *testing.T, qc *quic.Conn, code quic.ApplicationErrorCode) {
	t.Helper()
	waitFor(t, "the connection to close", func() bool { return qc.Context().Err() != nil })
	var appErr *quic.ApplicationError
	if err := context.Cause(qc.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != code {
		t.Errorf("connection closed with %v, want application error %d", err, code)
	}
}

func wantOpen(t *testing.T, qc *quic.Conn, description string) {
	t.Helper()
	if err := qc.Context().Err(); err != nil {
		t.Errorf("%s was closed: %v", description, context.Cause(qc.Context()))
	}
}

// openSilentStream opens a request stream and sends the first byte of a
// frame header, so that the node counts a stream in progress.
func openSilentStream(t *testing.T, n *testNode, qc *quic.Conn) {
	t.Helper()
	before := n.activeStreams()
	s, err := qc.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to accept the stream", func() bool { return n.activeStreams() > before })
}

// activeStreams returns the streams in progress on all of n's
// connections.
func (n *testNode) activeStreams() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	active := 0
	for pc := range n.conns {
		active += pc.active
	}
	return active
}

func TestMaxConnsPerPeerClosesOwnIdle(t *testing.T) {
	server := newNode(t, nil)
	raw := newRawEndpoint(t)
	cert := testCertificate(t)

	first := raw.dialCounted(t, server, cert)
	second := raw.dialCounted(t, server, cert)
	third := raw.dialCounted(t, server, cert)
	wantClosed(t, first, codeIdle)
	wantOpen(t, second, "second connection")
	wantOpen(t, third, "third connection")
	if got := server.Stats().EvictedConns; got != 1 {
		t.Errorf("server closed %d idle connections, want 1", got)
	}

	// However many more the peer opens, it keeps MaxConnsPerPeer.
	for range 20 {
		raw.dialCounted(t, server, cert)
	}
	waitFor(t, "the server to forget the closed connections", func() bool {
		return server.Stats().Conns == DefaultMaxConnsPerPeer
	})
	ping(t, newNode(t, nil), server.contact())
}

func TestMaxConnsPerPeerRejectsWhenBusy(t *testing.T) {
	server := newNode(t, nil)
	raw := newRawEndpoint(t)
	cert := testCertificate(t)

	first := raw.dialCounted(t, server, cert)
	openSilentStream(t, server, first)
	second := raw.dialCounted(t, server, cert)
	openSilentStream(t, server, second)
	third := raw.dialCounted(t, server, cert)
	wantClosed(t, third, codeOverloaded)
	wantOpen(t, first, "first connection, which has a stream in progress")
	wantOpen(t, second, "second connection, which has a stream in progress")
	if got := server.Stats().RejectedConns; got != 1 {
		t.Errorf("server rejected %d connections, want 1", got)
	}
}

func TestMaxConnsPerIPClosesOwnIdle(t *testing.T) {
	server := newNode(t, func(cfg *Config) { cfg.MaxConnsPerIP = 2 })

	var conns []*quic.Conn
	for range 3 {
		conns = append(conns, newRawEndpoint(t).dialCounted(t, server, testCertificate(t)))
	}
	wantClosed(t, conns[0], codeIdle)
	wantOpen(t, conns[1], "second connection")
	wantOpen(t, conns[2], "third connection")
	if got := server.Stats().EvictedConns; got != 1 {
		t.Errorf("server closed %d idle connections, want 1", got)
	}
}

func TestMaxConnsClosesIdle(t *testing.T) {
	server := newNode(t, func(cfg *Config) { cfg.MaxConns = 1 })
	first := newNode(t, nil)
	second := newNode(t, nil)

	ping(t, first, server.contact())
	ping(t, second, server.contact())
	if got := server.Stats().EvictedConns; got != 1 {
		t.Errorf("server closed %d idle connections, want 1", got)
	}
	waitFor(t, "first to see its connection closed", func() bool { return first.Stats().Conns == 0 })

	// first gets in again, in turn closing the idle connection of second.
	ping(t, first, server.contact())
	if got := server.Stats().RejectedConns; got != 0 {
		t.Errorf("server rejected %d connections, want 0", got)
	}
}

func TestMaxConnsRejectsWhenBusy(t *testing.T) {
	server := newNode(t, func(cfg *Config) { cfg.MaxConns = 1 })
	busy := newRawEndpoint(t).dialCounted(t, server, testCertificate(t))
	openSilentStream(t, server, busy)

	second := newNode(t, nil)
	_, err := second.Request(context.Background(), server.contact(), &wire.Ping{})
	var appErr *quic.ApplicationError
	if !errors.As(err, &appErr) || appErr.ErrorCode != codeOverloaded {
		t.Errorf("Request beyond MaxConns: error = %v, want application error %d", err, codeOverloaded)
	}
	if errors.Is(err, transport.ErrPeerMismatch) {
		t.Errorf("Request error = %v, want no ErrPeerMismatch", err)
	}
	if got := server.Stats().RejectedConns; got != 1 {
		t.Errorf("server rejected %d connections, want 1", got)
	}
	wantOpen(t, busy, "connection with a stream in progress")
}

func TestSourcePrefix(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	}
	for _, tt := range tests {
		if got := sourcePrefix(netip.MustParseAddr(tt.addr)); got.String() != tt.want {
			t.Errorf("sourcePrefix(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// TestLargeFramesBeyondBudget sends more large frames at once, each way,
// than one connection's budget holds. They must queue for the budget and
// all arrive, not stall on flow control. The request timeout is long so
// that a slow machine does not fail the test, only a stall does.
func TestLargeFramesBeyondBudget(t *testing.T) {
	const concurrent = 8
	shard := make([]byte, wire.MaxMessageSize/2)
	configure := func(cfg *Config) {
		cfg.RequestTimeout = time.Minute
		cfg.MaxBufferedPerConn = wire.MaxMessageSize // two frames
	}
	server := newNode(t, func(cfg *Config) {
		configure(cfg)
		cfg.Handler = transport.HandlerFunc(func(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
			return &wire.ShardData{Shard: shard}
		})
	})
	client := newNode(t, configure)

	var wg sync.WaitGroup
	errs := make(chan error, concurrent)
	for range concurrent {
		wg.Go(func() {
			resp, err := client.Request(context.Background(), server.contact(), &wire.PutShard{Shard: shard})
			if err == nil && len(resp.(*wire.ShardData).Shard) != len(shard) {
				err = errors.New("response shard has the wrong size")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("large request: %v", err)
		}
	}
	if got := client.Stats().Dials; got != 1 {
		t.Errorf("client dialed %d times, want 1: the test needs one connection", got)
	}
	waitFor(t, "both sides to release every reservation", func() bool {
		return server.Stats().Buffered == 0 && client.Stats().Buffered == 0
	})
}
