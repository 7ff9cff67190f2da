package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/identity"
)

// lanJoinLimit is how long nodes on one LAN may take to list each other.
// Beacons are answered at once, so joining takes well under a second; the
// limit leaves room for a loaded machine.
const lanJoinLimit = 5 * time.Second

// twoLANs builds two bridges joined by a router namespace: LAN 1 is
// 10.71.1.0/24 and LAN 2 is 10.71.2.0/24, with the router at .254 on both.
// Broadcasts stay on their own LAN; unicast crosses the router.
type twoLANs struct {
	lab        *netns.Lab
	lan1, lan2 *netns.Bridge
}

func newTwoLANs(t *testing.T) *twoLANs {
	lab := netns.ForTest(t, "yuie2e")
	l := &twoLANs{lab: lab, lan1: lab.NewBridge(t, "lan1"), lan2: lab.NewBridge(t, "lan2")}

	router := lab.NewNamespace(t, "router")
	router.Attach(t, l.lan1, "eth1", netip.MustParsePrefix("10.71.1.254/24"))
	router.Attach(t, l.lan2, "eth2", netip.MustParsePrefix("10.71.2.254/24"))
	if err := router.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	return l
}

// host adds a namespace to LAN lan (1 or 2) with address 10.71.lan.i and a
// route to the other LAN through the router.
func (l *twoLANs) host(t *testing.T, lan, i int) *netns.Namespace {
	ns := l.lab.NewNamespace(t, fmt.Sprintf("h%d-%d", lan, i))
	br, other := l.lan1, 2
	if lan == 2 {
		br, other = l.lan2, 1
	}
	ns.Attach(t, br, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.71.%d.%d/24", lan, i)))
	dst := netip.MustParsePrefix(fmt.Sprintf("10.71.%d.0/24", other))
	if err := ns.AddRoute(dst, netip.MustParseAddr(fmt.Sprintf("10.71.%d.254", lan))); err != nil {
		t.Fatal(err)
	}
	return ns
}

// waitPeers polls until p lists every ID in want, or the deadline passes.
// It returns the IDs p listed last.
func waitPeers(p *process, want []identity.NodeID, deadline time.Time) (map[identity.NodeID]bool, bool) {
	var got map[identity.NodeID]bool
	for {
		ids, err := p.peerIDs(context.Background())
		if err == nil {
			got = ids
			if containsAll(got, want) {
				return got, true
			}
		}
		if time.Now().After(deadline) {
			return got, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containsAll(set map[identity.NodeID]bool, ids []identity.NodeID) bool {
	for _, id := range ids {
		if !set[id] {
			return false
		}
	}
	return true
}

func without(ids []identity.NodeID, i int) []identity.NodeID {
	out := append([]identity.NodeID{}, ids[:i]...)
	return append(out, ids[i+1:]...)
}

// TestLANThenBootstrap starts five nodes with no address flags on one LAN:
// each must list the four others through LAN beacons alone. A sixth node
// on a second LAN behind a router must stay alone until it is given a
// --bootstrap address, and then join the five.
func TestLANThenBootstrap(t *testing.T) {
	l := newTwoLANs(t)

	var nodes []*process
	for i := 1; i <= 5; i++ {
		nodes = append(nodes, startNode(t, l.host(t, 1, i), fmt.Sprintf("lan1-%d", i)))
	}
	start := time.Now()
	ids := make([]identity.NodeID, len(nodes))
	for i, p := range nodes {
		ids[i] = p.waitStarted(t)
	}

	deadline := start.Add(lanJoinLimit)
	for i, p := range nodes {
		got, ok := waitPeers(p, without(ids, i), deadline)
		if !ok {
			t.Fatalf("%s lists %d of the 4 other LAN nodes after %s", p.name, len(got), lanJoinLimit)
		}
	}
	t.Logf("5 nodes on one LAN listed each other %s after the processes started", time.Since(start).Round(time.Millisecond))

	// Alone on the second LAN, the sixth node hears no beacon of the five.
	remote := l.host(t, 2, 1)
	alone := startNode(t, remote, "lan2-alone")
	aloneID := alone.waitStarted(t)
	time.Sleep(2 * time.Second)
	if got, _ := alone.peerIDs(context.Background()); len(got) != 0 {
		t.Fatalf("node on the second LAN found %d peers without --bootstrap, want 0", len(got))
	}
	alone.stop()

	// With a bootstrap address it reaches the five through the router.
	joined := startNodeIn(t, remote, "lan2-bootstrap", alone.dataDir, "--bootstrap", "10.71.1.1:4717")
	if id := joined.waitStarted(t); id != aloneID {
		t.Fatalf("restarted node has ID %s, want %s kept from its data folder", id.Short(), aloneID.Short())
	}
	deadline = time.Now().Add(15 * time.Second)
	if got, ok := waitPeers(joined, ids, deadline); !ok {
		t.Fatalf("bootstrapped node lists %d of the 5 LAN nodes", len(got))
	}
	for _, p := range nodes {
		if got, ok := waitPeers(p, []identity.NodeID{aloneID}, deadline); !ok {
			t.Errorf("%s does not list the bootstrapped node (lists %d)", p.name, len(got))
		}
	}
}
