package alert

import (
	"errors"
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
)

func push(signed ...*Signed) *wire.AlertPush {
	msg := &wire.AlertPush{}
	for _, s := range signed {
		msg.Alerts = append(msg.Alerts, s.Raw)
	}
	return msg
}

func pushedTo(out []Outgoing) map[Peer]int {
	counts := make(map[Peer]int)
	for _, o := range out {
		if p, ok := o.Msg.(*wire.AlertPush); ok {
			counts[o.To] += len(p.Alerts)
		}
	}
	return counts
}

func TestMachineForwardsToAllButSender(t *testing.T) {
	city := testSigner("city", 1)
	m := New(Config{Authorities: testAuthorities(t, city)})
	for i := 1; i <= 3; i++ {
		m.NeighbourUp(epoch, peer(i))
	}
	m.Outbox()

	a := testAlert(t, city, 1, epoch)
	m.HandleMessage(epoch, peer(1), push(a))

	got := pushedTo(m.Outbox())
	if got[peer(1)] != 0 || got[peer(2)] != 1 || got[peer(3)] != 1 {
		t.Errorf("pushes by peer = %v, want one to each of peers 2 and 3", got)
	}
	ev := m.Events()
	if len(ev) != 1 || ev[0].Kind != Accepted || ev[0].From != peer(1) {
		t.Fatalf("events = %+v, want one Accepted from peer 1", ev)
	}

	// The same alert again is a duplicate: counted, not forwarded.
	m.HandleMessage(epoch, peer(2), push(a))
	if out := m.Outbox(); len(out) != 0 {
		t.Errorf("duplicate sent %d messages, want 0", len(out))
	}
	if c := m.Counters(); c.Duplicate != 1 || c.Accepted != 1 || c.Received != 2 {
		t.Errorf("counters = %+v, want 2 received, 1 accepted, 1 duplicate", c)
	}
}

func TestMachineRejectsByReason(t *testing.T) {
	city := testSigner("city", 1)
	thief := testSigner("city", 2)
	auths := testAuthorities(t, city)

	good := testAlert(t, city, 100, epoch)
	forged := resign(t, good, func(b *body) { b.Sequence = 101 }, thief)
	unsigned := resign(t, good, func(b *body) { b.Sequence = 102 }, Signer{})
	unknown := testAlert(t, testSigner("other", 3), 1, epoch)
	expired := testAlert(t, city, 103, epoch.Add(-2*time.Hour))
	future := testAlert(t, city, 104, epoch.Add(time.Hour))
	reused := resign(t, good, func(b *body) { b.Text = "Other text, same sequence." }, city)
	old := testAlert(t, city, 1, epoch)

	tests := []struct {
		name string
		s    *Signed
		want Reason
	}{
		{"forged", forged, ReasonForged},
		{"unsigned", unsigned, ReasonUnsigned},
		{"unknown authority", unknown, ReasonUnknownAuthority},
		{"expired", expired, ReasonExpired},
		{"issued in the future", future, ReasonNotYetValid},
		{"sequence reused", reused, ReasonReplayed},
		{"sequence far behind", old, ReasonReplayed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Config{Authorities: auths})
			m.NeighbourUp(epoch, peer(2))
			m.HandleMessage(epoch, peer(1), push(good))
			m.Events()
			m.Outbox()

			m.HandleMessage(epoch, peer(1), push(tt.s))
			if got := m.Counters().Rejected[tt.want]; got != 1 {
				t.Errorf("rejected[%s] = %d, want 1 (all: %v)", tt.want, got, m.Counters().Rejected)
			}
			if _, ok := m.held[tt.s.ID]; ok {
				t.Error("rejected alert is held")
			}
			if got := pushedTo(m.Outbox()); len(got) != 0 {
				t.Errorf("rejected alert was forwarded: %v", got)
			}
			ev := m.Events()
			if len(ev) != 1 || ev[0].Kind != Rejected || ReasonOf(ev[0].Err) != tt.want {
				t.Errorf("events = %+v, want one Rejected for %s", ev, tt.want)
			}
		})
	}
}

func TestMachineAcceptsWithinReorderWindow(t *testing.T) {
	city := testSigner("city", 1)
	m := New(Config{Authorities: testAuthorities(t, city), ReorderWindow: 5})
	m.HandleMessage(epoch, peer(1), push(testAlert(t, city, 10, epoch)))
	m.HandleMessage(epoch, peer(1), push(testAlert(t, city, 5, epoch)))
	m.HandleMessage(epoch, peer(1), push(testAlert(t, city, 4, epoch)))

	c := m.Counters()
	if c.Accepted != 2 {
		t.Errorf("accepted = %d, want 2 (sequences 10 and 5)", c.Accepted)
	}
	if c.Rejected[ReasonReplayed] != 1 {
		t.Errorf("replayed = %d, want 1 (sequence 4)", c.Rejected[ReasonReplayed])
	}
}

