package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// ErrAddrInUse reports a Listen on an address that another transport of
// the same MemoryNetwork uses.
var ErrAddrInUse = errors.New("transport: address in use")

// MemoryNetwork connects in-memory transports, so that tests can run many
// nodes in one process. Messages travel as wire.Encode output and are
// decoded by the receiver, so the size limits and checks of the wire
// format apply as on a real network. Tests can delay the messages of a
// link and cut a node off.
//
// Delays use the wall clock, which testing/synctest replaces with virtual
// time. A MemoryNetwork is safe for concurrent use.
type MemoryNetwork struct {
	dropped atomic.Uint64

	mu       sync.Mutex
	nodes    map[netip.AddrPort]*memoryTransport
	delays   map[memoryLink]time.Duration
	isolated map[netip.AddrPort]bool
}

// memoryLink names the link between two addresses, in either direction.
type memoryLink struct{ a, b netip.AddrPort }

func newMemoryLink(a, b netip.AddrPort) memoryLink {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return memoryLink{a, b}
}

// NewMemoryNetwork returns an empty network.
func NewMemoryNetwork() *MemoryNetwork {
	return &MemoryNetwork{
		nodes:    make(map[netip.AddrPort]*memoryTransport),
		delays:   make(map[memoryLink]time.Duration),
		isolated: make(map[netip.AddrPort]bool),
	}
}

// Listen attaches a node with the given identity and handler at addr. A
// port of 0 selects a free port. A nil handler responds to every request
// with a wire.Error of code CodeUnsupported and drops one-way messages.
func (n *MemoryNetwork) Listen(id *identity.Identity, addr netip.AddrPort, h Handler) (Transport, error) {
	if id == nil {
		return nil, errors.New("transport: listen: identity is missing")
	}
	if !addr.IsValid() || addr.Addr().IsUnspecified() {
		return nil, fmt.Errorf("transport: listen on %q: want a specific IP address", addr)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if addr.Port() == 0 {
		addr = n.freePort(addr.Addr())
		if addr.Port() == 0 {
			return nil, fmt.Errorf("%w: no free port on %s", ErrAddrInUse, addr.Addr())
		}
	}
	if n.nodes[addr] != nil {
		return nil, fmt.Errorf("%w: %s; close the transport there or choose another address", ErrAddrInUse, addr)
	}

	m := &memoryTransport{network: n, id: id, addr: addr, handler: h}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	n.nodes[addr] = m
	return m, nil
}

// freePort returns ip with the lowest port that no node uses, or port 0 if
// every port is taken. The caller holds n.mu.
func (n *MemoryNetwork) freePort(ip netip.Addr) netip.AddrPort {
	for port := 1; port <= 65535; port++ {
		addr := netip.AddrPortFrom(ip, uint16(port))
		if n.nodes[addr] == nil {
			return addr
		}
	}
	return netip.AddrPortFrom(ip, 0)
}

// SetDelay makes messages between a and b, in both directions, arrive d
// later. A request waits d for the request and d for its response. Zero
// removes the delay.
func (n *MemoryNetwork) SetDelay(a, b netip.AddrPort, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d <= 0 {
		delete(n.delays, newMemoryLink(a, b))
		return
	}
	n.delays[newMemoryLink(a, b)] = d
}

// Isolate cuts the node at addr off from every other node: messages to
// and from it fail with ErrUnreachable, and those in flight are lost,
// until Rejoin.
func (n *MemoryNetwork) Isolate(addr netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[addr] = true
}

// Rejoin reconnects a node cut off by Isolate.
func (n *MemoryNetwork) Rejoin(addr netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.isolated, addr)
}

// Dropped returns the number of messages that receivers discarded because
// wire.Decode rejected them.
func (n *MemoryNetwork) Dropped() uint64 { return n.dropped.Load() }

// route returns the open transport at to.Addr and the delay of the link
// from src, or the error a real transport would return.
func (n *MemoryNetwork) route(src *memoryTransport, to wire.Contact) (*memoryTransport, time.Duration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dst := n.nodes[to.Addr]
	if dst == nil || n.isolated[src.addr] || n.isolated[to.Addr] {
		return nil, 0, fmt.Errorf("%w: no node reachable at %s", ErrUnreachable, to.Addr)
	}
	if dst.id.ID != to.ID {
		return nil, 0, fmt.Errorf("%w: %s proved node ID %s, want %s", ErrPeerMismatch, to.Addr, dst.id.ID, to.ID)
	}
	return dst, n.delays[newMemoryLink(src.addr, to.Addr)], nil
}

// linked reports whether a and b can exchange messages now.
func (n *MemoryNetwork) linked(a, b *memoryTransport) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes[a.addr] == a && n.nodes[b.addr] == b && !n.isolated[a.addr] && !n.isolated[b.addr]
}

func (n *MemoryNetwork) remove(m *memoryTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[m.addr] == m {
		delete(n.nodes, m.addr)
	}
}

// memoryTransport is one node of a MemoryNetwork.
type memoryTransport struct {
	network   *MemoryNetwork
	id        *identity.Identity
	addr      netip.AddrPort
	handler   Handler
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	requestID atomic.Uint64
	closeOnce sync.Once

	// mu guards closed. wg counts handler goroutines, and its Add is
	// called only under mu while closed is false.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (m *memoryTransport) LocalAddr() netip.AddrPort { return m.addr }

func (m *memoryTransport) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.network.remove(m)
		m.cancel()
		m.wg.Wait()
	})
	return nil
}

