package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/discovery"
	"github.com/yuinet/yui/network/identity"
)

// beaconEnvelope is the discovery datagram with every field under the
// test's control.
type beaconEnvelope struct {
	_         struct{} `cbor:",toarray"`
	Version   uint16
	Payload   []byte
	Signature []byte
}

// signingContext is the prefix that discovery signs before the payload.
const signingContext = "yui discovery beacon v1\x00"

// forgeBeacon encodes b as the payload and signs it with key, checking
// nothing, so that a test can send beacons that break the rules.
func forgeBeacon(t *testing.T, version uint16, b any, key ed25519.PrivateKey) []byte {
	t.Helper()
	payload, err := cbor.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(key, append([]byte(signingContext), payload...))
	data, err := cbor.Marshal(beaconEnvelope{Version: version, Payload: payload, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// beaconFor returns a valid beacon of id for network "yui" that
// advertises listenPort.
func beaconFor(id *identity.Identity, listenPort uint16) *discovery.Beacon {
	return &discovery.Beacon{
		Network:    "yui",
		ID:         id.ID,
		PublicKey:  id.Public,
		ListenPort: listenPort,
		Timestamp:  time.Now().UnixMilli(),
		Seq:        uint64(time.Now().UnixMicro()),
	}
}

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sendTo sends data from conn to addr, failing the test on error.
func sendTo(t *testing.T, conn *net.UDPConn, addr string, data []byte) {
	t.Helper()
	if _, err := conn.WriteToUDPAddrPort(data, netip.MustParseAddrPort(addr)); err != nil {
		t.Fatalf("send %d bytes to %s: %v", len(data), addr, err)
	}
}

// waitMetric polls the node's metric key until it reaches want.
func waitMetric(t *testing.T, d *daemon, key string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := d.metrics(t)[key]
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 10 s, want at least %v", key, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBreakBadBeacons sends a node's discovery port garbage, oversized and
// truncated datagrams, other versions and networks, beacons whose ID is
// not the hash of their key, forged signatures, stale timestamps and
// address lists over the limit. The node must count each by reason and
// list none of the senders.
func TestBreakBadBeacons(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"),
		"--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--discovery-port", "4718")
	victim.waitStarted(t)
	conn := listenUDP(t, ns, "127.0.0.1:0")
	const to = "127.0.0.1:4718"

	a, b := newIdentity(t), newIdentity(t)
	valid, err := discovery.EncodeBeacon(beaconFor(a, 4000), a.Private)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 500)
	rand.Read(garbage)

	wrongID := beaconFor(a, 4000)
	wrongID.ID = b.ID
	stolenKey := beaconFor(b, 4000) // b's ID and key, signed by a
	stale := beaconFor(a, 4000)
	stale.Timestamp = time.Now().Add(-time.Hour).UnixMilli()
	otherNet := beaconFor(a, 4000)
	otherNet.Network = "elsewhere"
	manyAddrs := beaconFor(a, 4000)
	for i := range discovery.MaxListenAddrs + 1 {
		manyAddrs.ListenAddrs = append(manyAddrs.ListenAddrs, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
	}
	hugeAddrs := beaconFor(a, 4000)
	for i := range 64 {
		hugeAddrs.ListenAddrs = append(hugeAddrs.ListenAddrs, netip.AddrFrom16([16]byte{0xfd, 15: byte(i + 1)}))
	}
	zeroPort := beaconFor(a, 0)

	cases := []struct {
		metric string
		data   []byte
	}{
		{`yui_beacons_rejected_total{reason="malformed"}`, garbage},
		{`yui_beacons_rejected_total{reason="malformed"}`, valid[:len(valid)/2]},
		{`yui_beacons_rejected_total{reason="malformed"}`, nil},
		{`yui_beacons_rejected_total{reason="too-large"}`, make([]byte, 1500)},
		{`yui_beacons_rejected_total{reason="too-large"}`, forgeBeacon(t, discovery.BeaconVersion, hugeAddrs, a.Private)},
		{`yui_beacons_rejected_total{reason="version"}`, forgeBeacon(t, discovery.BeaconVersion+1, beaconFor(a, 4000), a.Private)},
		{`yui_beacons_rejected_total{reason="id-mismatch"}`, forgeBeacon(t, discovery.BeaconVersion, wrongID, a.Private)},
		{`yui_beacons_rejected_total{reason="bad-signature"}`, forgeBeacon(t, discovery.BeaconVersion, stolenKey, a.Private)},
		{`yui_beacons_rejected_total{reason="timestamp"}`, forgeBeacon(t, discovery.BeaconVersion, stale, a.Private)},
		{`yui_beacons_rejected_total{reason="invalid"}`, forgeBeacon(t, discovery.BeaconVersion, manyAddrs, a.Private)},
		{`yui_beacons_rejected_total{reason="invalid"}`, forgeBeacon(t, discovery.BeaconVersion, zeroPort, a.Private)},
		{`yui_beacons_total{outcome="other-network"}`, forgeBeacon(t, discovery.BeaconVersion, otherNet, a.Private)},
	}
	want := make(map[string]float64)
	for _, c := range cases {
		sendTo(t, conn, to, c.data)
		want[c.metric]++
	}
	for key, n := range want {
		waitMetric(t, victim, key, n)
	}
	if got := victim.metrics(t)[`yui_beacons_total{outcome="accepted"}`]; got != 0 {
		t.Errorf("node accepted %v of the bad beacons", got)
	}
	if peers := victim.peers(t); len(peers) != 0 {
		t.Errorf("node lists %d peers after bad beacons only", len(peers))
	}
}

// captureBeacon makes the node with discovery port port send this test a
// genuine beacon: it replies to a new peer's beacon at once.
func captureBeacon(t *testing.T, ns *netns.Namespace, port int) (*discovery.Beacon, []byte) {
	t.Helper()
	conn := listenUDP(t, ns, "127.0.0.1:0")
	probe := newIdentity(t)
	data, err := discovery.EncodeBeacon(beaconFor(probe, 100), probe.Private)
	if err != nil {
		t.Fatal(err)
	}
	sendTo(t, conn, fmt.Sprintf("127.0.0.1:%d", port), data)

	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no beacon came back from discovery port %d: %v", port, err)
	}
	b, err := discovery.DecodeBeacon(buf[:n], "yui", time.Now())
	if err != nil {
		t.Fatalf("beacon from discovery port %d: %v", port, err)
	}
	return b, buf[:n]
}

// TestBreakReplayedBeacon replays an honest node's genuine beacon from
// another address, where an attacker listens with its own key. The victim
// may try the address, but the handshake must fail on the ID, so the
// honest node's ID never enters its table with the attacker's address.
// A second copy from the same socket must count as a duplicate.
func TestBreakReplayedBeacon(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"),
		"--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--discovery-port", "4718")
	victim.waitStarted(t)
	honest := startDaemon(t, ns, "honest", filepath.Join(t.TempDir(), "honest"),
		"--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--discovery-port", "4728")
	honestContact := honest.contact(t)

	beacon, data := captureBeacon(t, ns, 4728)
	if beacon.ID != honestContact.ID {
		t.Fatalf("captured beacon of %s, want the honest node %s", beacon.ID.Short(), honestContact.ID.Short())
	}

	// The attacker listens at 127.0.0.2 on the honest node's port.
	spoofed := fmt.Sprintf("127.0.0.2:%d", beacon.ListenPort)
	attacker := startPeer(t, ns, spoofed, nil)
	replayer := listenUDP(t, ns, "127.0.0.2:0")
	sendTo(t, replayer, "127.0.0.1:4718", data)
	sendTo(t, replayer, "127.0.0.1:4718", data)

	waitMetric(t, victim, `yui_beacons_total{outcome="duplicate"}`, 1)
	waitMetric(t, victim, "yui_peer_id_mismatches_total", 1)
	if p, listed := victim.peers(t)[honestContact.ID]; listed {
		t.Errorf("victim lists the honest node at %s from a replayed beacon", p.Addr)
	}
	if _, listed := victim.peers(t)[attacker.id.ID]; listed {
		t.Error("victim lists the attacker, which never contacted it")
	}
}

// floodBeacons sends perSecond valid beacons a second, each from a fresh
// identity that advertises a port where no node listens, until ctx ends.
func floodBeacons(ctx context.Context, t *testing.T, conn *net.UDPConn, to string, perSecond int) int {
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	sent := 0
	for {
		select {
		case <-ctx.Done():
			return sent
		case <-tick.C:
		}
		id, err := identity.New()
		if err != nil {
			t.Error(err)
			return sent
		}
		data, err := discovery.EncodeBeacon(beaconFor(id, 100), id.Private)
		if err != nil {
			t.Error(err)
			return sent
		}
		conn.WriteToUDPAddrPort(data, netip.MustParseAddrPort(to))
		sent++
	}
}

// TestBreakBeaconFlood sends a node 50 beacons a second, each signed by a
// fresh key, as one host on the LAN can at 15 KB/s. The node must keep its
// honest contact, and its lookups must finish and find it.
func TestBreakBeaconFlood(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"),
		"--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--discovery-port", "4718")
	target := victim.contact(t)
	honest := startDaemon(t, ns, "honest", filepath.Join(t.TempDir(), "honest"),
		append(loopbackArgs, "--bootstrap", target.Addr.String())...)
	honestID := honest.waitStarted(t).ID
	if !victim.waitPeer(t, honestID, netip.AddrPort{}, startLimit) {
		t.Fatal("victim does not list the honest node that bootstrapped from it")
	}

	conn := listenUDP(t, ns, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	sent := make(chan int)
	go func() { sent <- floodBeacons(ctx, t, conn, "127.0.0.1:4718", 50) }()

	time.Sleep(2 * time.Second)
	for i := range 3 {
		lctx, lcancel := context.WithTimeout(context.Background(), 15*time.Second)
		start := time.Now()
		_, err := victim.lookup(lctx, identity.KeyID([]byte(fmt.Sprint("flood", i))))
		lcancel()
		if err != nil {
			t.Errorf("lookup %d during the flood failed after %v: %v", i+1, time.Since(start).Round(time.Millisecond), err)
		}
	}
	t.Logf("sent %d beacons", <-sent)

	if _, listed := victim.peers(t)[honestID]; !listed {
		t.Error("victim evicted its honest contact during the flood")
	}
	checkLookupFinds(t, victim, identity.KeyID([]byte("after the flood")), honestID)
	if n := strings.Count(victim.log.String(), "level=WARN"); n > 100 {
		t.Errorf("victim logged %d warnings during the flood; repeats should be counted or rate-limited", n)
	}
}

// TestBreakClonedDataDir starts two hosts from copies of one data folder,
// as happens when an operator copies a disk image to a second device. Both
// run under one node ID, so neither can reach the other and their
// neighbours cannot tell them apart. Each clone must log a warning that
// names the other's address, so the operator can find it.
func TestBreakClonedDataDir(t *testing.T) {
	l := newLAN(t, 3)
	if _, _, err := identity.LoadOrCreate(l.dirs[0]); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(l.dirs[0], identity.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l.dirs[1], 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.dirs[1], identity.KeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	l.start(t)
	if l.ids[0] != l.ids[1] {
		t.Fatalf("clones have IDs %s and %s, want one", l.ids[0].Short(), l.ids[1].Short())
	}

	// Beacons go out every 5 s, and the first ones at once.
	deadline := time.Now().Add(reformLimit)
	for {
		warned0 := warnsAbout(l.nodes[0].log.String(), "10.73.0.2")
		warned1 := warnsAbout(l.nodes[1].log.String(), "10.73.0.1")
		if warned0 && warned1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, clone h1 warned about h2: %v, clone h2 warned about h1: %v", reformLimit, warned0, warned1)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// warnsAbout reports whether log has a warning or error line naming addr.
func warnsAbout(log, addr string) bool {
	for _, line := range strings.Split(log, "\n") {
		if (strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) && strings.Contains(line, addr) {
			return true
		}
	}
	return false
}

// TestBreakClockSkewWarned sends a node valid beacons of its own network
// whose clock is an hour behind, as a board without a real-time clock on
// an offline LAN sends them. The node rejects them and so never finds that
// neighbour, which the operator must learn from a warning, not only from
// a debug line and a metric.
func TestBreakClockSkewWarned(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"),
		"--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--discovery-port", "4718")
	victim.waitStarted(t)
	conn := listenUDP(t, ns, "127.0.0.1:0")

	late := newIdentity(t)
	for i := range 3 {
		b := beaconFor(late, 4000)
		b.Timestamp = time.Now().Add(-time.Hour).UnixMilli()
		b.Seq += uint64(i)
		sendTo(t, conn, "127.0.0.1:4718", forgeBeacon(t, discovery.BeaconVersion, b, late.Private))
	}
	waitMetric(t, victim, `yui_beacons_rejected_total{reason="timestamp"}`, 3)
	if !warnsAbout(victim.log.String(), "clock") {
		t.Fatalf("node rejected 3 beacons for clock skew without a warning:\n%s", tail(victim.log.String(), 10))
	}
}
