package discovery

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
)

// The tests in this file cover the Discoverer's defences against beacons
// that are valid but unwelcome: clones, wrong clocks and floods. Like the
// other Discoverer tests they send only to 127.0.0.0/8.

// beaconSender sends datagrams to a node's beacon port from its own
// loopback address.
type beaconSender struct {
	t    *testing.T
	conn *net.UDPConn
	to   netip.AddrPort
}

func newBeaconSender(t *testing.T, from string, port int) *beaconSender {
	t.Helper()
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	return &beaconSender{t: t, conn: conn, to: to}
}

func (s *beaconSender) send(data []byte) {
	s.t.Helper()
	if _, err := s.conn.WriteToUDPAddrPort(data, s.to); err != nil {
		s.t.Fatal(err)
	}
}

// sendBeacon signs b with key and sends it.
func (s *beaconSender) sendBeacon(b *Beacon, key *identity.Identity) {
	s.t.Helper()
	data, err := sign(b, key.Private)
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(data)
}

// currentBeacon returns a valid beacon of id in test-net, sent now.
func currentBeacon(id *identity.Identity, seq uint64) *Beacon {
	b := testBeacon(id)
	b.Timestamp = time.Now().UnixMilli()
	b.Seq = seq
	b.ReplyRequested = false
	return b
}

// TestDiscovererWarnsAboutClone runs two nodes with one key, as two hosts
// started from copies of one data folder do. Each must count the other's
// beacons as a clone's, warn once, and still count its own as its own.
func TestDiscovererWarnsAboutClone(t *testing.T) {
	port := freeUDPPort(t)
	id := newTestIdentity(t)
	cfg := func(listen int) Config {
		return Config{Identity: id, Network: "clone-test", ListenPort: listen, Port: port, Interval: 50 * time.Millisecond}
	}
	nodes := []*testNode{startNode(t, cfg(9601)), startNode(t, cfg(9602))}

	for i, n := range nodes {
		waitFor(t, "a clone's beacons to be counted", func() bool { return n.Stats().Clones >= 3 })
		s := n.Stats()
		if s.Own == 0 {
			t.Errorf("node %d counted none of its own beacons as its own", i)
		}
		if s.Accepted != 0 {
			t.Errorf("node %d accepted %d beacons of its clone as a peer's", i, s.Accepted)
		}
		warnings := n.logs.warnings("data folder")
		if len(warnings) != 1 {
			t.Fatalf("node %d logged %d clone warnings for %d beacons, want 1", i, len(warnings), s.Clones)
		}
		for _, want := range []string{"from=127.0.0.1:", identity.KeyFile} {
			if !strings.Contains(warnings[0], want) {
				t.Errorf("node %d clone warning %q does not contain %q", i, warnings[0], want)
			}
		}
	}
}

// TestDiscovererOwnBeaconReplayed replays a node's own beacon from another
// address. It is still the node's own beacon, not a clone's.
func TestDiscovererOwnBeaconReplayed(t *testing.T) {
	port := freeUDPPort(t)
	tap, err := listenShared("udp4", port)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	n := startNode(t, Config{Network: "test-net", ListenPort: 9701, Port: port, Interval: time.Hour})

	buf := make([]byte, MaxBeaconSize)
	tap.SetReadDeadline(time.Now().Add(waitTimeout))
	size, _, err := tap.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no beacon of the node heard: %v", err)
	}
	// A unicast datagram reaches only one of the sockets that share a
	// port, so the tap must not take the replay.
	tap.Close()

	// With an interval of an hour the node sends two beacons at start,
	// one on the new link and the first periodic one, and no more.
	waitFor(t, "the node to hear its start beacons", func() bool {
		s := n.Stats()
		return s.Sent >= 2 && s.Own == s.Sent
	})
	own := n.Stats().Own

	newBeaconSender(t, "127.0.0.2:0", port).send(buf[:size])
	waitFor(t, "the replay to be counted", func() bool { return n.Stats().Own > own })
	if s := n.Stats(); s.Clones != 0 {
		t.Errorf("replayed own beacon counted as %d clone beacons", s.Clones)
	}
	if w := n.logs.warnings("data folder"); len(w) != 0 {
		t.Errorf("replayed own beacon logged a clone warning: %q", w)
	}
}

// TestDiscovererWarnsAboutClockSkew sends three beacons from a node whose
// clock is an hour behind: all are rejected, with one warning.
func TestDiscovererWarnsAboutClockSkew(t *testing.T) {
	port := freeUDPPort(t)
	n := startNode(t, Config{Network: "test-net", ListenPort: 9801, Port: port, Interval: time.Hour})
	sender := newBeaconSender(t, "127.0.0.3:0", port)
	late := newTestIdentity(t)

	for seq := range uint64(3) {
		b := currentBeacon(late, seq+1)
		b.Timestamp = time.Now().Add(-time.Hour).UnixMilli()
		sender.sendBeacon(b, late)
	}

	waitFor(t, "3 beacons to be rejected", func() bool { return n.Stats().Rejected.Timestamp == 3 })
	warnings := n.logs.warnings("clock")
	if len(warnings) != 1 {
		t.Fatalf("logged %d clock warnings for 3 beacons from one source, want 1", len(warnings))
	}
	for _, want := range []string{"from=127.0.0.3:", "skew=-1h", "limit=" + MaxClockSkew.String()} {
		if !strings.Contains(warnings[0], want) {
			t.Errorf("clock warning %q does not contain %q", warnings[0], want)
		}
	}
	if n.reportedID(late.ID) {
		t.Error("node reported a peer whose beacons it rejected")
	}
}