func TestMachinePublish(t *testing.T) {
	city := testSigner("city", 1)
	m := New(Config{Authorities: testAuthorities(t, city)})
	m.NeighbourUp(epoch, peer(1))
	m.Outbox()

	a := testAlert(t, city, 1, epoch)
	if err := m.Publish(epoch, a); err != nil {
		t.Fatal(err)
	}
	if got := pushedTo(m.Outbox()); got[peer(1)] != 1 {
		t.Errorf("pushes = %v, want one to peer 1", got)
	}
	if err := m.Publish(epoch, a); !errors.Is(err, ErrDuplicate) {
		t.Errorf("second Publish = %v, want %v", err, ErrDuplicate)
	}
	foreign := testAlert(t, testSigner("other", 2), 1, epoch)
	if err := m.Publish(epoch, foreign); !errors.Is(err, ErrUnknownAuthority) {
		t.Errorf("Publish of a foreign alert = %v, want %v", err, ErrUnknownAuthority)
	}
}

func TestMachineExpires(t *testing.T) {
	city := testSigner("city", 1)
	m := New(Config{Authorities: testAuthorities(t, city)})
	a := testAlert(t, city, 1, epoch)
	if err := m.Publish(epoch, a); err != nil {
		t.Fatal(err)
	}
	m.Events()
	if got := m.NextDeadline(); !got.Equal(a.Expires) {
		t.Errorf("NextDeadline = %s, want the expiry %s", got, a.Expires)
	}

	m.Tick(a.Expires.Add(-time.Millisecond))
	if len(m.Alerts(a.Expires.Add(-time.Millisecond))) != 1 {
		t.Error("alert dropped before it expired")
	}
	m.Tick(a.Expires)
	if n := len(m.Alerts(a.Expires)); n != 0 {
		t.Errorf("%d alerts held after expiry, want 0", n)
	}
	ev := m.Events()
	if len(ev) != 1 || ev[0].Kind != Dropped || ev[0].Alert.ID != a.ID {
		t.Errorf("events = %+v, want one Dropped", ev)
	}
	if c := m.Counters(); c.Expired != 1 || c.Held != 0 {
		t.Errorf("counters = %+v, want 1 expired, 0 held", c)
	}
}

func TestMachineEvictsLowestSequence(t *testing.T) {
	city := testSigner("city", 1)
	m := New(Config{Authorities: testAuthorities(t, city), MaxPerAuthority: 2})
	for seq := uint64(1); seq <= 3; seq++ {
		if err := m.Publish(epoch, testAlert(t, city, seq, epoch)); err != nil {
			t.Fatal(err)
		}
	}
	held := m.Alerts(epoch)
	if len(held) != 2 || held[0].Sequence != 2 || held[1].Sequence != 3 {
		t.Fatalf("held %d alerts, want sequences 2 and 3", len(held))
	}

	// The evicted alert coming back is a replay, or it would evict the
	// next one and circle forever.
	m.HandleMessage(epoch, peer(1), push(testAlert(t, city, 1, epoch)))
	if got := m.Counters().Rejected[ReasonReplayed]; got != 1 {
		t.Errorf("replayed = %d, want 1", got)
	}
}

func TestMachineRateLimitsSender(t *testing.T) {
	city := testSigner("city", 1)
	thief := testSigner("city", 2)
	m := New(Config{Authorities: testAuthorities(t, city), SenderBurst: 3, SenderRate: 1})

	// Forgeries spend the sender's tokens like any new alert.
	for seq := uint64(1); seq <= 5; seq++ {
		m.HandleMessage(epoch, peer(1), push(testAlert(t, thief, seq, epoch)))
	}
	c := m.Counters()
	if c.Rejected[ReasonUnknownAuthority] != 3 || c.Rejected[ReasonRateLimited] != 2 {
		t.Errorf("rejected = %v, want 3 unknown-authority, 2 rate-limited", c.Rejected)
	}

	// Another sender is not affected, and the bucket refills with time.
	m.HandleMessage(epoch, peer(2), push(testAlert(t, city, 1, epoch)))
	m.HandleMessage(epoch.Add(time.Second), peer(1), push(testAlert(t, city, 2, epoch)))
	if got := m.Counters().Accepted; got != 2 {
		t.Errorf("accepted = %d, want 2", got)
	}
}

func TestMachineRateLimitsAuthority(t *testing.T) {
	city := testSigner("city", 1)
	m := New(Config{Authorities: testAuthorities(t, city), AuthorityBurst: 2, AuthorityRate: 0.1})
	for seq := uint64(1); seq <= 4; seq++ {
		m.HandleMessage(epoch, peer(int(seq)), push(testAlert(t, city, seq, epoch)))
	}
	c := m.Counters()
	if c.Accepted != 2 || c.Rejected[ReasonRateLimited] != 2 {
		t.Errorf("accepted %d, rate-limited %d; want 2 and 2", c.Accepted, c.Rejected[ReasonRateLimited])
	}
}

