package quicnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

func TestRequestBothWays(t *testing.T) {
	a := newNode(t, nil)
	b := newNode(t, nil)

	for _, pair := range []struct{ from, to *testNode }{{a, b}, {b, a}} {
		pong := ping(t, pair.from, pair.to.contact())
		if pong.Observed != pair.from.LocalAddr() {
			t.Errorf("handler saw sender address %s, want listen address %s", pong.Observed, pair.from.LocalAddr())
		}
		sender := <-pair.to.senders
		if sender.ID != pair.from.id.ID {
			t.Errorf("handler saw sender ID %s, want %s", sender.ID.Short(), pair.from.id.ID.Short())
		}
	}

	stats := a.Stats()
	if got := stats.Out[wire.TypePing].Messages; got != 1 {
		t.Errorf("a sent %d pings, want 1", got)
	}
	if got := stats.In[wire.TypePing].Messages; got != 1 {
		t.Errorf("a received %d pings, want 1", got)
	}
	if got := stats.In[wire.TypePong].Bytes; got == 0 {
		t.Error("a counted no bytes of pongs received")
	}
}

func TestSendBothWays(t *testing.T) {
	a := newNode(t, nil)
	b := newNode(t, nil)

	for _, pair := range []struct{ from, to *testNode }{{a, b}, {b, a}} {
		if err := pair.from.Send(context.Background(), pair.to.contact(), &wire.Leave{}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := <-pair.to.oneWay
		if got.from.ID != pair.from.id.ID {
			t.Errorf("handler saw sender ID %s, want %s", got.from.ID.Short(), pair.from.id.ID.Short())
		}
		if got.from.Addr != pair.from.LocalAddr() {
			t.Errorf("handler saw sender address %s, want %s", got.from.Addr, pair.from.LocalAddr())
		}
		if got.msg.Type() != wire.TypeLeave {
			t.Errorf("handler got %v, want %v", got.msg.Type(), wire.TypeLeave)
		}
	}
}

func TestConnectionReuse(t *testing.T) {
	a := newNode(t, nil)
	b := newNode(t, nil)

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { ping(t, a, b.contact()) })
	}
	wg.Wait()
	if err := a.Send(context.Background(), b.contact(), &wire.Leave{}); err != nil {
		t.Fatalf("Send: %v", err)
	}

	if got := a.Stats().Dials; got != 1 {
		t.Errorf("a dialed %d connections, want 1", got)
	}
	if got := a.Stats().Conns; got != 1 {
		t.Errorf("a has %d open connections, want 1", got)
	}
	if got := b.Stats().Conns; got != 1 {
		t.Errorf("b has %d open connections, want 1", got)
	}
}

func TestRestartKeepsID(t *testing.T) {
	dir := t.TempDir()
	first, created, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("LoadOrCreate did not create a key in an empty folder")
	}
	a := newNodeWithIdentity(t, first, nil)
	b := newNode(t, nil)
	contact := a.contact()
	ping(t, b, contact)

	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitFor(t, "b to see the connection closed", func() bool { return b.Stats().Conns == 0 })

	second, created, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Fatal("LoadOrCreate created a new key although one exists")
	}
	if second.ID != first.ID {
		t.Fatalf("restarted node has ID %s, want %s", second.ID.Short(), first.ID.Short())
	}
	restarted := newNodeWithIdentity(t, second, func(cfg *Config) { cfg.Addr = contact.Addr.String() })
	ping(t, b, contact)
	if sender := <-restarted.senders; sender.ID != b.id.ID {
		t.Errorf("restarted node saw sender %s, want %s", sender.ID.Short(), b.id.ID.Short())
	}
}

