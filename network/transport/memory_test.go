package transport

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// memoryNode is a transport on a MemoryNetwork whose handler responds to
// every request with a Pong carrying the sender's address and records
// one-way messages.
type memoryNode struct {
	Transport
	id     *identity.Identity
	oneWay chan received
}

type received struct {
	from Peer
	msg  wire.Message
}

func (n *memoryNode) contact() wire.Contact {
	return wire.Contact{ID: n.id.ID, Addr: n.LocalAddr()}
}

func newMemoryNode(t *testing.T, network *MemoryNetwork, addr string) *memoryNode {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	n := &memoryNode{id: id, oneWay: make(chan received, 16)}
	h := HandlerFunc(func(ctx context.Context, from Peer, msg wire.Message, isRequest bool) wire.Message {
		if !isRequest {
			n.oneWay <- received{from, msg}
			return nil
		}
		return &wire.Pong{Observed: from.Addr}
	})
	n.Transport, err = network.Listen(id, netip.MustParseAddrPort(addr), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestMemoryRequestBothWays(t *testing.T) {
	network := NewMemoryNetwork()
	a := newMemoryNode(t, network, "192.0.2.1:4717")
	b := newMemoryNode(t, network, "192.0.2.2:4717")

	for _, pair := range []struct{ from, to *memoryNode }{{a, b}, {b, a}} {
		resp, err := pair.from.Request(context.Background(), pair.to.contact(), &wire.Ping{})
		if err != nil {
			t.Fatalf("Request to %s: %v", pair.to.LocalAddr(), err)
		}
		pong, ok := resp.(*wire.Pong)
		if !ok {
			t.Fatalf("response is %T, want *wire.Pong", resp)
		}
		if pong.Observed != pair.from.LocalAddr() {
			t.Errorf("handler saw sender address %s, want %s", pong.Observed, pair.from.LocalAddr())
		}
	}
}

func TestMemorySendOneWay(t *testing.T) {
	network := NewMemoryNetwork()
	a := newMemoryNode(t, network, "192.0.2.1:4717")
	b := newMemoryNode(t, network, "192.0.2.2:4717")

	if err := a.Send(context.Background(), b.contact(), &wire.Leave{}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := <-b.oneWay
	if got.from.ID != a.id.ID {
		t.Errorf("sender ID = %s, want %s", got.from.ID.Short(), a.id.ID.Short())
	}
	if got.from.Addr != a.LocalAddr() {
		t.Errorf("sender address = %s, want %s", got.from.Addr, a.LocalAddr())
	}
	if got.msg.Type() != wire.TypeLeave {
		t.Errorf("message type = %v, want %v", got.msg.Type(), wire.TypeLeave)
	}
}

func TestMemoryPeerMismatch(t *testing.T) {
	network := NewMemoryNetwork()
	a := newMemoryNode(t, network, "192.0.2.1:4717")
	b := newMemoryNode(t, network, "192.0.2.2:4717")

	wrong := b.contact()
	wrong.ID = a.id.ID
	_, err := a.Request(context.Background(), wrong, &wire.Ping{})
	if !errors.Is(err, ErrPeerMismatch) {
		t.Errorf("Request error = %v, want ErrPeerMismatch", err)
	}
	if err := a.Send(context.Background(), wrong, &wire.Ping{}); !errors.Is(err, ErrPeerMismatch) {
		t.Errorf("Send error = %v, want ErrPeerMismatch", err)
	}
}

func TestMemoryUnreachable(t *testing.T) {
	network := NewMemoryNetwork()
	a := newMemoryNode(t, network, "192.0.2.1:4717")
	b := newMemoryNode(t, network, "192.0.2.2:4717")
	closed := newMemoryNode(t, network, "192.0.2.3:4717")
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	unknown := wire.Contact{ID: b.id.ID, Addr: netip.MustParseAddrPort("192.0.2.99:4717")}

	for name, to := range map[string]wire.Contact{"unknown": unknown, "closed": closed.contact()} {
		if _, err := a.Request(context.Background(), to, &wire.Ping{}); !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s: Request error = %v, want ErrUnreachable", name, err)
		}
		if err := a.Send(context.Background(), to, &wire.Ping{}); !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s: Send error = %v, want ErrUnreachable", name, err)
		}
	}
}

func TestMemoryIsolate(t *testing.T) {
	network := NewMemoryNetwork()
	a := newMemoryNode(t, network, "192.0.2.1:4717")
	b := newMemoryNode(t, network, "192.0.2.2:4717")

	network.Isolate(b.LocalAddr())
	if _, err := a.Request(context.Background(), b.contact(), &wire.Ping{}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("request to isolated node: error = %v, want ErrUnreachable", err)
	}
	if _, err := b.Request(context.Background(), a.contact(), &wire.Ping{}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("request from isolated node: error = %v, want ErrUnreachable", err)
	}

	network.Rejoin(b.LocalAddr())
	if _, err := a.Request(context.Background(), b.contact(), &wire.Ping{}); err != nil {
		t.Errorf("request after Rejoin: %v", err)
	}
}

func TestMemoryIsolateLosesMessagesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemoryNetwork()
		a := newMemoryNode(t, network, "192.0.2.1:4717")
		b := newMemoryNode(t, network, "192.0.2.2:4717")
		network.SetDelay(a.LocalAddr(), b.LocalAddr(), time.Second)

		done := make(chan error, 1)
		go func() {
			_, err := a.Request(context.Background(), b.contact(), &wire.Ping{})
			done <- err
		}()
		synctest.Wait() // the request is on its way
		network.Isolate(b.LocalAddr())
		if err := <-done; !errors.Is(err, ErrUnreachable) {
			t.Errorf("request cut off in flight: error = %v, want ErrUnreachable", err)
		}
	})
}

func TestMemoryDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		network := NewMemoryNetwork()
		a := newMemoryNode(t, network, "192.0.2.1:4717")
		b := newMemoryNode(t, network, "192.0.2.2:4717")
		const delay = 50 * time.Millisecond
		network.SetDelay(b.LocalAddr(), a.LocalAddr(), delay)

		start := time.Now()
		if _, err := a.Request(context.Background(), b.contact(), &wire.Ping{}); err != nil {
			t.Fatalf("Request: %v", err)
		}
		if got := time.Since(start); got != 2*delay {
			t.Errorf("round trip took %v, want %v", got, 2*delay)
		}

		ctx, cancel := context.WithTimeout(context.Background(), delay)
		defer cancel()
		if _, err := a.Request(ctx, b.contact(), &wire.Ping{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("request shorter than the round trip: error = %v, want DeadlineExceeded", err)
		}

		network.SetDelay(a.LocalAddr(), b.LocalAddr(), 0)
		start = time.Now()
		if _, err := a.Request(context.Background(), b.contact(), &wire.Ping{}); err != nil {
			t.Fatalf("Request: %v", err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("round trip after removing the delay took %v, want 0", got)
		}
	})
}

func TestMemoryWireLimits(t *testing.T) {
	network := NewMemoryNetwork()
	a := newMemoryNode(t, network, "192.0.2.1:4717")
	b := newMemoryNode(t, network, "192.0.2.2:4717")
	contact := wire.Contact{ID: a.id.ID, Addr: a.LocalAddr()}

	huge := &wire.Nodes{Contacts: make([]wire.Contact, 50000)}
	for i := range huge.Contacts {
		huge.Contacts[i] = contact
	}
	if _, err := a.Request(context.Background(), b.contact(), huge); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("oversized request: error = %v, want wire.ErrTooLarge", err)
	}

	tooMany := &wire.Nodes{Contacts: huge.Contacts[:wire.MaxContacts+1]}
	if _, err := a.Request(context.Background(), b.contact(), tooMany); !errors.Is(err, wire.ErrInvalid) {
		t.Errorf("invalid request: error = %v, want wire.ErrInvalid", err)
	}
	if got := network.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d, want 1", got)
	}
}

func TestMemoryCloseCancelsHandler(t *testing.T) {
	network := NewMemoryNetwork()
	a := newMemoryNode(t, network, "192.0.2.1:4717")
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	blocking := HandlerFunc(func(ctx context.Context, from Peer, msg wire.Message, isRequest bool) wire.Message {
		close(started)
		<-ctx.Done()
		return &wire.Error{Code: wire.CodeInternal, Message: "closing"}
	})
	b, err := network.Listen(id, netip.MustParseAddrPort("192.0.2.2:4717"), blocking)
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), wire.Contact{ID: id.ID, Addr: b.LocalAddr()}, &wire.Ping{})
		done <- err
	}()
	<-started
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrUnreachable) {
		t.Errorf("request to a node that closed: error = %v, want ErrUnreachable", err)
	}
	if _, err := b.Request(context.Background(), a.contact(), &wire.Ping{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Request after Close: error = %v, want ErrClosed", err)
	}
}

func TestMemoryListen(t *testing.T) {
	network := NewMemoryNetwork()
	first := newMemoryNode(t, network, "192.0.2.1:0")
	second := newMemoryNode(t, network, "192.0.2.1:0")
	if first.LocalAddr().Port() == 0 || first.LocalAddr() == second.LocalAddr() {
		t.Errorf("port 0 gave %s and %s, want two distinct ports", first.LocalAddr(), second.LocalAddr())
	}

	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.Listen(id, first.LocalAddr(), nil); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("Listen on a taken address: error = %v, want ErrAddrInUse", err)
	}
	if _, err := network.Listen(id, netip.MustParseAddrPort("0.0.0.0:1"), nil); err == nil {
		t.Error("Listen on an unspecified address succeeded")
	}

	// A closed node's address is free again, and a node without a handler
	// responds to requests with an error.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := network.Listen(id, first.LocalAddr(), nil)
	if err != nil {
		t.Fatalf("Listen on a freed address: %v", err)
	}
	defer again.Close()
	resp, err := second.Request(context.Background(), wire.Contact{ID: id.ID, Addr: again.LocalAddr()}, &wire.Ping{})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if e, ok := resp.(*wire.Error); !ok || e.Code != wire.CodeUnsupported {
		t.Errorf("response of a node without handler = %#v, want a wire.Error with CodeUnsupported", resp)
	}
}

func TestMemoryConcurrentRequests(t *testing.T) {
	network := NewMemoryNetwork()
	nodes := []*memoryNode{
		newMemoryNode(t, network, "192.0.2.1:4717"),
		newMemoryNode(t, network, "192.0.2.2:4717"),
		newMemoryNode(t, network, "192.0.2.3:4717"),
	}
	var wg sync.WaitGroup
	for i := range 60 {
		from, to := nodes[i%3], nodes[(i+1)%3]
		wg.Go(func() {
			if _, err := from.Request(context.Background(), to.contact(), &wire.Ping{}); err != nil {
				t.Errorf("Request: %v", err)
			}
		})
	}
	wg.Wait()
}
