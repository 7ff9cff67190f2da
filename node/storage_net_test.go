package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/store"
)

func contactOf(n *Node) wire.Contact { return wire.Contact{ID: n.ID(), Addr: n.Addr()} }

func TestRequestToDeadPeerFailsFast(t *testing.T) {
	nodes, _ := startTrio(t)
	sn := nodes[0].storage.net
	sn.timeout = 500 * time.Millisecond
	ctx := context.Background()
	dead := nodes[2]
	target := dead.ID()

	before, err := sn.Closest(ctx, target, 5)
	if err != nil || len(before) != 2 || before[0].ID != dead.ID() {
		t.Fatalf("Closest before the kill = %v, %v; want the 2 others, the target node first", before, err)
	}

	dead.Kill()
	for i := range downAfter {
		if _, err := sn.Request(ctx, contactOf(dead), &wire.Ping{}); err == nil {
			t.Fatalf("request %d to a killed node succeeded", i+1)
		}
	}
	_, err = sn.Request(ctx, contactOf(dead), &wire.Ping{})
	if !errors.Is(err, transport.ErrUnreachable) || !strings.Contains(err.Error(), "is marked down") {
		t.Errorf("request after %d failures to the killed node: error %v, want the down peer's fast failure", downAfter, err)
	}

	// The cached result of the first call must leave out the dead node.
	after, err := sn.Closest(ctx, target, 5)
	if err != nil {
		t.Fatalf("Closest after the kill: %v", err)
	}
	if len(after) != 1 || after[0].ID != nodes[1].ID() {
		t.Errorf("Closest after the kill = %v, want only the live node %s", after, nodes[1].ID().Short())
	}
}

func TestCancelledRequestKeepsPeerUp(t *testing.T) {
	nodes, _ := startTrio(t)
	sn := nodes[0].storage.net
	peer := contactOf(nodes[1])

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sn.Request(ctx, peer, &wire.Ping{}); err == nil {
		t.Fatal("request with a cancelled context succeeded")
	}
	resp, err := sn.Request(context.Background(), peer, &wire.Ping{})
	if err != nil {
		t.Fatalf("request after the caller's own cancellation failed: %v", err)
	}
	if _, ok := resp.(*wire.Pong); !ok {
		t.Errorf("ping answered with %T, want *wire.Pong", resp)
	}
}

func TestConcurrentClosestAgree(t *testing.T) {
	nodes, _ := startTrio(t)
	sn := nodes[0].storage.net
	target := nodes[1].ID()

	results := make([][]wire.Contact, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			got, err := sn.Closest(context.Background(), target, 4)
			if err != nil {
				t.Errorf("Closest: %v", err)
			}
			results[i] = got
		})
	}
	wg.Wait()
	for i, got := range results {
		if len(got) != 2 || got[0].ID != target {
			t.Errorf("call %d returned %v, want the 2 other nodes, %s first", i, got, target.Short())
		}
	}
}

func TestPeerHeardFromIsUpAgain(t *testing.T) {
	nodes, _ := startTrio(t)
	sn := nodes[0].storage.net
	peer := nodes[1]
	ctx := context.Background()

	// Mark a live peer down, as after it was killed and before it was
	// started again at the same address.
	sn.mu.Lock()
	sn.failures[peer.ID()] = downAfter
	sn.down[peer.ID()] = downMark{since: time.Now(), until: time.Now().Add(downTTL)}
	sn.mu.Unlock()
	if _, err := sn.Request(ctx, contactOf(peer), &wire.Ping{}); !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("request to a peer marked down: error %v, want the down peer's fast failure", err)
	}

	// The peer contacts this node, as a restarted node does while it
	// joins, and the routing core hears from it.
	time.Sleep(10 * time.Millisecond) // so that the peer's LastSeen is later than the mark
	if _, err := peer.storage.net.Request(ctx, contactOf(nodes[0]), &wire.FindNode{Target: peer.ID()}); err != nil {
		t.Fatalf("find-node from the peer: %v", err)
	}
	resp, err := sn.Request(ctx, contactOf(peer), &wire.Ping{})
	if err != nil {
		t.Fatalf("request to a peer heard from after its mark: %v", err)
	}
	if _, ok := resp.(*wire.Pong); !ok {
		t.Errorf("ping answered with %T, want *wire.Pong", resp)
	}
}

