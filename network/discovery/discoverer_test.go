package discovery

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// The tests in this file send only to the loopback interface: every
// Discoverer is limited to "lo", and all datagrams go to 127.0.0.0/8.

// waitTimeout bounds every wait for an event; it is generous so that a
// loaded machine does not fail the tests, which assert no speed.
const waitTimeout = 10 * time.Second

// freeUDPPort returns a UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).Port
}

// testWriter writes log records to the test's log, shown when it fails or
// with -v, and keeps a copy in lines.
type testWriter struct {
	t     *testing.T
	lines *logLines
}

func (w testWriter) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	w.t.Log(line)
	w.lines.add(line)
	return len(p), nil
}

// logLines collects the log lines of a node.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

// warnings returns the lines at warning level that contain substr.
func (l *logLines) warnings(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var found []string
	for _, line := range l.lines {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, substr) {
			found = append(found, line)
		}
	}
	return found
}

// testNode is a Discoverer on loopback with the contacts it reported.
type testNode struct {
	*Discoverer
	id   *identity.Identity
	logs *logLines

	mu       sync.Mutex
	contacts []wire.Contact
	done     chan struct{}
}

func startNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	if cfg.Identity == nil {
		cfg.Identity = newTestIdentity(t)
	}
	cfg.Interfaces = []string{"lo"}
	cfg.IncludeLoopback = true
	logs := new(logLines)
	handler := slog.NewTextHandler(testWriter{t: t, lines: logs}, &slog.HandlerOptions{Level: slog.LevelDebug})
	cfg.Logger = slog.New(handler).With("node", cfg.Identity.ID.Short())
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n := &testNode{Discoverer: d, id: cfg.Identity, logs: logs, done: make(chan struct{})}
	go n.collect()
	t.Cleanup(func() { n.Close() })
	return n
}

func (n *testNode) collect() {
	defer close(n.done)
	for c := range n.Contacts() {
		n.mu.Lock()
		n.contacts = append(n.contacts, c)
		n.mu.Unlock()
	}
}

func (n *testNode) reported(c wire.Contact) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, got := range n.contacts {
		if got == c {
			return true
		}
	}
	return false
}

func (n *testNode) reportedID(id identity.NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, got := range n.contacts {
		if got.ID == id {
			return true
		}
	}
	return false
}

func (n *testNode) contact() wire.Contact {
	return wire.Contact{ID: n.id.ID, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(n.cfg.ListenPort))}
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDiscovererJoinWithoutWaiting starts nodes one after another with an
// interval of an hour, so only the beacon each sends at start and the
// replies to it can make them find each other.
func TestDiscovererJoinWithoutWaiting(t *testing.T) {
	port := freeUDPPort(t)
	var nodes []*testNode
	for i := range 3 {
		nodes = append(nodes, startNode(t, Config{
			Network: "loop-test", ListenPort: 9001 + i, Port: port, Interval: time.Hour,
		}))
	}

	for _, n := range nodes {
		for _, peer := range nodes {
			if peer == n {
				continue
			}
			waitFor(t, n.id.ID.Short()+" to report "+peer.contact().String(), func() bool {
				return n.reported(peer.contact())
			})
		}
	}
	for i, n := range nodes {
		if n.reportedID(n.id.ID) {
			t.Errorf("node %d reported itself", i)
		}
		// Broadcasts loop back to every socket on the port, the sender's too.
		waitFor(t, "a node to hear its own beacon", func() bool { return n.Stats().Own > 0 })
		if s := n.Stats(); s.Rejected.Total() != 0 {
			t.Errorf("node %d rejected beacons: %+v", i, s.Rejected)
		}
	}
}

func TestDiscovererIgnoresOtherNetwork(t *testing.T) {
	port := freeUDPPort(t)
	cfg := func(network string, listen int) Config {
		return Config{Network: network, ListenPort: listen, Port: port, Interval: 50 * time.Millisecond}
	}
	a := startNode(t, cfg("net-a", 9101))
	b := startNode(t, cfg("net-a", 9102))
	other := startNode(t, cfg("net-b", 9103))

	waitFor(t, "net-a nodes to find each other", func() bool {
		return a.reported(b.contact()) && b.reported(a.contact())
	})
	for _, n := range []*testNode{a, b, other} {
		waitFor(t, "beacons of another network to be counted", func() bool {
			return n.Stats().OtherNetwork >= 2
		})
	}

	if a.reportedID(other.id.ID) || b.reportedID(other.id.ID) {
		t.Error("a net-a node reported the net-b node")
	}
	if other.reportedID(a.id.ID) || other.reportedID(b.id.ID) {
		t.Error("the net-b node reported a net-a node")
	}
}

