package sim

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/kademlia"
)

func TestAddressesRoundTrip(t *testing.T) {
	for _, i := range []int32{0, 1, 254, 255, 65535, maxNodes - 1} {
		got, ok := nodeIndex(addrOf(i), maxNodes)
		if !ok || got != i {
			t.Errorf("indexOf(addrOf(%d)) = %d, %v", i, got, ok)
		}
		if a := addrOf(i).Addr(); !a.IsLoopback() {
			t.Errorf("addrOf(%d) = %v, want a loopback address", i, a)
		}
	}
	for _, ap := range []string{"127.0.0.0:4242", "127.0.0.11:4242", "10.0.0.1:4242", "127.0.0.1:4243", "[::1]:4242"} {
		if i, ok := nodeIndex(netip.MustParseAddrPort(ap), 10); ok {
			t.Errorf("indexOf(%s) = %d, want no node", ap, i)
		}
	}
}

func TestLinkDelaysWithinBounds(t *testing.T) {
	l := testLinks(t)
	rng := NewStream(1, streamDelay)
	for range 10_000 {
		d := l.delay(uint16(rng.IntN(l.Sites())), uint16(rng.IntN(l.Sites())), true, rng)
		if d < int64(200*time.Microsecond) || d > int64(time.Millisecond) {
			t.Fatalf("LAN delay %v outside [0.2 ms, 1 ms]", time.Duration(d))
		}
	}
	for range 10_000 {
		from, to := rng.IntN(l.Sites()), rng.IntN(l.Sites())
		base := l.oneWay[from*l.Sites()+to]
		d := l.delay(uint16(from), uint16(to), false, rng)
		if d < base || float64(d) > float64(base)*1.1+1 {
			t.Fatalf("delay %d→%d is %v, want half the RTT %v plus at most 10%%", from, to, time.Duration(d), time.Duration(base))
		}
	}
}

// buildSmall joins nodes to n at the default join rate and runs until
// the last has had time to finish joining.
func buildSmall(t *testing.T, n *Network, nodes int) {
	t.Helper()
	if err := joinAll(n, nodes, 8, 1, 10_000); err != nil {
		t.Fatal(err)
	}
	n.RunUntil(n.Now() + 10*time.Second)
}

func TestLossDropsShareOfMessages(t *testing.T) {
	n := newTestNetwork(t, Config{Seed: 2, Loss: 0.2})
	buildSmall(t, n, 40)

	sent := float64(0)
	for c := range numClasses {
		m, _ := n.stats.Total(trafficClass(c))
		sent += float64(m)
	}
	share := float64(n.stats.Lost) / sent
	if math.Abs(share-0.2) > 0.02 {
		t.Errorf("lost %d of %.0f messages (%.3f), want 0.2", n.stats.Lost, sent, share)
	}
}

func TestPartitionStopsCrossTraffic(t *testing.T) {
	n := newTestNetwork(t, Config{Seed: 3})
	buildSmall(t, n, 100)
	side := func(i int32) uint8 { return uint8(i % 2) }

	crossed := 0
	n.delivered = func(ev *event) {
		if side(ev.from) != side(ev.to) {
			crossed++
		}
	}
	n.Partition(side)
	rng := NewStream(3, StreamScenario)
	n.startProbes(200, rng, func(*probeBatch) {})
	n.RunUntil(n.Now() + 30*time.Second)
	if crossed != 0 {
		t.Errorf("%d messages crossed the partition", crossed)
	}
	if n.stats.Partitioned == 0 {
		t.Error("no message was dropped at the partition")
	}

	n.Partition(nil)
	n.startProbes(200, rng, func(*probeBatch) {})
	n.RunUntil(n.Now() + 30*time.Second)
	if crossed == 0 {
		t.Error("no message crossed after the partition healed")
	}
}

func TestStoppedNodeGetsNothing(t *testing.T) {
	n := newTestNetwork(t, Config{Seed: 4})
	buildSmall(t, n, 50)
	victim := n.live[7]
	n.Stop(victim, false)

	got := 0
	n.delivered = func(ev *event) {
		if ev.to == victim {
			got++
		}
	}
	before := n.stats.Undelivered
	n.startProbes(100, NewStream(4, StreamScenario), func(*probeBatch) {})
	n.RunUntil(n.Now() + time.Minute)
	if got != 0 {
		t.Errorf("stopped node %d was handed %d messages", victim, got)
	}
	if n.stats.Undelivered == before {
		t.Error("no message to the stopped node counted as undelivered")
	}
	if n.Alive(victim) || n.Live() != 49 {
		t.Errorf("Alive(%d) = %v, Live() = %d; want false, 49", victim, n.Alive(victim), n.Live())
	}
}

func TestGracefulStopSendsLeave(t *testing.T) {
	n := newTestNetwork(t, Config{Seed: 5})
	buildSmall(t, n, 50)
	before := n.stats.Messages[classSteady][5] + n.stats.Messages[classJoin][5]
	n.Stop(n.live[3], true)
	after := n.stats.Messages[classSteady][5] + n.stats.Messages[classJoin][5]
	if after == before {
		t.Error("a graceful stop sent no leave message")
	}
}

func TestLookupCallbackOnStop(t *testing.T) {
	n := newTestNetwork(t, Config{Seed: 6})
	buildSmall(t, n, 50)
	src := n.live[0]
	calls, gotNil := 0, false
	n.Lookup(src, randomKey(NewStream(6, StreamScenario)), func(r *kademlia.LookupResult) {
		calls++
		gotNil = r == nil
	})
	n.Stop(src, false)
	if calls != 1 || !gotNil {
		t.Errorf("callback ran %d times, nil result %v; want once with nil", calls, gotNil)
	}
}