func TestExpiredLookupServesWhileRefreshing(t *testing.T) {
	nodes, _ := startTrio(t)
	sn := nodes[0].storage.net
	ctx := context.Background()
	target := nodes[1].ID()

	first, err := sn.Closest(ctx, target, 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("first Closest = %v, %v; want the 2 other nodes", first, err)
	}

	// Expire the cached result, as lookupTTL after the lookup, and kill
	// both other nodes, so that a new lookup would find neither.
	sn.mu.Lock()
	e := sn.lookups[target]
	e.expires = time.Now().Add(-time.Second)
	sn.lookups[target] = e
	sn.mu.Unlock()
	nodes[1].Kill()
	nodes[2].Kill()

	got, err := sn.Closest(ctx, target, 2)
	if err != nil {
		t.Fatalf("Closest with an expired result: %v", err)
	}
	if len(got) != 2 || got[0].ID != first[0].ID || got[1].ID != first[1].ID {
		t.Errorf("Closest with an expired result = %v, want the cached %v while a new lookup runs", got, first)
	}
}

// TestDownProbeReachesMarkedPeer marks a live peer down and checks that
// a context from store.WithDownProbe still lists it and sends to it,
// while a plain context does neither.
func TestDownProbeReachesMarkedPeer(t *testing.T) {
	nodes, _ := startTrio(t)
	sn := nodes[0].storage.net
	peer := nodes[1]
	ctx := context.Background()
	if _, err := sn.Closest(ctx, peer.ID(), 4); err != nil {
		t.Fatalf("Closest: %v", err)
	}

	// The mark starts in the future, so that traffic the routing core
	// hears from the peer during the test does not clear it.
	sn.mu.Lock()
	sn.failures[peer.ID()] = downAfter
	sn.down[peer.ID()] = downMark{since: time.Now().Add(time.Hour), until: time.Now().Add(2 * time.Hour)}
	sn.mu.Unlock()

	plain, err := sn.Closest(ctx, peer.ID(), 4)
	if err != nil {
		t.Fatalf("Closest: %v", err)
	}
	for _, c := range plain {
		if c.ID == peer.ID() {
			t.Errorf("Closest lists the peer marked down")
		}
	}
	if _, err := sn.Request(ctx, contactOf(peer), &wire.Ping{}); !errors.Is(err, transport.ErrUnreachable) {
		t.Errorf("request to the peer marked down: error %v, want the fast failure", err)
	}

	probe := store.WithDownProbe(ctx)
	listed, err := sn.Closest(probe, peer.ID(), 4)
	if err != nil {
		t.Fatalf("Closest under a down probe: %v", err)
	}
	if len(listed) == 0 || listed[0].ID != peer.ID() {
		t.Errorf("Closest under a down probe = %v, want the peer marked down first", listed)
	}
	resp, err := sn.Request(probe, contactOf(peer), &wire.Ping{})
	if err != nil {
		t.Fatalf("request under a down probe: %v", err)
	}
	if _, ok := resp.(*wire.Pong); !ok {
		t.Errorf("ping under a down probe returned %T, want *wire.Pong", resp)
	}
}

// TestDownProbeResultIsACopy checks that a caller under a down probe may
// change the contacts it gets without changing the lookup's cached
// result, which later callers read.
func TestDownProbeResultIsACopy(t *testing.T) {
	nodes, _ := startTrio(t)
	sn := nodes[0].storage.net
	ctx := context.Background()
	target := nodes[1].ID()

	probed, err := sn.Closest(store.WithDownProbe(ctx), target, 2)
	if err != nil || len(probed) != 2 {
		t.Fatalf("Closest under a down probe = %v, %v; want the 2 other nodes", probed, err)
	}
	want := slices.Clone(probed)
	probed[0], probed[1] = probed[1], probed[0]

	cached, err := sn.Closest(ctx, target, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cached, want) {
		t.Errorf("cached Closest = %v, want %v: the probing caller's change reached the cache", cached, want)
	}
}
