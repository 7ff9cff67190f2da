package discovery

import (
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
)

func peerBeacon(id identity.NodeID, seq uint64, replyRequested bool) *Beacon {
	return &Beacon{ID: id, ListenPort: 7000, Seq: seq, ReplyRequested: replyRequested}
}

func TestPeerTableNewPeer(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	id := identity.KeyID([]byte("a"))

	got := table.observe(testNow, peerBeacon(id, 1, false), src)
	want := verdict{report: true, reply: true}
	if got != want {
		t.Errorf("first beacon: verdict %+v, want %+v", got, want)
	}

	got = table.observe(testNow.Add(5*time.Second), peerBeacon(id, 2, false), src)
	if got != (verdict{}) {
		t.Errorf("second beacon within window: verdict %+v, want nothing to do", got)
	}
}

func TestPeerTableReplyRequested(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	id := identity.KeyID([]byte("a"))

	got := table.observe(testNow, peerBeacon(id, 1, true), src)
	if want := (verdict{report: true, reply: true, broadcast: true}); got != want {
		t.Errorf("joining beacon: verdict %+v, want %+v", got, want)
	}

	// A second request within the cooldown gets no reply.
	got = table.observe(testNow.Add(100*time.Millisecond), peerBeacon(id, 2, true), src)
	if got != (verdict{}) {
		t.Errorf("request within cooldown: verdict %+v, want nothing to do", got)
	}

	got = table.observe(testNow.Add(2*time.Second), peerBeacon(id, 3, true), src)
	if want := (verdict{reply: true, broadcast: true}); got != want {
		t.Errorf("request after cooldown: verdict %+v, want %+v", got, want)
	}
}

func TestPeerTableDuplicate(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	id := identity.KeyID([]byte("a"))

	table.observe(testNow, peerBeacon(id, 5, false), src)
	for _, seq := range []uint64{5, 4} {
		got := table.observe(testNow.Add(time.Second), peerBeacon(id, seq, false), src)
		if !got.duplicate {
			t.Errorf("seq %d after 5: verdict %+v, want duplicate", seq, got)
		}
	}

	// The same beacon over another path is not a duplicate.
	other := netip.MustParseAddrPort("[fe80::1%eth0]:40000")
	if got := table.observe(testNow, peerBeacon(id, 5, false), other); got.duplicate {
		t.Errorf("same beacon over IPv6: verdict %+v, want accepted", got)
	}
}

func TestPeerTableRestart(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	id := identity.KeyID([]byte("a"))

	table.observe(testNow, peerBeacon(id, 90, false), netip.MustParseAddrPort("192.0.2.1:40000"))

	// A restarted process sends from a new port and counts from 1 again.
	got := table.observe(testNow.Add(3*time.Second), peerBeacon(id, 1, false), netip.MustParseAddrPort("192.0.2.1:40001"))
	if want := (verdict{reply: true}); got != want {
		t.Errorf("beacon after restart: verdict %+v, want %+v", got, want)
	}
}

func TestPeerTableWindow(t *testing.T) {
	window := 30 * time.Second
	table := newPeerTable(window, time.Second, 16)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	id := identity.KeyID([]byte("a"))

	table.observe(testNow, peerBeacon(id, 1, false), src)

	// A peer heard every 5 s is reported again once a window and gets no
	// reply.
	var reports int
	for i := 1; i <= 12; i++ {
		v := table.observe(testNow.Add(time.Duration(i)*5*time.Second), peerBeacon(id, uint64(i+1), false), src)
		if v.report {
			reports++
		}
		if v.reply {
			t.Errorf("beacon %d of a peer heard every 5 s got a reply", i+1)
		}
	}
	if reports != 2 {
		t.Errorf("a peer heard for 60 s was reported again %d times, want 2", reports)
	}

	// Silent for longer than the window: new again.
	got := table.observe(testNow.Add(60*time.Second+window+time.Second), peerBeacon(id, 20, false), src)
	if want := (verdict{report: true, reply: true}); got != want {
		t.Errorf("beacon after silence: verdict %+v, want %+v", got, want)
	}
}

func TestPeerTableListenPortChange(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	id := identity.KeyID([]byte("a"))

	table.observe(testNow, peerBeacon(id, 1, false), src)
	b := peerBeacon(id, 2, false)
	b.ListenPort = 7001
	if got := table.observe(testNow.Add(time.Second), b, src); !got.report {
		t.Errorf("new listen port: verdict %+v, want report", got)
	}
}

func TestPeerTableBounded(t *testing.T) {
	const max = 8
	table := newPeerTable(30*time.Second, time.Second, max)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	for i := range 3 * max {
		id := identity.KeyID([]byte{byte(i)})
		table.observe(testNow.Add(time.Duration(i)*time.Millisecond), peerBeacon(id, 1, false), src)
	}
	if table.len() != max {
		t.Errorf("table holds %d paths, limit %d", table.len(), max)
	}

	// The most recent peer is still known.
	last := identity.KeyID([]byte{byte(3*max - 1)})
	if got := table.observe(testNow.Add(time.Second), peerBeacon(last, 1, false), src); !got.duplicate {
		t.Errorf("most recent peer was evicted: verdict %+v", got)
	}
}

func TestPeerTablePrune(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	table.observe(testNow, peerBeacon(identity.KeyID([]byte("old")), 1, false), src)
	table.observe(testNow.Add(20*time.Second), peerBeacon(identity.KeyID([]byte("new")), 1, false), src)

	table.prune(testNow.Add(40 * time.Second))
	if table.len() != 1 {
		t.Errorf("after prune the table holds %d paths, want 1", table.len())
	}
}
