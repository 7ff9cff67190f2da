package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// maxInflight bounds the requests the router has on the network at once.
// A lookup keeps Alpha in flight and refresh pings are batched by the
// Machine, so reaching this bound means the network is struggling.
const maxInflight = 256

// ErrStopped reports a call on a router that has stopped.
var ErrStopped = errors.New("node: stopped")

// router drives a hierarchy.Machine, in flat or hierarchical mode, over a
// Transport. It owns one goroutine, which sleeps until the Machine's next
// deadline or a wake-up; requests run on their own goroutines and feed
// their outcome back into the Machine.
type router struct {
	tr      transport.Transport
	log     *slog.Logger
	metrics *metrics
	timeout time.Duration

	// mu guards machine, waiters, role and rtt.
	mu      sync.Mutex
	machine *hierarchy.Machine
	waiters map[kademlia.LookupID]chan *kademlia.LookupResult
	// role is the Machine's role as last logged.
	role hierarchy.Role
	// rtt is the smoothed round trip of successful requests, zero until
	// one succeeds.
	rtt time.Duration
	// noTable stands in for the routing table while the node is outside
	// the DHT, so that readers of the table see an empty one.
	noTable *kademlia.Machine

	inflight chan struct{} // semaphore of maxInflight slots
	wake     chan struct{} // a deadline may have moved earlier
	busy     rateLimitedLog

	// ctx bounds every request; close cancels it so that requests in
	// flight end at once instead of running to their timeouts.
	ctx      context.Context
	cancel   context.CancelFunc
	stop     chan struct{}
	done     chan struct{}
	requests sync.WaitGroup
	stopOnce sync.Once
	// stopping orders send's stop check and requests.Add before close's
	// requests.Wait, so that no request is added while close waits.
	stopping sync.RWMutex
}

func newRouter(m *hierarchy.Machine, tr transport.Transport, log *slog.Logger, met *metrics) *router {
	ctx, cancel := context.WithCancel(context.Background())
	return &router{
		ctx:      ctx,
		cancel:   cancel,
		busy:     rateLimitedLog{every: 10 * time.Second},
		tr:       tr,
		log:      log,
		metrics:  met,
		timeout:  m.Config().Kademlia.RequestTimeout,
		machine:  m,
		role:     m.Role(),
		noTable:  kademlia.New(m.Self(), m.Config().Kademlia, 0, time.Now()),
		waiters:  make(map[kademlia.LookupID]chan *kademlia.LookupResult),
		inflight: make(chan struct{}, maxInflight),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// run is the router's loop; it returns when stop is closed.
func (r *router) run() {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		r.mu.Lock()
		deadline := r.machine.NextDeadline()
		r.mu.Unlock()
		timer.Reset(waitUntil(deadline))

		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-timer.C:
			r.mu.Lock()
			r.machine.Tick(time.Now())
			r.mu.Unlock()
			r.flush()
		}
	}
}

func waitUntil(deadline time.Time) time.Duration {
	if deadline.IsZero() {
		return time.Minute
	}
	return max(time.Until(deadline), 0)
}

// poke wakes the loop so it re-reads the Machine's deadline.
func (r *router) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// flush sends what the Machine queued and handles its events. It must be
// called without mu held.
func (r *router) flush() {
	r.mu.Lock()
	out := r.machine.Outbox()
	events := r.machine.Events()
	role, was := r.machine.Role(), r.role
	r.role = role
	r.mu.Unlock()

	if role != was {
		r.log.Info("role changed", "from", was, "to", role)
	}

	for _, o := range out {
		r.send(o)
	}
	for _, e := range events {
		r.handleEvent(e)
	}
	r.poke()
}

func (r *router) send(o kademlia.Outgoing) {
	r.stopping.RLock()
	defer r.stopping.RUnlock()
	if r.stopped() {
		return
	}
	if o.Request == 0 {
		go r.sendOneWay(o)
		return
	}
	r.requests.Add(1)
	go r.request(o)
}

func (r *router) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *router) request(o kademlia.Outgoing) {
	defer r.requests.Done()

	// The Machine fails the request after o.Timeout, adapted to the
	// peer's round-trip time, so the network call need not wait longer.
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = r.timeout
	}
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()

	// A request waits for a free slot rather than failing at once: an
	// overloaded node is no fault of the peer, and the Machine's own
	// timeout still bounds the wait.
	select {
	case r.inflight <- struct{}{}:
		defer func() { <-r.inflight }()
	case <-ctx.Done():
		if n := r.busy.suppress(time.Now()); n >= 0 {
			r.log.Warn("requests waited too long for a free slot", "in_flight", maxInflight, "dropped", n+1)
		}
		r.feedFailure(o.Request)
		return
	}

	start := time.Now()
	resp, err := r.tr.Request(ctx, o.To, o.Msg)
	if err != nil {
		r.log.Debug("request failed", "to", o.To, "type", o.Msg.Type(), "err", err)
		r.feedFailure(o.Request)
		return
	}

	r.mu.Lock()
	r.observeRTT(time.Since(start))
	r.machine.HandleResponse(time.Now(), o.To, o.Request, resp)
	r.mu.Unlock()
	r.flush()
}

