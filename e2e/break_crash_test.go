package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// reformLimit bounds how long nodes on one LAN may take to list a node
// that came back. Discovery reads the interface list every 3 s and replies
// to a beacon at once, so this leaves room for a loaded machine.
const reformLimit = 20 * time.Second

// lan is a bridge with one namespace per host, host i at 10.73.0.i/24.
type lan struct {
	hosts []*netns.Namespace
	dirs  []string
	nodes []*daemon
	ids   []identity.NodeID
}

// newLAN creates n hosts on one bridge and a data folder name for each,
// and starts no node.
func newLAN(t *testing.T, n int) *lan {
	t.Helper()
	lab := netns.ForTest(t, "yuibrk")
	br := lab.NewBridge(t, "lan")
	l := &lan{}
	for i := 1; i <= n; i++ {
		ns := lab.NewNamespace(t, fmt.Sprintf("h%d", i))
		ns.Attach(t, br, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.73.0.%d/24", i)))
		l.hosts = append(l.hosts, ns)
		l.dirs = append(l.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("h%d", i)))
	}
	return l
}

// start starts a node with no address flags on every host.
func (l *lan) start(t *testing.T) {
	t.Helper()
	for i, ns := range l.hosts {
		l.nodes = append(l.nodes, startDaemon(t, ns, fmt.Sprintf("h%d", i+1), l.dirs[i]))
	}
	for _, d := range l.nodes {
		l.ids = append(l.ids, d.waitStarted(t).ID)
	}
}

// startLAN starts n nodes with no address flags on one LAN and waits until
// each lists all the others.
func startLAN(t *testing.T, n int) *lan {
	t.Helper()
	l := newLAN(t, n)
	l.start(t)
	for i, d := range l.nodes {
		for j, id := range l.ids {
			if i != j && !d.waitPeer(t, id, netip.AddrPort{}, reformLimit) {
				t.Fatalf("%s does not list %s after %v", d.name, l.nodes[j].name, reformLimit)
			}
		}
	}
	return l
}