func TestMachineRateLimitedAlertComesBack(t *testing.T) {
	city := testSigner("city", 1)
	cfg := Config{Authorities: testAuthorities(t, city), SenderBurst: 1, SenderRate: 0.01}
	net := newTestNet(t, cfg, 2)
	a, b := peer(0), peer(1)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := net.machines[a].Publish(net.now, testAlert(t, city, seq, epoch)); err != nil {
			t.Fatal(err)
		}
	}
	net.connect(a, b)
	net.run()
	if n := len(net.machines[b].held); n != 1 {
		t.Fatalf("b holds %d alerts after the first exchange, want 1", n)
	}

	// Summaries at each SyncInterval offer the rest again once b's bucket
	// for a has refilled.
	for range 4 {
		net.advance(2 * time.Minute)
	}
	if n := len(net.machines[b].held); n != 3 {
		t.Errorf("b holds %d alerts, want 3", n)
	}
}

func TestMachineSummarySendsOnlyMissing(t *testing.T) {
	city := testSigner("city", 1)
	net := newTestNet(t, Config{Authorities: testAuthorities(t, city)}, 2)
	a, b := peer(0), peer(1)
	shared := testAlert(t, city, 1, epoch)
	onlyA := testAlert(t, city, 2, epoch)
	onlyB := testAlert(t, city, 3, epoch)
	for _, p := range []struct {
		m *Machine
		s *Signed
	}{{net.machines[a], shared}, {net.machines[b], shared}, {net.machines[a], onlyA}, {net.machines[b], onlyB}} {
		if err := p.m.Publish(epoch, p.s); err != nil {
			t.Fatal(err)
		}
	}

	net.connect(a, b)
	net.run()
	for _, p := range []Peer{a, b} {
		c := net.machines[p].Counters()
		if c.Held != 3 {
			t.Errorf("%s holds %d alerts, want 3", p.Short(), c.Held)
		}
		if c.Received != 1 {
			t.Errorf("%s received %d alerts, want only the 1 it lacked", p.Short(), c.Received)
		}
	}
}

func TestMachineRestore(t *testing.T) {
	city := testSigner("city", 1)
	auths := testAuthorities(t, city)
	live := testAlert(t, city, 2, epoch)
	expired := testAlert(t, city, 1, epoch.Add(-2*time.Hour))

	m := New(Config{Authorities: auths})
	n := m.Restore(epoch, [][]byte{live.Raw, expired.Raw, []byte("junk"), live.Raw})
	if n != 1 {
		t.Errorf("Restore = %d, want 1", n)
	}
	if ev := m.Events(); len(ev) != 0 {
		t.Errorf("Restore reported %d events, want 0", len(ev))
	}
	if got := m.Alerts(epoch); len(got) != 1 || got[0].ID != live.ID {
		t.Errorf("alerts after Restore = %d, want the live one", len(got))
	}
}

func TestMachineUnreachableResends(t *testing.T) {
	city := testSigner("city", 1)
	m := New(Config{Authorities: testAuthorities(t, city), SyncInterval: time.Minute, RetryInterval: time.Second})
	m.NeighbourUp(epoch, peer(1))
	m.HandleMessage(epoch, peer(1), &wire.AlertSummary{})
	m.Outbox()
	a := testAlert(t, city, 1, epoch)
	if err := m.Publish(epoch, a); err != nil {
		t.Fatal(err)
	}
	m.Outbox()

	// The push failed: the next summary is due after RetryInterval, not
	// SyncInterval, and the peer's reply to it brings the alert again.
	m.Unreachable(epoch, peer(1))
	if got, want := m.NextDeadline(), epoch.Add(time.Second); !got.Equal(want) {
		t.Errorf("NextDeadline = %s, want %s", got, want)
	}
	m.Unreachable(epoch, peer(1))
	if got, want := m.NextDeadline(), epoch.Add(time.Second); !got.Equal(want) {
		t.Errorf("NextDeadline after a second failure = %s, want still %s", got, want)
	}
	m.Tick(epoch.Add(time.Second))
	out := m.Outbox()
	if len(out) != 1 || out[0].Msg.Type() != wire.TypeAlertSummary {
		t.Fatalf("Tick sent %v, want one summary", out)
	}
	m.HandleMessage(epoch.Add(2*time.Second), peer(1), &wire.AlertSummary{})
	if got := pushedTo(m.Outbox()); got[peer(1)] != 1 {
		t.Errorf("pushes after the peer's summary = %v, want the alert again", got)
	}
}

func TestMachineBoundsStrangers(t *testing.T) {
	city := testSigner("city", 1)
	thief := testSigner("city", 2)
	m := New(Config{Authorities: testAuthorities(t, city), MaxStrangers: 4, SenderBurst: 2, SenderRate: 0.01})

	// One forgery from each of 100 made-up senders: the first 4 get their
	// own buckets, and the other 96 share one that empties after 2.
	for i := range 100 {
		m.HandleMessage(epoch, peer(100+i), push(testAlert(t, thief, uint64(i+1), epoch)))
	}
	if n := len(m.strangers); n != 4 {
		t.Errorf("%d stranger buckets, want 4", n)
	}
	c := m.Counters()
	if got := c.Rejected[ReasonUnknownAuthority]; got != 6 {
		t.Errorf("checked %d forgeries, want 6", got)
	}
	if got := c.Rejected[ReasonRateLimited]; got != 94 {
		t.Errorf("rate-limited %d, want 94", got)
	}
}