func (r *router) feedFailure(request uint64) {
	r.mu.Lock()
	r.machine.HandleFailure(time.Now(), request)
	r.mu.Unlock()
	r.flush()
}

func (r *router) sendOneWay(o kademlia.Outgoing) {
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	if err := r.tr.Send(ctx, o.To, o.Msg); err != nil {
		r.log.Debug("send failed", "to", o.To, "type", o.Msg.Type(), "err", err)
	}
}

func (r *router) handleEvent(e kademlia.Event) {
	switch e.Kind {
	case kademlia.PeerAdded:
		r.log.Info("peer joined", "peer", e.Peer.ID.Short(), "addr", e.Peer.Addr)
	case kademlia.PeerRemoved:
		r.log.Info("peer left", "peer", e.Peer.ID.Short(), "addr", e.Peer.Addr)
	case kademlia.LookupDone:
		r.finishLookup(e.Lookup)
	}
}

func (r *router) finishLookup(res *kademlia.LookupResult) {
	r.metrics.observeLookup(res)
	r.mu.Lock()
	ch, ok := r.waiters[res.ID]
	delete(r.waiters, res.ID)
	r.mu.Unlock()
	if ok {
		ch <- res
	}
}

// handle serves an overlay message that arrived from the network.
func (r *router) handle(from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	var request uint64
	if isRequest {
		request = 1
	}
	r.mu.Lock()
	resp := r.machine.HandleRequest(time.Now(), from.Contact(), request, msg)
	r.mu.Unlock()
	r.flush()
	return resp
}

// addContact hands the Machine a contact outside the LAN, such as a
// bootstrap node.
func (r *router) addContact(c wire.Contact) {
	r.mu.Lock()
	r.machine.AddContact(time.Now(), c)
	r.mu.Unlock()
	r.flush()
}

// addNeighbour hands the Machine a node found on the LAN.
func (r *router) addNeighbour(c wire.Contact) {
	r.mu.Lock()
	r.machine.AddNeighbour(time.Now(), c)
	r.mu.Unlock()
	r.flush()
}

// setScore replaces the node's self-assessment.
func (r *router) setScore(s hierarchy.Score) {
	r.mu.Lock()
	r.machine.SetScore(time.Now(), s)
	r.mu.Unlock()
	r.flush()
}

// observeRTT folds a request's round trip into r.rtt, with the weight
// 1/8 that TCP gives a new sample. r.mu must be held.
func (r *router) observeRTT(d time.Duration) {
	if r.rtt == 0 {
		r.rtt = d
		return
	}
	r.rtt += (d - r.rtt) / 8
}

// bootstrap starts the join lookup for the node's own ID.
func (r *router) bootstrap() {
	r.mu.Lock()
	r.machine.Bootstrap(time.Now())
	r.mu.Unlock()
	r.flush()
}

// lookup runs a lookup for target and waits for its result.
func (r *router) lookup(ctx context.Context, target identity.NodeID) (*kademlia.LookupResult, error) {
	ch := make(chan *kademlia.LookupResult, 1)
	r.mu.Lock()
	id := r.machine.Lookup(time.Now(), target)
	r.waiters[id] = ch
	r.mu.Unlock()
	r.flush()

	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		r.mu.Lock()
		delete(r.waiters, id)
		r.mu.Unlock()
		return nil, fmt.Errorf("node: lookup %s: %w", target.Short(), ctx.Err())
	case <-r.done:
		return nil, ErrStopped
	}
}

// withMachine runs f with the routing table locked, for read-only
// inspection. A node outside the DHT has no table: f gets an empty one.
func (r *router) withMachine(f func(m *kademlia.Machine)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.machine.Routing(); m != nil {
		f(m)
		return
	}
	f(r.noTable)
}

// withOverlay runs f with the whole Machine locked, for read-only
// inspection.
func (r *router) withOverlay(f func(m *hierarchy.Machine)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.machine)
}

// close stops the loop, ends the requests in flight, then tells every
// contact that this node leaves and waits up to grace for those messages.
// The Leaves go last: a request that reached a peer after them would make
// the peer take this node back into its table.
func (r *router) close(grace time.Duration) {
	r.stopOnce.Do(func() {
		r.stopping.Lock()
		close(r.stop)
		r.stopping.Unlock()
		r.cancel()
		<-r.done
		r.requests.Wait()

		if grace > 0 {
			r.mu.Lock()
			leaves := r.machine.Leave()
			r.mu.Unlock()
			r.sendLeaves(leaves, grace)
		}
	})
}

func (r *router) sendLeaves(leaves []kademlia.Outgoing, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, o := range leaves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A request, not a one-way send: closing the connection
			// right after a one-way send can discard it unsent, while a
			// response proves the peer has it.
			if _, err := r.tr.Request(ctx, o.To, o.Msg); err != nil {
				r.log.Debug("leave not delivered", "to", o.To, "err", err)
			}
		}()
	}
	wg.Wait()
}

// rateLimitedLog lets a repeated warning through at most once per period
// and counts what it held back.
type rateLimitedLog struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// suppress returns -1 if the warning must be held back now, or else the
// number of warnings held back since the last one let through.
func (l *rateLimitedLog) suppress(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return -1
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n
}