func TestDiscovererDropsBadDatagrams(t *testing.T) {
	port := freeUDPPort(t)
	n := startNode(t, Config{Network: "test-net", ListenPort: 9201, Port: port, Interval: time.Hour})
	peer := newTestIdentity(t)
	other := newTestIdentity(t)

	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	send := func(data []byte) {
		t.Helper()
		if _, err := sender.WriteToUDPAddrPort(data, to); err != nil {
			t.Fatal(err)
		}
	}
	beacon := func(mutate func(b *Beacon), key *identity.Identity) []byte {
		b := testBeacon(peer)
		b.Timestamp = time.Now().UnixMilli()
		mutate(b)
		data, err := sign(b, key.Private)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	send([]byte("garbage"))
	send(make([]byte, 4000))
	send(beacon(func(*Beacon) {}, other))
	send(beacon(func(b *Beacon) { b.ID = other.ID }, peer))
	send(beacon(func(b *Beacon) { b.Timestamp = 0 }, peer))
	valid := beacon(func(*Beacon) {}, peer)
	send(valid[:len(valid)-1])

	want := Rejected{Malformed: 2, TooLarge: 1, BadSignature: 1, IDMismatch: 1, Timestamp: 1}
	waitFor(t, "6 datagrams to be rejected", func() bool { return n.Stats().Rejected.Total() >= 6 })
	if got := n.Stats().Rejected; got != want {
		t.Errorf("Rejected = %+v, want %+v", got, want)
	}

	// The node still works, and replies to a valid beacon at once.
	send(valid)
	contact := wire.Contact{ID: peer.ID, Addr: netip.AddrPortFrom(to.Addr(), 7946)}
	waitFor(t, "the valid beacon to be reported", func() bool { return n.reported(contact) })
	reply := make([]byte, MaxBeaconSize)
	sender.SetReadDeadline(time.Now().Add(waitTimeout))
	size, _, err := sender.ReadFromUDPAddrPort(reply)
	if err != nil {
		t.Fatalf("no reply to a valid beacon: %v", err)
	}
	got, err := DecodeBeacon(reply[:size], "test-net", time.Now())
	if err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	if got.ID != n.id.ID {
		t.Errorf("reply from %s, want %s", got.ID.Short(), n.id.ID.Short())
	}
}

// TestDiscovererRateLimit floods a node with valid beacons of new peers
// that each request a reply, and checks that the node sends no more than
// its token bucket allows.
func TestDiscovererRateLimit(t *testing.T) {
	const perSecond, flood = 5, 100
	port := freeUDPPort(t)
	start := time.Now()
	n := startNode(t, Config{
		Network: "test-net", ListenPort: 9301, Port: port, Interval: time.Hour, MaxPerSecond: perSecond,
		MaxNewPeersPerSecond: flood, NewPeerBurst: flood, // so that every peer gets a reply
	})

	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	for range flood {
		peer := newTestIdentity(t)
		b := testBeacon(peer)
		b.Timestamp = time.Now().UnixMilli()
		data, err := EncodeBeacon(b, peer.Private)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sender.WriteToUDPAddrPort(data, to); err != nil {
			t.Fatal(err)
		}
	}

	waitFor(t, "the flood to be handled", func() bool {
		s := n.Stats()
		return s.Accepted+s.InboxFull == flood
	})
	s := n.Stats()
	elapsed := time.Since(start)
	limit := perSecond + uint64(elapsed.Seconds()*perSecond)
	t.Logf("accepted %d, sent %d, rate-limited %d in %v", s.Accepted, s.Sent, s.RateLimited, elapsed)
	if s.Sent+s.SendErrors > limit {
		t.Errorf("sent %d datagrams in %v, limit %d", s.Sent+s.SendErrors, elapsed, limit)
	}
	if s.RateLimited == 0 {
		t.Error("no datagram was rate-limited")
	}
}

func TestDiscovererClose(t *testing.T) {
	n := startNode(t, Config{ListenPort: 9401, Port: freeUDPPort(t)})
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-n.done:
	case <-time.After(waitTimeout):
		t.Fatal("Contacts channel not closed by Close")
	}
}

func TestDiscovererSharesPort(t *testing.T) {
	port := freeUDPPort(t)
	a := startNode(t, Config{ListenPort: 9501, Port: port})
	b := startNode(t, Config{ListenPort: 9502, Port: port})
	if a.Addr().Port() != uint16(port) || b.Addr().Port() != uint16(port) {
		t.Errorf("Addr ports = %d, %d, want both %d", a.Addr().Port(), b.Addr().Port(), port)
	}
}

func TestNewRejectsConfig(t *testing.T) {
	id := newTestIdentity(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no identity", Config{ListenPort: 1}},
		{"no listen port", Config{Identity: id}},
		{"listen port too large", Config{Identity: id, ListenPort: 70000}},
		{"port too large", Config{Identity: id, ListenPort: 1, Port: 70000}},
		{"long network name", Config{Identity: id, ListenPort: 1, Network: string(make([]byte, MaxNetworkName+1))}},
		{"negative interval", Config{Identity: id, ListenPort: 1, Interval: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.cfg)
			if err == nil {
				d.Close()
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("New error = %v, want %v", err, ErrConfig)
			}
		})
	}
}