func TestPeerMismatch(t *testing.T) {
	var logs logBuffer
	a := newNode(t, func(cfg *Config) { cfg.Logger = testLoggerTo(&logs) })
	b := newNode(t, nil)
	other, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}

	wrong := wire.Contact{ID: other.ID, Addr: b.LocalAddr()}
	_, err = a.Request(context.Background(), wrong, &wire.Ping{})
	if !errors.Is(err, transport.ErrPeerMismatch) {
		t.Fatalf("Request error = %v, want ErrPeerMismatch", err)
	}
	if err := a.Send(context.Background(), wrong, &wire.Leave{}); !errors.Is(err, transport.ErrPeerMismatch) {
		t.Errorf("Send error = %v, want ErrPeerMismatch", err)
	}

	if got := a.Stats().PeerMismatches; got != 2 {
		t.Errorf("a counted %d peer mismatches, want 2", got)
	}
	if got := a.Stats().Conns; got != 0 {
		t.Errorf("a has %d open connections, want 0", got)
	}
	if got := b.Stats().Conns; got != 0 {
		t.Errorf("b has %d open connections, want 0", got)
	}
	if got := b.requests.Load(); got != 0 {
		t.Errorf("b handled %d requests, want 0", got)
	}
	for _, want := range []string{other.ID.String(), b.id.ID.String(), b.LocalAddr().String()} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

func TestNetworkNamesMismatch(t *testing.T) {
	a := newNode(t, func(cfg *Config) { cfg.Network = "alpha" })
	b := newNode(t, func(cfg *Config) { cfg.Network = "beta" })

	_, err := a.Request(context.Background(), b.contact(), &wire.Ping{})
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("Request error = %v, want ErrUnreachable", err)
	}
	if got := a.Stats().HandshakeFailures; got != 1 {
		t.Errorf("a counted %d handshake failures, want 1", got)
	}
	if got := b.requests.Load(); got != 0 {
		t.Errorf("b handled %d requests, want 0", got)
	}
	for _, want := range []string{`another network than "alpha"`, "--network"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Request error %q does not contain %q", err, want)
		}
	}

	_, err = a.Identify(context.Background(), b.LocalAddr())
	if !errors.Is(err, transport.ErrUnreachable) || !strings.Contains(err.Error(), "another network") {
		t.Errorf("Identify error = %v, want ErrUnreachable naming another network", err)
	}
}

func TestPortFallback(t *testing.T) {
	a := newNode(t, nil)
	taken := a.LocalAddr().String()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}

	_, err = Listen(Config{Identity: id, Addr: taken})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen on a taken port: error = %v, want EADDRINUSE", err)
	}
	for _, want := range []string{taken, "--listen"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Listen on a taken port: error %q does not name %s", err, want)
		}
	}

	b := newNodeWithIdentity(t, id, func(cfg *Config) {
		cfg.Addr = taken
		cfg.Fallback = true
	})
	if b.LocalAddr().Port() == a.LocalAddr().Port() || b.LocalAddr().Port() == 0 {
		t.Errorf("fallback listens on %s, want another port than %s", b.LocalAddr(), taken)
	}
	ping(t, a, b.contact())
}

func TestIdleConnectionClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	short := func(cfg *Config) { cfg.IdleTimeout = idle }
	a := newNode(t, short)
	b := newNode(t, short)

	ping(t, a, b.contact())
	if got := a.Stats().Conns; got != 1 {
		t.Fatalf("a has %d open connections after a request, want 1", got)
	}
	waitFor(t, "a to close the idle connection", func() bool { return a.Stats().Conns == 0 })
	waitFor(t, "b to close the idle connection", func() bool { return b.Stats().Conns == 0 })

	ping(t, a, b.contact())
	if got := a.Stats().Dials; got != 2 {
		t.Errorf("a dialed %d times, want 2: one before and one after the idle close", got)
	}
}

func TestIdleCloseSparesActiveStreams(t *testing.T) {
	const idle = 300 * time.Millisecond
	a := newNode(t, func(cfg *Config) { cfg.IdleTimeout = idle })
	slow := newNode(t, func(cfg *Config) {
		cfg.IdleTimeout = idle
		cfg.Handler = transport.HandlerFunc(func(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
			time.Sleep(3 * idle)
			return &wire.Pong{}
		})
	})

	ping(t, a, slow.contact())
	if got := a.Stats().Dials; got != 1 {
		t.Errorf("a dialed %d times, want 1", got)
	}
}