// evictByLookups runs lookups for id on d until d no longer lists id. A
// node pings a silent contact only after 5 minutes, so lookups, which query
// every contact of a small table, are what let a test see eviction soon.
// It fails the test if more than maxLookups are needed.
func evictByLookups(t *testing.T, d *daemon, id identity.NodeID, maxLookups int) {
	t.Helper()
	for i := 0; i < maxLookups; i++ {
		if _, listed := d.peers(t)[id]; !listed {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		if _, err := d.lookup(ctx, id); err != nil {
			t.Logf("lookup %d on %s: %v", i+1, d.name, err)
		}
		cancel()
	}
	if _, listed := d.peers(t)[id]; listed {
		t.Fatalf("%s still lists %s after %d lookups that queried it", d.name, id.Short(), maxLookups)
	}
}

// checkLookupFinds checks that a lookup on d returns every ID in want.
func checkLookupFinds(t *testing.T, d *daemon, target identity.NodeID, want ...identity.NodeID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	res, err := d.lookup(ctx, target)
	if err != nil {
		t.Fatalf("lookup on %s: %v", d.name, err)
	}
	found := make(map[identity.NodeID]bool)
	for _, c := range res.Closest {
		found[c.ID] = true
	}
	for _, id := range want {
		if !found[id] {
			t.Errorf("lookup on %s did not return %s (returned %d nodes)", d.name, id.Short(), len(res.Closest))
		}
	}
}

// TestBreakCrashAndRestart kills one of three nodes with SIGKILL. The two
// others must evict it once requests to it fail, keep finding each other,
// and list it again when it restarts on its data folder with the same ID.
func TestBreakCrashAndRestart(t *testing.T) {
	l := startLAN(t, 3)
	a, b, c := l.nodes[0], l.nodes[1], l.nodes[2]
	cID := l.ids[2]

	c.kill()
	for _, d := range []*daemon{a, b} {
		evictByLookups(t, d, cID, 5)
	}
	checkLookupFinds(t, a, l.ids[1], l.ids[1])

	again := startDaemon(t, l.hosts[2], "h3-again", l.dirs[2])
	if id := again.waitStarted(t).ID; id != cID {
		t.Fatalf("restarted node has ID %s, want %s from its data folder", id.Short(), cID.Short())
	}
	for _, d := range []*daemon{a, b} {
		if !d.waitPeer(t, cID, netip.AddrPort{}, reformLimit) {
			t.Errorf("%s does not list the restarted node after %v", d.name, reformLimit)
		}
	}
	for _, id := range l.ids[:2] {
		if !again.waitPeer(t, id, netip.AddrPort{}, reformLimit) {
			t.Errorf("restarted node does not list %s after %v", id.Short(), reformLimit)
		}
	}
}

// TestBreakLinkDownAndUp unplugs one node's link. The others must evict
// it. Once the link is back, all three must list each other again through
// discovery's immediate replies and not its periodic report, and requests
// between them must work: lookups query the node that came back.
func TestBreakLinkDownAndUp(t *testing.T) {
	l := startLAN(t, 3)
	a, b, c := l.nodes[0], l.nodes[1], l.nodes[2]

	if err := l.hosts[2].SetLinkUp("eth0", false); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*daemon{a, b} {
		evictByLookups(t, d, l.ids[2], 5)
	}
	evictByLookups(t, c, l.ids[0], 5)
	checkLookupFinds(t, b, l.ids[0], l.ids[0])

	logStart := make([]int, len(l.nodes))
	for i, d := range l.nodes {
		logStart[i] = len(d.log.String())
	}
	if err := l.hosts[2].SetLinkUp("eth0", true); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	l.waitAllListed(t, relistLimit)
	t.Logf("the three nodes listed each other again %v after the link came back", time.Since(up).Round(time.Millisecond))

	// The node that came back relearns its neighbours from their replies,
	// and they relearn it from its request for replies or its silence. A
	// path unheard for longer than discovery's window is new again.
	// Neither side may have waited for discovery's periodic report.
	for i, d := range l.nodes {
		logs := d.log.String()[logStart[i]:]
		for j, id := range l.ids {
			if i == j || (i != 2 && j != 2) {
				continue
			}
			reasons := reportReasons(logs, id)
			want := []string{"reply-requested", "silent", "new"}
			if i == 2 {
				want = []string{"link-back", "new"}
			}
			if !slices.ContainsFunc(reasons, func(r string) bool { return slices.Contains(want, r) }) {
				t.Errorf("%s reported %s with reasons %v after the link came back, want one of %v",
					d.name, l.nodes[j].name, reasons, want)
			}
			if slices.Contains(reasons, "refresh") {
				t.Errorf("%s listed %s again only after discovery's periodic report", d.name, l.nodes[j].name)
			}
		}
	}

	// A request over a connection that stopped during the outage would
	// fail here, and three failures in a row would evict the node again.
	checkLookupFinds(t, a, l.ids[2], l.ids[2])
	checkLookupFinds(t, b, l.ids[2], l.ids[2])
	checkLookupFinds(t, c, l.ids[0], l.ids[0], l.ids[1])
	l.waitAllListed(t, 0)
}

// relistLimit bounds how long nodes may take to list each other again
// after a link came back. It is only a safety net that turns a hang into
// a failure. TestBreakLinkDownAndUp checks how they got there.
const relistLimit = time.Minute

// waitAllListed waits up to limit until every node lists every other one,
// and fails the test if one does not. A zero limit checks once.
func (l *lan) waitAllListed(t *testing.T, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for i, d := range l.nodes {
		for j, id := range l.ids {
			if i != j && !d.waitPeer(t, id, netip.AddrPort{}, time.Until(deadline)) {
				t.Fatalf("%s does not list %s", d.name, l.nodes[j].name)
			}
		}
	}
}

// reportReasons returns, in order, the reasons that a node's log gives
// for the discovery reports of the node id.
func reportReasons(log string, id identity.NodeID) []string {
	var reasons []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="peer discovered"`) || !strings.Contains(line, " peer="+id.Short()+"@") {
			continue
		}
		if _, reason, ok := strings.Cut(line, " reason="); ok {
			reasons = append(reasons, strings.Fields(reason)[0])
		}
	}
	return reasons
}

// liar responds to every FindNode with contacts at loopback ports where no
// node listens, so a lookup that queries it must wait for each of them to
// time out.
type liar struct{ dead []wire.Contact }

func newLiar(t *testing.T, n int) *liar {
	l := &liar{}
	for i := range n {
		id, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		// Ports 1-1023 are left unbound in a fresh namespace.
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(100+i))
		l.dead = append(l.dead, wire.Contact{ID: id.ID, Addr: addr})
	}
	return l
}

func (l *liar) HandleMessage(_ context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	switch msg.(type) {
	case *wire.Ping:
		return &wire.Pong{Observed: from.Addr}
	case *wire.FindNode:
		return &wire.Nodes{Contacts: l.dead}
	}
	if isRequest {
		return &wire.Error{Code: wire.CodeUnsupported}
	}
	return nil
}

// TestBreakStopDuringSlowLookup stops a node with SIGTERM while a lookup
// waits on many unreachable contacts that a lying peer named. The node
// must stop within a few seconds: a clean stop waits 1 s for leave
// messages and 2 s for the API, and a request times out after 2 s.
func TestBreakStopDuringSlowLookup(t *testing.T) {

	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	attacker := startPeer(t, ns, "127.0.0.1:0", newLiar(t, wire.MaxContacts))
	mustRespond(t, attacker, target, "before the lookup")
	if !victim.waitPeer(t, attacker.id.ID, netip.AddrPort{}, 10*time.Second) {
		t.Fatal("victim does not list the peer that pinged it")
	}

	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		victim.lookup(ctx, identity.KeyID([]byte("slow")))
	}()
	time.Sleep(time.Second)

	const stopLimit = 10 * time.Second
	if took, ok := victim.terminate(stopLimit); !ok {
		t.Fatalf("node still ran %v after SIGTERM", took.Round(time.Millisecond))
	}
}

// startLiarVictim starts a victim node whose table contains an honest node
// and a liar that names 64 contacts where no node listens. It returns the
// victim and the honest node's ID.
func startLiarVictim(t *testing.T) (*daemon, identity.NodeID) {
	t.Helper()
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	honest := startDaemon(t, ns, "honest", filepath.Join(t.TempDir(), "honest"),
		append(loopbackArgs, "--bootstrap", target.Addr.String())...)
	honestID := honest.waitStarted(t).ID
	attacker := startPeer(t, ns, "127.0.0.1:0", newLiar(t, wire.MaxContacts))
	mustRespond(t, attacker, target, "before the lookup")
	for _, id := range []identity.NodeID{honestID, attacker.id.ID} {
		if !victim.waitPeer(t, id, netip.AddrPort{}, startLimit) {
			t.Fatalf("victim does not list %s", id.Short())
		}
	}
	return victim, honestID
}

// TestBreakLiarSlowsLookup runs a lookup through a peer that names 64
// contacts where no node listens. The lookup must still find the honest
// node within 15 s: a liar should cost a lookup a few request timeouts of
// 2 s, not one for every contact it names.
func TestBreakLiarSlowsLookup(t *testing.T) {
	victim, honestID := startLiarVictim(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := victim.lookup(ctx, identity.KeyID([]byte("through a liar")))
	if err != nil {
		t.Fatalf("lookup through the liar failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("lookup took %v, queried %d, failed %d", time.Since(start).Round(time.Millisecond), res.Queried, res.Failed)
	found := false
	for _, c := range res.Closest {
		found = found || c.ID == honestID
	}
	if !found {
		t.Errorf("lookup through the liar did not return the honest node %s", honestID.Short())
	}
}

// TestBreakSlowLookupError gives up on a slow lookup through the API
// client. The node runs, so the error must not claim that no node runs.
func TestBreakSlowLookupError(t *testing.T) {

	victim, _ := startLiarVictim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := victim.lookup(ctx, identity.KeyID([]byte("slow")))
	if err == nil {
		t.Skip("lookup finished within 3 s, so there was no timeout to report")
	}
	if errors.Is(err, api.ErrNoNode) || strings.Contains(err.Error(), "is 'yui node' running?") {
		t.Errorf("timeout on a running node reported as %q", err)
	}
}