// TestDiscovererMaxClockSkew checks Config.MaxClockSkew: a limit of its
// own, and a negative value that turns the check off.
func TestDiscovererMaxClockSkew(t *testing.T) {
	tests := []struct {
		name   string
		limit  time.Duration
		behind time.Duration
		accept bool
	}{
		{"default accepts 4 min", 0, 4 * time.Minute, true},
		{"default rejects 6 min", 0, 6 * time.Minute, false},
		{"1 min rejects 2 min", time.Minute, 2 * time.Minute, false},
		{"1 h accepts 50 min", time.Hour, 50 * time.Minute, true},
		{"check off accepts a year", -1, 365 * 24 * time.Hour, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freeUDPPort(t)
			n := startNode(t, Config{Network: "test-net", ListenPort: 9901 + i, Port: port, Interval: time.Hour, MaxClockSkew: tt.limit})
			peer := newTestIdentity(t)
			b := currentBeacon(peer, 1)
			b.Timestamp = time.Now().Add(-tt.behind).UnixMilli()
			newBeaconSender(t, "127.0.0.4:0", port).sendBeacon(b, peer)

			waitFor(t, "the beacon to be handled", func() bool {
				s := n.Stats()
				return s.Accepted+s.Rejected.Timestamp > 0
			})
			s := n.Stats()
			if got := s.Accepted == 1; got != tt.accept {
				t.Errorf("beacon %v behind: accepted %d, rejected %d, want accepted %v",
					tt.behind, s.Accepted, s.Rejected.Timestamp, tt.accept)
			}
		})
	}
}

// TestDiscovererLimitsNewPeers floods a node with beacons of new peers.
// It reports no more than its limit allows, counts and warns about the
// rest, and keeps accepting the beacons of a peer already in its table.
func TestDiscovererLimitsNewPeers(t *testing.T) {
	const perSecond, burst, flood = 1, 5, 40
	port := freeUDPPort(t)
	n := startNode(t, Config{
		Network: "test-net", ListenPort: 9951, Port: port, Interval: time.Hour,
		MaxNewPeersPerSecond: perSecond, NewPeerBurst: burst,
	})
	sender := newBeaconSender(t, "127.0.0.5:0", port)

	known := newTestIdentity(t)
	sender.sendBeacon(currentBeacon(known, 1), known)
	waitFor(t, "the first peer to be reported", func() bool { return n.reportedID(known.ID) })

	start := time.Now()
	for range flood {
		peer := newTestIdentity(t)
		sender.sendBeacon(currentBeacon(peer, 1), peer)
	}
	waitFor(t, "the flood to be handled", func() bool {
		s := n.Stats()
		return s.Accepted+s.NewPeersDropped+s.InboxFull == flood+1
	})
	s := n.Stats()
	elapsed := time.Since(start)
	t.Logf("accepted %d, dropped %d, inbox full %d in %v", s.Accepted, s.NewPeersDropped, s.InboxFull, elapsed)

	// The first peer, then at most the burst and the rate since.
	limit := uint64(1 + burst + elapsed.Seconds()*perSecond)
	if s.Accepted > limit {
		t.Errorf("accepted %d new peers in %v, limit %d", s.Accepted, elapsed, limit)
	}
	if s.NewPeersDropped == 0 {
		t.Error("no beacon of a new peer was dropped")
	}
	if w := n.logs.warnings("new peers"); len(w) != 1 {
		t.Errorf("logged %d warnings about %d dropped new peers, want 1", len(w), s.NewPeersDropped)
	}

	sender.sendBeacon(currentBeacon(known, 2), known)
	waitFor(t, "the known peer's next beacon to be accepted", func() bool { return n.Stats().Accepted > s.Accepted })
	if got := n.Stats().NewPeersDropped; got != s.NewPeersDropped {
		t.Errorf("the known peer's beacon was dropped as a new peer's: dropped %d, was %d", got, s.NewPeersDropped)
	}
}

// TestNewPortTaken binds the beacon port without SO_REUSEPORT first. The
// error must name the port and the flags that work around it.
func TestNewPortTaken(t *testing.T) {
	holder, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	port := holder.LocalAddr().(*net.UDPAddr).Port

	d, err := New(Config{Identity: newTestIdentity(t), ListenPort: 1, Port: port, Interfaces: []string{"lo"}})
	if err == nil {
		d.Close()
		t.Fatalf("New on taken port %d succeeded", port)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %q does not wrap EADDRINUSE", err)
	}
	for _, want := range []string{"port " + strconv.Itoa(port), "--discovery-port", "-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