func TestRequestTimeoutCancelsHandler(t *testing.T) {
	a := newNode(t, nil)
	cancelled := make(chan struct{})
	b := newNode(t, func(cfg *Config) {
		cfg.Handler = transport.HandlerFunc(func(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
			if msg.Type() == wire.TypePing {
				return &wire.Pong{}
			}
			<-ctx.Done()
			close(cancelled)
			return &wire.Error{Code: wire.CodeInternal, Message: "cancelled"}
		})
	})
	ping(t, a, b.contact()) // connect first, so that the timeout covers only the request

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.Request(ctx, b.contact(), &wire.FindNode{Target: b.id.ID})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Request error = %v, want DeadlineExceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(waitTimeout):
		t.Error("handler context not cancelled after the requester gave up")
	}
}

func TestCloseIdempotent(t *testing.T) {
	a := newNode(t, nil)
	b := newNode(t, nil)
	ping(t, a, b.contact())

	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.Request(context.Background(), b.contact(), &wire.Ping{}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Request after Close: error = %v, want ErrClosed", err)
	}
	if err := a.Send(context.Background(), b.contact(), &wire.Leave{}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after Close: error = %v, want ErrClosed", err)
	}
	waitFor(t, "b to see the connection closed", func() bool { return b.Stats().Conns == 0 })
}

func TestDualStackAcceptsIPv4(t *testing.T) {
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no IPv6 socket: %v", err)
	}
	probe.Close()

	server := newNode(t, func(cfg *Config) { cfg.Addr = "[::]:0" })
	client := newNode(t, nil)
	third := newNode(t, nil)
	server4 := wire.Contact{ID: server.id.ID, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), server.LocalAddr().Port())}

	pong := ping(t, client, server4)
	if pong.Observed != client.LocalAddr() {
		t.Errorf("dual-stack server saw %s, want IPv4 address %s", pong.Observed, client.LocalAddr())
	}
	pong = ping(t, server, third.contact())
	if !pong.Observed.Addr().Unmap().Is4() || pong.Observed.Port() != server.LocalAddr().Port() {
		t.Errorf("IPv4 peer saw the dual-stack node at %s, want 127.0.0.1:%d", pong.Observed, server.LocalAddr().Port())
	}
}

// blockingNode returns a node whose handler blocks until its context ends
// and reports each start on started.
func blockingNode(t *testing.T, started chan<- struct{}) *testNode {
	return newNode(t, func(cfg *Config) {
		cfg.Handler = transport.HandlerFunc(func(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
			started <- struct{}{}
			<-ctx.Done()
			return &wire.Error{Code: wire.CodeInternal, Message: "cancelled"}
		})
	})
}

func TestCloseDuringRequest(t *testing.T) {
	started := make(chan struct{}, 1)
	server := blockingNode(t, started)
	client := newNode(t, nil)

	done := make(chan error, 1)
	go func() {
		_, err := client.Request(context.Background(), server.contact(), &wire.Ping{})
		done <- err
	}()
	<-started
	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Request cut by Close: error = %v, want ErrClosed", err)
	}
	waitFor(t, "the server to see the connection closed", func() bool { return server.Stats().Conns == 0 })
}

func TestServerCloseDuringRequest(t *testing.T) {
	started := make(chan struct{}, 1)
	server := blockingNode(t, started)
	client := newNode(t, nil)

	done := make(chan error, 1)
	go func() {
		_, err := client.Request(context.Background(), server.contact(), &wire.Ping{})
		done <- err
	}()
	<-started

	// Close waits for the handler, so it returns only if closing cancels
	// the handler's context.
	if err := server.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := <-done
	var appErr *quic.ApplicationError
	if !errors.As(err, &appErr) || appErr.ErrorCode != codeShutdown {
		t.Errorf("Request to a closing node: error = %v, want application error %d", err, codeShutdown)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	a := newNode(t, nil)
	b := newNode(t, nil)
	ping(t, a, b.contact())
	ping(t, b, a.contact())
	if err := a.Send(context.Background(), b.contact(), &wire.Leave{}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	<-b.oneWay

	a.Close()
	b.Close()
	waitFor(t, "the goroutines of both transports to end", func() bool {
		return runtime.NumGoroutine() <= before
	})
}
