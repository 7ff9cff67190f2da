package node

import (
	"context"
	"sync"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// Peer probes of an open page. The routing core pings a silent contact
// only after its ping interval, five minutes by default, so without
// probes a page would show a dead peer as up for that long.
const (
	// probeAfter is how long a peer may be silent before an open page
	// has it pinged, and how often one peer is pinged at most.
	probeAfter = 5 * time.Second
	// probeTimeout bounds one ping.
	probeTimeout = 2 * time.Second
	// maxProbes bounds the pings in flight from one page.
	maxProbes = 8
)

// peerProbes holds the outcome of the pages' pings, shared by every open
// page so that several pages do not ping a peer more often.
type peerProbes struct {
	mu sync.Mutex
	// results maps a peer to its last ping; guarded by mu.
	results map[identity.NodeID]probeResult
}

// probeResult is the outcome of the pings of one peer.
type probeResult struct {
	// sent is when the last ping started, and answered when the last
	// successful ping returned.
	sent, answered time.Time
	// failures counts the pings in a row that failed.
	failures int
}

// get returns the probe result of id.
func (p *peerProbes) get(id identity.NodeID) probeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.results[id]
}

// claim reports whether id is due for a ping at now, and marks it sent.
func (p *peerProbes) claim(id identity.NodeID, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.results[id]
	if now.Sub(r.sent) < probeAfter {
		return false
	}
	r.sent = now
	p.results[id] = r
	return true
}

func (p *peerProbes) record(id identity.NodeID, ok bool, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.results[id]
	if ok {
		r.answered, r.failures = at, 0
	} else {
		r.failures++
	}
	p.results[id] = r
}

// watchDashboardPeers pings the peers silent for probeAfter, every
// probeAfter, until ctx ends. A page's stream runs it while it is open.
func (n *Node) watchDashboardPeers(ctx context.Context) {
	for {
		n.probeSilentPeers(ctx)
		select {
		case <-time.After(probeAfter):
		case <-ctx.Done():
			return
		}
	}
}

// probeSilentPeers pings each peer that was silent for probeAfter and
// that no page pinged lately, and waits for the pings.
func (n *Node) probeSilentPeers(ctx context.Context) {
	probes := n.dashboard.probes
	now := time.Now()
	slots := make(chan struct{}, maxProbes)
	var wg sync.WaitGroup
	for _, p := range n.Peers() {
		heard := p.LastSeen
		if answered := probes.get(p.ID).answered; answered.After(heard) {
			heard = answered
		}
		if now.Sub(heard) < probeAfter || !probes.claim(p.ID, now) {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(c wire.Contact) {
			defer wg.Done()
			defer func() { <-slots }()
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			_, err := n.tr.Request(pctx, c, &wire.Ping{})
			if ctx.Err() == nil {
				probes.record(c.ID, err == nil, time.Now())
			}
		}(p.Contact)
	}
	wg.Wait()
}
