package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/store"
)

// Tuning of storeNetwork.
const (
	// defaultStoreTimeout bounds one storage request to a peer when the
	// store's own context sets no deadline.
	defaultStoreTimeout = 10 * time.Second

	// downTTL is how long a peer whose request just failed counts as
	// down. Requests to it fail at once in that time, because a node
	// killed without a Leave would otherwise cost every request sent to
	// it a whole timeout. A live peer marked down by mistake is skipped
	// for this long, which the store's substitution of holders absorbs.
	downTTL = 15 * time.Second

	// downAfter is the number of consecutive failed requests after which
	// a peer counts as down.
	downAfter = 2

	// maxDownDoublings bounds how often downTTL doubles for a peer that
	// keeps failing: each further failure in a row doubles the time it
	// counts as down, up to 8·downTTL. A peer that was killed is tried
	// again only every 2 minutes, and each try costs a request timeout,
	// which a repair pass that sends to its peers one after another
	// would otherwise pay every 15 s.
	maxDownDoublings = 3

	// lookupTTL is how long Closest reuses a lookup's result for the same
	// target. Reads and writes of one namespace look up the same
	// directory again and again, and a lookup costs several round trips.
	// A node that joins in that time is used only once the entry expires,
	// and one that dies is left out once a request to it has failed.
	lookupTTL = 10 * time.Second

	// staleLookupTTL is how long Closest serves an expired result, or one
	// that lost nodes to failures, while a new lookup for the target runs
	// in the background. After many nodes die at once, other nodes go on
	// offering the dead ones as contacts, and a lookup runs until its
	// time limit, 8 s with the default request timeout. Without the old
	// result every request for the target would wait for that lookup.
	staleLookupTTL = 2 * time.Minute

	// sharedLookupTimeout bounds a lookup that several callers share.
	sharedLookupTimeout = 30 * time.Second

	// maxCachedLookups bounds the lookup results kept, one per target.
	maxCachedLookups = 4096

	// widenFanout is the number of a lookup's closest nodes to which
	// Closest sends a FindNode when the lookup found fewer than wanted.
	widenFanout = 3
)

// storeNetwork implements store.Network over the router's lookups and the
// transport.
type storeNetwork struct {
	self    wire.Contact
	router  *router
	tr      transport.Transport
	timeout time.Duration // bounds a request whose context has no deadline

	// mu guards down, lookups and pending.
	mu sync.Mutex
	// down holds the peers that count as down.
	down map[identity.NodeID]downMark
	// failures counts each peer's consecutive failed requests.
	failures map[identity.NodeID]int
	lookups  map[identity.NodeID]cachedLookup
	// pending holds the lookups in progress by target, so that
	// concurrent calls for one target share a lookup.
	pending map[identity.NodeID]*pendingLookup
}

// pendingLookup is a lookup in progress for Closest. Its fields are set
// before done is closed.
type pendingLookup struct {
	wanted   int
	done     chan struct{}
	contacts []wire.Contact
	err      error
}

// cachedLookup is the result of Closest for a target.
type cachedLookup struct {
	contacts []wire.Contact // closest first, without this node
	wanted   int            // the n Closest was called with
	expires  time.Time
}

func newStoreNetwork(self wire.Contact, r *router, tr transport.Transport) *storeNetwork {
	return &storeNetwork{
		self:     self,
		router:   r,
		tr:       tr,
		timeout:  defaultStoreTimeout,
		down:     make(map[identity.NodeID]downMark),
		failures: make(map[identity.NodeID]int),
		lookups:  make(map[identity.NodeID]cachedLookup),
		pending:  make(map[identity.NodeID]*pendingLookup),
	}
}

// Self returns this node's contact.
func (sn *storeNetwork) Self() wire.Contact { return sn.self }

// Closest returns up to n nodes closest to target, closest first, without
// this node and without peers that are down. A lookup returns at most the
// routing core's K nodes, but a chunk's shards may need more holders than
// that: the rest come from the routing table and from the lookup's
// closest nodes. Those extra contacts were not heard from during the
// lookup, so some may have gone.
func (sn *storeNetwork) Closest(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error) {
	if store.ProbesDown(ctx) {
		return sn.closestWithDown(ctx, target, n)
	}
	if contacts, fresh, ok := sn.cachedClosest(target, n); ok {
		live, whole := sn.withoutDown(contacts, n)
		if fresh && whole {
			return live, nil
		}
		// A result that expired, or whose first n nodes lost one to a
		// failure, is looked up again, because a node further away may
		// have to replace one. While that runs, the old result serves
		// if it still holds n live nodes, the next ones in XOR order
		// standing in for those that failed.
		if len(live) == n {
			sn.refreshLookup(target, n)
			return live, nil
		}
	}

	contacts, err := sn.sharedLookup(ctx, target, n)
	if err != nil {
		return nil, err
	}
	live, _ := sn.withoutDown(contacts, n)
	return live, nil
}