// spawn runs f in a goroutine that Close waits for. Once Close has begun
// it returns false and does not run f.
func (m *memoryTransport) spawn(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Go(f)
	return true
}

func (m *memoryTransport) peer() Peer { return Peer{ID: m.id.ID, Addr: m.addr} }

// Request delivers req to the node at to.Addr and returns its response.
func (m *memoryTransport) Request(ctx context.Context, to wire.Contact, req wire.Message) (wire.Message, error) {
	if m.ctx.Err() != nil {
		return nil, ErrClosed
	}
	request := m.requestID.Add(1)
	b, err := wire.Encode(request, req)
	if err != nil {
		return nil, err
	}
	dst, delay, err := m.network.route(m, to)
	if err != nil {
		return nil, err
	}

	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	served := dst.spawn(func() {
		resp, err := dst.serveRequest(ctx, m, b, delay)
		done <- result{resp, err}
	})
	if !served {
		return nil, fmt.Errorf("%w: node at %s closed", ErrUnreachable, to.Addr)
	}

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("transport: %v request to %s: %w", req.Type(), to, ctx.Err())
	case <-m.ctx.Done():
		return nil, ErrClosed
	}
	if r.err != nil {
		return nil, r.err
	}
	return m.readResponse(ctx, dst, to, request, r.b, delay)
}

// readResponse delivers an encoded response to the requester after the
// link's delay.
func (m *memoryTransport) readResponse(ctx context.Context, dst *memoryTransport, to wire.Contact, request uint64, b []byte, delay time.Duration) (wire.Message, error) {
	if err := sleep(ctx, delay); err != nil {
		return nil, fmt.Errorf("transport: request to %s: %w", to, err)
	}
	if !m.network.linked(m, dst) {
		return nil, fmt.Errorf("%w: response from %s lost", ErrUnreachable, to.Addr)
	}
	respID, resp, err := wire.Decode(b)
	if err != nil {
		m.network.dropped.Add(1)
		return nil, fmt.Errorf("transport: invalid response from %s: %w", to, err)
	}
	if respID != request {
		return nil, fmt.Errorf("transport: response from %s carries request ID %d, want %d", to, respID, request)
	}
	return resp, nil
}

// serveRequest runs on the receiving node: it waits for the link's delay,
// decodes the request, hands it to the handler and encodes the response.
func (m *memoryTransport) serveRequest(ctx context.Context, src *memoryTransport, b []byte, delay time.Duration) ([]byte, error) {
	if err := sleep(ctx, delay); err != nil {
		return nil, err
	}
	if !m.network.linked(src, m) {
		return nil, fmt.Errorf("%w: request to %s lost", ErrUnreachable, m.addr)
	}
	request, msg, err := wire.Decode(b)
	if err != nil {
		m.network.dropped.Add(1)
		return nil, fmt.Errorf("transport: %s dropped the request: %w", m.addr, err)
	}

	hctx, cancel := m.handlerContext(ctx, src)
	defer cancel()
	resp := m.handle(hctx, src.peer(), msg, true)
	out, err := wire.Encode(request, resp)
	if err != nil {
		return nil, fmt.Errorf("transport: %s could not encode its response: %w", m.addr, err)
	}
	return out, nil
}

// Send delivers msg to the node at to.Addr in the background.
func (m *memoryTransport) Send(ctx context.Context, to wire.Contact, msg wire.Message) error {
	if m.ctx.Err() != nil {
		return ErrClosed
	}
	b, err := wire.Encode(0, msg)
	if err != nil {
		return err
	}
	dst, delay, err := m.network.route(m, to)
	if err != nil {
		return err
	}
	if !dst.spawn(func() { dst.serveOneWay(m, b, delay) }) {
		return fmt.Errorf("%w: node at %s closed", ErrUnreachable, to.Addr)
	}
	return nil
}

// serveOneWay runs on the receiving node: it waits for the link's delay,
// decodes the message and hands it to the handler.
func (m *memoryTransport) serveOneWay(src *memoryTransport, b []byte, delay time.Duration) {
	if sleep(m.ctx, delay) != nil || !m.network.linked(src, m) {
		return
	}
	_, msg, err := wire.Decode(b)
	if err != nil {
		m.network.dropped.Add(1)
		return
	}
	hctx, cancel := m.handlerContext(m.ctx, src)
	defer cancel()
	m.handle(hctx, src.peer(), msg, false)
}

// handlerContext returns a context that ends when ctx ends, when this
// transport closes or when the sender closes, as a connection would.
func (m *memoryTransport) handlerContext(ctx context.Context, src *memoryTransport) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(m.ctx)
	stopCaller := context.AfterFunc(ctx, cancel)
	stopSender := context.AfterFunc(src.ctx, cancel)
	return hctx, func() {
		stopCaller()
		stopSender()
		cancel()
	}
}

func (m *memoryTransport) handle(ctx context.Context, from Peer, msg wire.Message, isRequest bool) wire.Message {
	if m.handler == nil {
		if isRequest {
			return &wire.Error{Code: wire.CodeUnsupported, Message: "node serves no requests"}
		}
		return nil
	}
	resp := m.handler.HandleMessage(ctx, from, msg, isRequest)
	if resp == nil && isRequest {
		return &wire.Error{Code: wire.CodeInternal, Message: "no response"}
	}
	return resp
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
