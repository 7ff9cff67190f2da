package discovery

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// The namespace test runs each node as a separate process inside its own
// network namespace: the test binary runs itself again under
// "ip netns exec", and TestMain turns it into a helper when helperEnv is
// set. A Discoverer reads the interface list from time to time, so all
// its threads must live in the namespace, which only a process of its own
// guarantees.

// Environment of a helper process.
const (
	helperEnv         = "YUI_DISCOVERY_HELPER"
	helperNetworkEnv  = "YUI_DISCOVERY_HELPER_NETWORK"
	helperListenEnv   = "YUI_DISCOVERY_HELPER_LISTEN_PORT"
	helperIntervalEnv = "YUI_DISCOVERY_HELPER_INTERVAL"
	helperRescanEnv   = "YUI_DISCOVERY_HELPER_RESCAN_INTERVAL"
	helperParentEnv   = "YUI_DISCOVERY_HELPER_PARENT_NETNS" // the test's namespace
)

// netnsLink is a symbolic link to the calling process's network
// namespace. Its target reads like "net:[4026531833]".
const netnsLink = "/proc/self/ns/net"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

// helperEvent is one line a helper prints on its standard output.
type helperEvent struct {
	Event   string       `json:"event"` // "ready", "contact", "stats" or "error"
	ID      string       `json:"id,omitempty"`
	Contact wire.Contact `json:"contact"`
	// At is the wall clock time of the event in Unix nanoseconds. All
	// helpers run on one host, so their clocks agree.
	At    int64  `json:"at"`
	Stats Stats  `json:"stats"`
	Error string `json:"error,omitempty"`
}

// runHelper runs one Discoverer on eth0 until its standard input closes.
// A line "stats" on standard input makes it print its counters.
func runHelper() int {
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	emit := func(e helperEvent) {
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(e)
	}

	// The helper sends beacons on the interface named eth0, so it must
	// never run in the namespace of the test that started it, which is
	// normally the host's.
	self, err := os.Readlink(netnsLink)
	if err != nil || self == os.Getenv(helperParentEnv) || os.Getenv(helperParentEnv) == "" {
		emit(helperEvent{Event: "error", Error: "helper must run in a network namespace of a test lab, not the test's own"})
		return 1
	}

	listenPort, _ := strconv.Atoi(os.Getenv(helperListenEnv))
	interval, _ := time.ParseDuration(os.Getenv(helperIntervalEnv))
	rescan, _ := time.ParseDuration(os.Getenv(helperRescanEnv))
	id, err := identity.New()
	if err != nil {
		emit(helperEvent{Event: "error", Error: err.Error()})
		return 1
	}
	start := time.Now()
	d, err := New(Config{
		Identity:       id,
		Network:        os.Getenv(helperNetworkEnv),
		ListenPort:     listenPort,
		Interval:       interval,
		RescanInterval: rescan,
		Interfaces:     []string{"eth0"},
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		emit(helperEvent{Event: "error", Error: err.Error()})
		return 1
	}
	emit(helperEvent{Event: "ready", ID: id.ID.String(), At: start.UnixNano()})

	reported := make(chan struct{})
	go func() {
		defer close(reported)
		for c := range d.Contacts() {
			emit(helperEvent{Event: "contact", Contact: c, At: time.Now().UnixNano()})
		}
	}()

	commands := bufio.NewScanner(os.Stdin)
	for commands.Scan() {
		if commands.Text() == "stats" {
			emit(helperEvent{Event: "stats", Stats: d.Stats(), At: time.Now().UnixNano()})
		}
	}
	d.Close()
	<-reported
	return 0
}

// helperRescanInterval is the helpers' Config.RescanInterval, shorter
// than the default so that the test of a link coming up is quick.
const helperRescanInterval = 250 * time.Millisecond

// helperNode is the test's handle on a helper process.
type helperNode struct {
	name       string
	ns         *netns.Namespace
	listenPort uint16
	id         identity.NodeID
	start      time.Time
	stdin      io.WriteCloser

	mu       sync.Mutex
	contacts map[wire.Contact]time.Time // first report of each contact
	stats    *Stats                     // latest counters, nil before the first
	stderr   bytes.Buffer
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// startHelper starts a node in ns and waits until its sockets are bound.
func startHelper(t *testing.T, ns *netns.Namespace, network string, listenPort uint16, interval time.Duration) *helperNode {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	n := &helperNode{name: ns.Name(), ns: ns, listenPort: listenPort, contacts: make(map[wire.Contact]time.Time)}
	parent, err := os.Readlink(netnsLink)
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(context.Background(), exe)
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		helperParentEnv+"="+parent,
		helperNetworkEnv+"="+network,
		helperListenEnv+"="+strconv.Itoa(int(listenPort)),
		helperIntervalEnv+"="+interval.String(),
		helperRescanEnv+"="+helperRescanInterval.String(),
	)
	cmd.Stderr = lockedWriter{&n.mu, &n.stderr}
	if n.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper in %s: %v", ns.Name(), err)
	}

	ready := make(chan helperEvent, 1)
	exited := make(chan struct{})
	go n.readEvents(stdout, ready, exited)
	t.Cleanup(func() { n.stop(t, cmd, exited) })

	select {
	case e := <-ready:
		if e.Event == "error" {
			t.Fatalf("helper in %s: %s", ns.Name(), e.Error)
		}
		n.id, err = identity.ParseID(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		n.start = time.Unix(0, e.At)
	case <-exited:
		t.Fatalf("helper in %s exited before it was ready:\n%s", ns.Name(), n.log())
	case <-time.After(waitTimeout):
		t.Fatalf("helper in %s not ready after %v", ns.Name(), waitTimeout)
	}
	return n
}

func (n *helperNode) readEvents(stdout io.Reader, ready chan<- helperEvent, exited chan<- struct{}) {
	defer close(exited)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		var e helperEvent
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			n.mu.Lock()
			fmt.Fprintf(&n.stderr, "test: undecodable helper output %q: %v\n", lines.Text(), err)
			n.mu.Unlock()
			continue
		}
		n.record(e, ready)
	}
}