// closestWithDown returns the closest nodes to target from a new lookup,
// with the peers marked down left in. The lookup's result is shared with
// other callers and the cache, so the caller gets a copy.
func (sn *storeNetwork) closestWithDown(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error) {
	contacts, err := sn.sharedLookup(ctx, target, n)
	if err != nil {
		return nil, err
	}
	return slices.Clone(contacts[:min(n, len(contacts))]), nil
}

// sharedLookup returns the closest nodes to target from a new lookup, or
// from one that another caller started and that looks for n or more.
func (sn *storeNetwork) sharedLookup(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error) {
	sn.mu.Lock()
	p, ok := sn.pending[target]
	if !ok || p.wanted < n {
		p = &pendingLookup{wanted: n, done: make(chan struct{})}
		sn.pending[target] = p
		// The lookup outlives the caller that started it, because others
		// may be waiting for it.
		go sn.runLookup(context.WithoutCancel(ctx), target, p)
	}
	sn.mu.Unlock()

	select {
	case <-p.done:
		return p.contacts, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refreshLookup starts a lookup for target in the background unless one
// for n or more nodes runs already. Its result replaces the cached one.
func (sn *storeNetwork) refreshLookup(target identity.NodeID, n int) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if p, ok := sn.pending[target]; ok && p.wanted >= n {
		return
	}
	p := &pendingLookup{wanted: n, done: make(chan struct{})}
	sn.pending[target] = p
	go sn.runLookup(context.Background(), target, p)
}

func (sn *storeNetwork) runLookup(ctx context.Context, target identity.NodeID, p *pendingLookup) {
	ctx, cancel := context.WithTimeout(ctx, sharedLookupTimeout)
	defer cancel()
	p.contacts, p.err = sn.lookup(ctx, target, p.wanted)
	if p.err == nil {
		sn.cacheClosest(target, p.wanted, p.contacts)
	}
	sn.mu.Lock()
	if sn.pending[target] == p {
		delete(sn.pending, target)
	}
	sn.mu.Unlock()
	close(p.done)
}

// lookup runs a lookup for target and widens its result to n nodes.
func (sn *storeNetwork) lookup(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error) {
	res, err := sn.router.lookup(ctx, target)
	if err != nil {
		return nil, err
	}
	contacts := slices.Clone(res.Closest)
	if len(contacts) < n {
		contacts = append(contacts, sn.widen(ctx, target, res.Closest, n)...)
	}
	contacts = sortByDistance(target, contacts)
	return slices.DeleteFunc(contacts, func(c wire.Contact) bool { return c.ID == sn.self.ID }), nil
}

// WithoutDown returns contacts without the peers that are down, so that
// placement by cluster skips registered holders whose requests fail.
func (sn *storeNetwork) WithoutDown(contacts []wire.Contact) []wire.Contact {
	live, _ := sn.withoutDown(contacts, len(contacts))
	return live
}

var _ store.DownKnower = (*storeNetwork)(nil)

// withoutDown returns the first n contacts that are not down, and whether
// none of the first n contacts was down.
func (sn *storeNetwork) withoutDown(contacts []wire.Contact, n int) ([]wire.Contact, bool) {
	now := time.Now()
	seen := sn.lastSeen()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	live := make([]wire.Contact, 0, min(n, len(contacts)))
	whole := true
	for i, c := range contacts {
		if len(live) == n {
			break
		}
		if sn.isDown(c.ID, now, seen) {
			whole = whole && i >= n
			continue
		}
		live = append(live, c)
	}
	return live, whole
}

// cachedClosest returns the cached result for target if it was made for
// n or more nodes and is at most staleLookupTTL past its expiry, and
// whether it has not expired yet.
func (sn *storeNetwork) cachedClosest(target identity.NodeID, n int) (contacts []wire.Contact, fresh, ok bool) {
	now := time.Now()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	e, ok := sn.lookups[target]
	if !ok || e.wanted < n || now.After(e.expires.Add(staleLookupTTL)) {
		return nil, false, false
	}
	return e.contacts, !now.After(e.expires), true
}

func (sn *storeNetwork) cacheClosest(target identity.NodeID, n int, contacts []wire.Contact) {
	now := time.Now()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if len(sn.lookups) >= maxCachedLookups {
		for id, e := range sn.lookups {
			if now.After(e.expires.Add(staleLookupTTL)) || len(sn.lookups) >= maxCachedLookups {
				delete(sn.lookups, id)
			}
		}
	}
	sn.lookups[target] = cachedLookup{contacts: contacts, wanted: n, expires: now.Add(lookupTTL)}
}

// widen gathers more contacts near target: the routing table's, except
// those whose last request failed, and those that the closest responsive
// nodes return.
func (sn *storeNetwork) widen(ctx context.Context, target identity.NodeID, closest []wire.Contact, n int) []wire.Contact {
	var (
		mu  sync.Mutex
		out []wire.Contact
		wg  sync.WaitGroup
	)
	sn.router.withMachine(func(m *kademlia.Machine) {
		failing := make(map[identity.NodeID]bool)
		for _, p := range m.Peers() {
			if p.Failures > 0 {
				failing[p.ID] = true
			}
		}
		for _, c := range m.Closest(target, n) {
			if !failing[c.ID] {
				out = append(out, c)
			}
		}
	})
	for _, c := range closest[:min(widenFanout, len(closest))] {
		wg.Go(func() {
			resp, err := sn.Request(ctx, c, &wire.FindNode{Target: target})
			nodes, ok := resp.(*wire.Nodes)
			if err != nil || !ok {
				return
			}
			mu.Lock()
			out = append(out, nodes.Contacts...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// Request sends req to a node and returns its response. A *wire.Error
// response is returned as the message: only a failure to reach the node
// is an error. A request to a peer that is down fails at once, unless
// ctx comes from store.WithDownProbe.
func (sn *storeNetwork) Request(ctx context.Context, to wire.Contact, req wire.Message) (wire.Message, error) {
	now := time.Now()
	seen := sn.lastSeen()
	sn.mu.Lock()
	down := sn.isDown(to.ID, now, seen)
	sn.mu.Unlock()
	if down && !store.ProbesDown(ctx) {
		return nil, fmt.Errorf("node: %w: %s is marked down after %d or more failed requests in a row; it is tried again once the mark ends or it contacts this node",
			transport.ErrUnreachable, to.ID.Short(), downAfter)
	}

	callerCtx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sn.timeout)
		defer cancel()
	}
	resp, err := sn.tr.Request(ctx, to, req)
	sn.observe(to.ID, err, callerCtx)
	return resp, err
}

// observe records the outcome of a request: a peer that failed to
// respond downAfter times in a row is down for downTTL, doubled for each
// further failure, and one that responded is up. A request
// that the caller cancelled tells nothing about the peer.
func (sn *storeNetwork) observe(id identity.NodeID, err error, callerCtx context.Context) {
	if err != nil && errors.Is(callerCtx.Err(), context.Canceled) {
		return
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if err == nil {
		delete(sn.down, id)
		delete(sn.failures, id)
		return
	}

	// One timeout on a loaded machine is no proof that a peer died, and a
	// live holder marked down fails every write to it for downTTL, so a
	// peer counts as down only after downAfter failures in a row.
	sn.failures[id]++
	if sn.failures[id] < downAfter {
		return
	}
	if _, ok := sn.down[id]; !ok {
		sn.router.log.Debug("storage peer down", "peer", id.Short(), "for", downTTL, "err", err)
	}
	doublings := min(sn.failures[id]-downAfter, maxDownDoublings)
	now := time.Now()
	sn.down[id] = downMark{since: now, until: now.Add(downTTL << doublings)}
}

// downMark is when a peer was last marked down and when the mark ends.
type downMark struct {
	since, until time.Time
}

// lastSeen returns when the routing core last heard from each peer in its
// table, or nil when no peer is down, which is the common case.
func (sn *storeNetwork) lastSeen() map[identity.NodeID]time.Time {
	sn.mu.Lock()
	none := len(sn.down) == 0
	sn.mu.Unlock()
	if none {
		return nil
	}
	seen := make(map[identity.NodeID]time.Time)
	sn.router.withMachine(func(m *kademlia.Machine) {
		for _, p := range m.Peers() {
			seen[p.ID] = p.LastSeen
		}
	})
	return seen
}

// isDown reports whether id is down at now, forgetting a mark that
// expired or that predates the last time the routing core heard from the
// peer, per seen. A node that was killed and started again at the same
// address contacts its peers while it joins, so it counts as up again
// without waiting for its mark to end. It must be called with mu held.
func (sn *storeNetwork) isDown(id identity.NodeID, now time.Time, seen map[identity.NodeID]time.Time) bool {
	mark, ok := sn.down[id]
	if !ok {
		return false
	}
	if seen[id].After(mark.since) {
		delete(sn.down, id)
		delete(sn.failures, id)
		return false
	}
	if now.After(mark.until) {
		// The failures stay counted, so that one more marks the peer
		// down again, for twice as long.
		delete(sn.down, id)
		return false
	}
	return true
}

// sortByDistance sorts contacts by XOR distance to target, closest first,
// and drops duplicates.
func sortByDistance(target identity.NodeID, contacts []wire.Contact) []wire.Contact {
	slices.SortFunc(contacts, func(a, b wire.Contact) int {
		return identity.Compare(identity.Xor(target, a.ID), identity.Xor(target, b.ID))
	})
	return slices.CompactFunc(contacts, func(a, b wire.Contact) bool { return a.ID == b.ID })
}
