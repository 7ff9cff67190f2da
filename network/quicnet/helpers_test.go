package quicnet

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// waitTimeout bounds the wait for a state change that the system under
// test makes asynchronously. It only turns a hang into a failure.
const waitTimeout = 10 * time.Second

// testNode is a Transport on 127.0.0.1 whose handler responds to every
// request with a Pong carrying the sender's address, and records the
// senders of requests and the one-way messages it receives.
type testNode struct {
	*Transport
	id       *identity.Identity
	oneWay   chan received
	requests atomic.Int64
	senders  chan transport.Peer // the sender of every request, if there is room
}

type received struct {
	from transport.Peer
	msg  wire.Message
}

func (n *testNode) contact() wire.Contact {
	return wire.Contact{ID: n.id.ID, Addr: n.LocalAddr()}
}

func (n *testNode) HandleMessage(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	if !isRequest {
		select {
		case n.oneWay <- received{from, msg}:
		default:
		}
		return nil
	}
	n.requests.Add(1)
	select {
	case n.senders <- from:
	default:
	}
	return &wire.Pong{Observed: from.Addr}
}

// newNode starts a node listening on a free loopback port. configure may
// change the config before Listen.
func newNode(t testing.TB, configure func(*Config)) *testNode {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return newNodeWithIdentity(t, id, configure)
}

func newNodeWithIdentity(t testing.TB, id *identity.Identity, configure func(*Config)) *testNode {
	t.Helper()
	n := &testNode{id: id, oneWay: make(chan received, 64), senders: make(chan transport.Peer, 64)}
	cfg := Config{
		Identity: id,
		Addr:     "127.0.0.1:0",
		Handler:  n,
		Logger:   testLogger(t),
	}
	if configure != nil {
		configure(&cfg)
	}
	tr, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	n.Transport = tr
	t.Cleanup(func() { tr.Close() })
	return n
}

func testLogger(t testing.TB) *slog.Logger {
	return testLoggerTo(t.Output())
}

func testLoggerTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logBuffer collects log output for tests that check what was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ping(t testing.TB, from *testNode, to wire.Contact) *wire.Pong {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := from.Request(ctx, to, &wire.Ping{})
	if err != nil {
		t.Fatalf("Request to %s: %v", to, err)
	}
	pong, ok := resp.(*wire.Pong)
	if !ok {
		t.Fatalf("response from %s is %#v, want *wire.Pong", to, resp)
	}
	return pong
}

// rawEndpoint is a bare quic.Transport on a loopback socket, for tests
// that speak to a Transport with hand-made certificates or frames.
type rawEndpoint struct {
	qt *quic.Transport
}

func newRawEndpoint(t testing.TB) *rawEndpoint {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &rawEndpoint{qt: &quic.Transport{Conn: udp}}
	t.Cleanup(func() {
		e.qt.Close()
		udp.Close()
	})
	return e
}

// rawTLSConfig returns a TLS config that presents cert and accepts any
// peer certificate.
func rawTLSConfig(cert tls.Certificate, proto string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		NextProtos:         []string{proto},
		InsecureSkipVerify: true,
		ClientAuth:         tls.RequireAnyClientCert,
	}
}

// dial connects to a Transport presenting cert.
func (e *rawEndpoint) dial(t testing.TB, to *testNode, cert tls.Certificate) (*quic.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	addr := net.UDPAddrFromAddrPort(to.LocalAddr())
	return e.qt.Dial(ctx, addr, rawTLSConfig(cert, alpn(DefaultNetwork)), &quic.Config{})
}

// dialValid connects to a Transport with a valid certificate of a fresh
// identity.
func (e *rawEndpoint) dialValid(t testing.TB, to *testNode) *quic.Conn {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := newCertificate(id)
	if err != nil {
		t.Fatal(err)
	}
	qc, err := e.dial(t, to, cert)
	if err != nil {
		t.Fatalf("dial with a valid certificate: %v", err)
	}
	return qc
}

// sendRaw writes b on a new request stream, closes the stream's send side
// and returns the error that reading the response ends with.
func sendRaw(t testing.TB, qc *quic.Conn, b []byte) error {
	t.Helper()
	s, err := qc.OpenStream()
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	s.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := s.Write(b); err != nil {
		return err
	}
	s.Close()
	_, err = io.ReadAll(s)
	return err
}