func (n *helperNode) record(e helperEvent, ready chan<- helperEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch e.Event {
	case "ready", "error":
		select {
		case ready <- e:
		default:
		}
	case "contact":
		if _, ok := n.contacts[e.Contact]; !ok {
			n.contacts[e.Contact] = time.Unix(0, e.At)
		}
	case "stats":
		n.stats = &e.Stats
	}
}

// stop closes the helper's standard input, which makes it close its
// Discoverer and exit, and kills it if it does not.
func (n *helperNode) stop(t *testing.T, cmd *exec.Cmd, exited <-chan struct{}) {
	n.stdin.Close()
	select {
	case <-exited:
	case <-time.After(waitTimeout):
		t.Errorf("helper in %s did not exit; killing it", n.name)
		cmd.Process.Kill()
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper in %s: %v", n.name, err)
	}
	if t.Failed() {
		t.Logf("log of helper in %s:\n%s", n.name, n.log())
	}
}

func (n *helperNode) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stderr.String()
}

// reportedAt returns when the helper first reported c.
func (n *helperNode) reportedAt(c wire.Contact) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.contacts[c]
	return at, ok
}

func (n *helperNode) reportedID(id identity.NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.contacts {
		if c.ID == id {
			return true
		}
	}
	return false
}

// fetchStats requests the helper's counters and waits for them.
func (n *helperNode) fetchStats(t *testing.T) Stats {
	t.Helper()
	n.mu.Lock()
	n.stats = nil
	n.mu.Unlock()
	if _, err := io.WriteString(n.stdin, "stats\n"); err != nil {
		t.Fatalf("ask helper in %s for stats: %v", n.name, err)
	}
	var s Stats
	waitFor(t, "stats of "+n.name, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.stats != nil {
			s = *n.stats
		}
		return n.stats != nil
	})
	return s
}

