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
	want := verdict{report: true, reason: reasonNew, reply: true}
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
	if want := (verdict{report: true, reason: reasonNew, reply: true, broadcast: true}); got != want {
		t.Errorf("joining beacon: verdict %+v, want %+v", got, want)
	}

	// A second request within the cooldown gets no reply.
	got = table.observe(testNow.Add(100*time.Millisecond), peerBeacon(id, 2, true), src)
	if got != (verdict{}) {
		t.Errorf("request within cooldown: verdict %+v, want nothing to do", got)
	}

	// A peer that joins another link requests replies again. It is
	// reported at once, because its neighbours there may have evicted it.
	got = table.observe(testNow.Add(2*time.Second), peerBeacon(id, 3, true), src)
	if want := (verdict{report: true, reason: reasonRequested, reply: true, broadcast: true}); got != want {
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
	if want := (verdict{report: true, reason: reasonRestarted, reply: true}); got != want {
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
			if v.reason != reasonRefresh {
				t.Errorf("beacon %d of a peer heard every 5 s reported with reason %q, want %q", i+1, v.reason, reasonRefresh)
			}
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
	if want := (verdict{report: true, reason: reasonSilent, reply: true}); got != want {
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
	if got := table.observe(testNow.Add(time.Second), b, src); !got.report || got.reason != reasonPort {
		t.Errorf("new listen port: verdict %+v, want report with reason %q", got, reasonPort)
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

// TestPeerTableSilence covers a peer cut off for a while, shorter than the
// window: once it is heard again it is reported and gets a reply at once.
func TestPeerTableSilence(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	table.silence = 12 * time.Second
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	id := identity.KeyID([]byte("a"))

	table.observe(testNow, peerBeacon(id, 1, false), src)
	if got := table.observe(testNow.Add(6*time.Second), peerBeacon(id, 2, false), src); got != (verdict{}) {
		t.Errorf("beacon after 6 s: verdict %+v, want nothing to do", got)
	}

	got := table.observe(testNow.Add(19*time.Second), peerBeacon(id, 3, false), src)
	if want := (verdict{report: true, reason: reasonSilent, reply: true}); got != want {
		t.Errorf("beacon after 13 s of silence: verdict %+v, want %+v", got, want)
	}
}

// TestPeerTableRequestReportCooldown sends a request for replies in every
// beacon: reports repeat no more often than the cooldown.
func TestPeerTableRequestReportCooldown(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	id := identity.KeyID([]byte("a"))

	var reports int
	for i := range 50 {
		at := testNow.Add(time.Duration(i) * 100 * time.Millisecond)
		if table.observe(at, peerBeacon(id, uint64(i+1), true), src).report {
			reports++
		}
	}
	// 50 beacons over 4.9 s with a cooldown of 1 s.
	if reports != 5 {
		t.Errorf("reported %d times in 4.9 s, want 5", reports)
	}
}

func TestPeerTableAdmission(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	table.admission = newTokenBucket(1, 3, testNow)
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	known := identity.KeyID([]byte("known"))
	table.observe(testNow, peerBeacon(known, 1, false), src)

	// Two more new peers fit the burst of 3, the next ones do not.
	for i := range 4 {
		id := identity.KeyID([]byte{byte(i)})
		got := table.observe(testNow, peerBeacon(id, 1, false), src)
		if limited := i >= 2; got.limited != limited {
			t.Errorf("new peer %d: verdict %+v, want limited %v", i, got, limited)
		}
		if got.limited && (got.report || got.reply) {
			t.Errorf("limited new peer %d: verdict %+v, want nothing else", i, got)
		}
	}
	if table.len() != 3 {
		t.Errorf("table holds %d paths, want 3: limited peers must not be recorded", table.len())
	}

	// A known peer is never limited, even with the bucket empty.
	if got := table.observe(testNow.Add(time.Millisecond), peerBeacon(known, 2, false), src); got.limited {
		t.Errorf("known peer: verdict %+v, want not limited", got)
	}

	// A limited peer is new again at its next beacon, once a token is back.
	late := identity.KeyID([]byte{3})
	got := table.observe(testNow.Add(time.Second), peerBeacon(late, 2, false), src)
	if want := (verdict{report: true, reason: reasonNew, reply: true}); got != want {
		t.Errorf("limited peer a second later: verdict %+v, want %+v", got, want)
	}
}

// TestPeerTableRelearn marks the paths over one link, as a node does when
// that link comes back: their next beacon is fresh, other paths are not.
func TestPeerTableRelearn(t *testing.T) {
	table := newPeerTable(30*time.Second, time.Second, 16)
	onLink := netip.MustParseAddrPort("192.0.2.1:40000")
	elsewhere := netip.MustParseAddrPort("198.51.100.1:40000")
	a := identity.KeyID([]byte("a"))
	b := identity.KeyID([]byte("b"))
	table.observe(testNow, peerBeacon(a, 1, false), onLink)
	table.observe(testNow, peerBeacon(b, 1, false), elsewhere)

	link := netip.MustParsePrefix("192.0.2.0/24")
	table.relearn(link.Contains)

	later := testNow.Add(3 * time.Second)
	got := table.observe(later, peerBeacon(a, 2, false), onLink)
	if want := (verdict{report: true, reason: reasonRelearn, reply: true}); got != want {
		t.Errorf("path over the link that came back: verdict %+v, want %+v", got, want)
	}
	if got := table.observe(later, peerBeacon(b, 2, false), elsewhere); got != (verdict{}) {
		t.Errorf("path over another link: verdict %+v, want nothing to do", got)
	}

	// The mark lasts for one beacon only.
	if got := table.observe(later.Add(time.Second), peerBeacon(a, 3, false), onLink); got != (verdict{}) {
		t.Errorf("second beacon after the link came back: verdict %+v, want nothing to do", got)
	}
}