// linkLocalAddr returns the IPv6 link-local address of eth0 in ns.
func linkLocalAddr(t *testing.T, ns *netns.Namespace) netip.Addr {
	t.Helper()
	out, err := ns.Run(context.Background(), "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
	if err != nil {
		t.Fatal(err)
	}
	// A line reads "2: eth0    inet6 fe80::1/64 scope link ...".
	fields := strings.Fields(string(out))
	for i, f := range fields {
		if f == "inet6" && i+1 < len(fields) {
			if p, err := netip.ParsePrefix(fields[i+1]); err == nil {
				return p.Addr().WithZone("eth0")
			}
		}
	}
	t.Fatalf("no IPv6 link-local address on eth0 in %s: %q", ns.Name(), out)
	return netip.Addr{}
}

// TestDiscoveryNamespaces runs three nodes of one network and one node of
// another on a bridged LAN of network namespaces. The nodes of the network
// send periodic beacons only once an hour, so they can find each other
// only through the beacon each sends at start and the replies to it.
func TestDiscoveryNamespaces(t *testing.T) {
	lab := netns.ForTest(t, "yuidisc")
	lan := lab.NewBridge(t, "lan")
	newHost := func(name string, addr string) *netns.Namespace {
		ns := lab.NewNamespace(t, name)
		ns.Attach(t, lan, "eth0", netip.MustParsePrefix(addr))
		return ns
	}

	// The node of the other network starts first and beacons often, so
	// every node hears it.
	other := startHelper(t, newHost("other", "10.47.18.100/24"), "other-net", 7100, 100*time.Millisecond)

	var nodes []*helperNode
	var v6addrs []netip.Addr
	for i := 1; i <= 3; i++ {
		ns := newHost(fmt.Sprintf("node%d", i), fmt.Sprintf("10.47.18.%d/24", i))
		v6addrs = append(v6addrs, linkLocalAddr(t, ns))
		nodes = append(nodes, startHelper(t, ns, "ns-test", uint16(7000+i), time.Hour))
	}

	// Every node reports every other over IPv4 and over IPv6.
	contactsOf := func(i int) (wire.Contact, wire.Contact) {
		v4 := netip.AddrFrom4([4]byte{10, 47, 18, byte(i + 1)})
		port := nodes[i].listenPort
		return wire.Contact{ID: nodes[i].id, Addr: netip.AddrPortFrom(v4, port)},
			wire.Contact{ID: nodes[i].id, Addr: netip.AddrPortFrom(v6addrs[i], port)}
	}
	for i, n := range nodes {
		for j := range nodes {
			if i == j {
				continue
			}
			v4, v6 := contactsOf(j)
			for _, c := range []wire.Contact{v4, v6} {
				waitFor(t, fmt.Sprintf("node%d to report %v", i+1, c), func() bool {
					_, ok := n.reportedAt(c)
					return ok
				})
			}
		}
	}
	logJoinTimes(t, nodes, contactsOf)

	// The node of the other network is heard and counted, never reported.
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("node%d to count a beacon of another network", i+1), func() bool {
			return n.fetchStats(t).OtherNetwork > 0
		})
		if n.reportedID(other.id) {
			t.Errorf("node%d reported the node of another network", i+1)
		}
		if n.reportedID(n.id) {
			t.Errorf("node%d reported itself", i+1)
		}
		if s := n.fetchStats(t); s.Rejected.Total() != 0 {
			t.Errorf("node%d rejected datagrams: %+v", i+1, s.Rejected)
		}
	}
	if s := other.fetchStats(t); s.OtherNetwork < uint64(len(nodes)) {
		t.Errorf("node of another network counted %d beacons of other networks, want at least %d", s.OtherNetwork, len(nodes))
	}
	for i, n := range nodes {
		if other.reportedID(n.id) {
			t.Errorf("node of another network reported node%d", i+1)
		}
	}

	// A node whose link comes up after it started finds the others once
	// a rescan finds the link.
	lateHost := newHost("late", "10.47.18.4/24")
	if err := lateHost.SetLinkUp("eth0", false); err != nil {
		t.Fatal(err)
	}
	late := startHelper(t, lateHost, "ns-test", 7004, time.Hour)
	if err := lateHost.SetLinkUp("eth0", true); err != nil {
		t.Fatal(err)
	}
	up := time.Now() // SetLinkUp returns once the link is running
	lateContact := wire.Contact{ID: late.id, Addr: netip.MustParseAddrPort("10.47.18.4:7004")}
	first, _ := contactsOf(0)
	var joined time.Time
	waitFor(t, "the late node and node1 to report each other", func() bool {
		heard, ok1 := nodes[0].reportedAt(lateContact)
		learned, ok2 := late.reportedAt(first)
		joined = maxTime(heard, learned)
		return ok1 && ok2
	})
	t.Logf("late node: joined node1 %v after its link was running (rescan interval %v)",
		joined.Sub(up).Round(time.Microsecond), helperRescanInterval)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// logJoinTimes logs, for each node after the first, how long after its
// start the nodes started before it reported it over IPv4 (the last of
// them), and how long until it reported all of them.
func logJoinTimes(t *testing.T, nodes []*helperNode, contactsOf func(int) (wire.Contact, wire.Contact)) {
	for k := 1; k < len(nodes); k++ {
		var heard, learned time.Duration
		newContact, _ := contactsOf(k)
		for j := range k {
			oldContact, _ := contactsOf(j)
			at, _ := nodes[j].reportedAt(newContact)
			heard = max(heard, at.Sub(nodes[k].start))
			at, _ = nodes[k].reportedAt(oldContact)
			learned = max(learned, at.Sub(nodes[k].start))
		}
		t.Logf("node%d: reported by %d earlier nodes %v after it started; reported them after %v",
			k+1, k, heard.Round(time.Microsecond), learned.Round(time.Microsecond))
	}
}
