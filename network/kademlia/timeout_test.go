package kademlia

import (
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
)

func TestRTTVariance(t *testing.T) {
	// RFC 6298, section 2: the first sample R sets SRTT = R and
	// RTTVAR = R/2; then RTTVAR += (|SRTT - R| - RTTVAR)/4 and
	// SRTT += (R - SRTT)/8.
	var e entry
	steps := []struct {
		sample, srtt, rttvar time.Duration
	}{
		{100 * time.Millisecond, 100 * time.Millisecond, 50 * time.Millisecond},
		{20 * time.Millisecond, 90 * time.Millisecond, 57500 * time.Microsecond},
		{90 * time.Millisecond, 90 * time.Millisecond, 43125 * time.Microsecond},
	}
	for i, s := range steps {
		e.recordRTT(s.sample)
		if got := time.Duration(e.rtt) * time.Microsecond; got != s.srtt {
			t.Errorf("sample %d: SRTT = %v, want %v", i, got, s.srtt)
		}
		if got := time.Duration(e.rttvar) * time.Microsecond; got != s.rttvar {
			t.Errorf("sample %d: RTTVAR = %v, want %v", i, got, s.rttvar)
		}
	}
}

func TestEntryTimeout(t *testing.T) {
	const lo, hi = 250 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"unmeasured", nil, hi},
		{"fast contact gets the floor", []time.Duration{2 * time.Millisecond, 3 * time.Millisecond}, lo},
		{"SRTT + 4 RTTVAR", []time.Duration{100 * time.Millisecond}, 300 * time.Millisecond},
		{"jittery contact", []time.Duration{100 * time.Millisecond, 20 * time.Millisecond}, 320 * time.Millisecond},
		{"slow contact gets the ceiling", []time.Duration{800 * time.Millisecond}, hi},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e entry
			for _, s := range tt.samples {
				e.recordRTT(s)
			}
			if got := e.timeout(lo, hi); got != tt.want {
				t.Errorf("timeout = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOutgoingTimeoutAdapts(t *testing.T) {
	m := newTestMachine(Config{})
	cfg := m.Config()
	measured := contactAt(1, 1)
	unmeasured := contactAt(2, 1)
	measure(t, m, measured, 5*time.Millisecond)
	hear(t, m, t0, unmeasured)
	m.Outbox()

	now := t0.Add(time.Second)
	m.Lookup(now, idAt(0, 0))
	timeouts := make(map[string]time.Duration)
	for _, o := range findNodes(m.Outbox()) {
		timeouts[o.To.Addr.String()] = o.Timeout
	}
	if got := timeouts[measured.Addr.String()]; got != cfg.MinRequestTimeout {
		t.Errorf("request to a contact with a 5ms round trip has timeout %v, want MinRequestTimeout %v", got, cfg.MinRequestTimeout)
	}
	if got := timeouts[unmeasured.Addr.String()]; got != cfg.RequestTimeout {
		t.Errorf("request to an unmeasured contact has timeout %v, want RequestTimeout %v", got, cfg.RequestTimeout)
	}

	// The Machine itself fails each request at its own deadline.
	if got, want := m.NextDeadline(), now.Add(cfg.MinRequestTimeout); !got.Equal(want) {
		t.Errorf("NextDeadline = %v, want %v", got, want)
	}
	m.Tick(now.Add(cfg.MinRequestTimeout - time.Millisecond))
	if got := peer(t, m, measured.ID).Failures; got != 0 {
		t.Fatalf("request failed %v before its timeout", time.Millisecond)
	}
	m.Tick(now.Add(cfg.MinRequestTimeout))
	if got := peer(t, m, measured.ID).Failures; got != 1 {
		t.Errorf("Failures = %d at the short timeout, want 1", got)
	}
	if got := peer(t, m, unmeasured.ID).Failures; got != 0 {
		t.Errorf("unmeasured contact failed at %v, before RequestTimeout", cfg.MinRequestTimeout)
	}
}

func TestMinRequestTimeoutDefaults(t *testing.T) {
	self := wire.Contact{ID: selfID, Addr: netip.MustParseAddrPort("192.0.2.1:1")}
	tests := []struct {
		cfg  Config
		want time.Duration
	}{
		{Config{}, 250 * time.Millisecond},
		{Config{MinRequestTimeout: 50 * time.Millisecond}, 50 * time.Millisecond},
		{Config{RequestTimeout: 100 * time.Millisecond}, 100 * time.Millisecond},
		{Config{RequestTimeout: time.Second, MinRequestTimeout: 3 * time.Second}, time.Second},
	}
	for _, tt := range tests {
		if got := New(self, tt.cfg, 1, t0).Config().MinRequestTimeout; got != tt.want {
			t.Errorf("Config %+v: MinRequestTimeout = %v, want %v", tt.cfg, got, tt.want)
		}
	}
}

func TestFailedContactCheckedAtOnce(t *testing.T) {
	m := newTestMachine(Config{MaxFailures: 3})
	c := contactAt(4, 1)
	measure(t, m, c, 5*time.Millisecond)

	now := t0.Add(time.Minute)
	m.Lookup(now, c.ID)
	if n := failRequests(m, now, c.ID); n != 1 {
		t.Fatalf("lookup sent %d requests to the contact, want 1", n)
	}
	m.Events()

	// Long before PingInterval, the failure makes the contact due for a
	// check, and each failed check brings the next.
	for want := 2; want <= 3; want++ {
		if d := m.NextDeadline(); d.After(now) {
			t.Fatalf("NextDeadline = %v after a failure, want now (%v)", d, now)
		}
		m.Tick(now)
		if n := failRequests(m, now, c.ID); n != 1 {
			t.Fatalf("Tick sent %d pings to the failed contact, want 1", n)
		}
		if want < 3 && peer(t, m, c.ID).Failures != want {
			t.Fatalf("Failures = %d, want %d", peer(t, m, c.ID).Failures, want)
		}
	}
	if hasPeer(m, c.ID) {
		t.Error("contact is still in the table after MaxFailures failed checks")
	}
}

func TestFailedContactRecoversOnPong(t *testing.T) {
	m := newTestMachine(Config{})
	c := contactAt(4, 1)
	measure(t, m, c, 5*time.Millisecond)

	now := t0.Add(time.Minute)
	m.Lookup(now, c.ID)
	failRequests(m, now, c.ID)
	m.Tick(now)
	pings := pingsTo(m.Outbox(), c.ID)
	if len(pings) != 1 {
		t.Fatalf("Tick sent %d pings after a failure, want 1", len(pings))
	}
	m.HandleResponse(now.Add(5*time.Millisecond), c, pings[0].Request, &wire.Pong{})
	if got := peer(t, m, c.ID).Failures; got != 0 {
		t.Errorf("Failures = %d after the check was answered, want 0", got)
	}
	m.Tick(now.Add(time.Second))
	if pings := pingsTo(m.Outbox(), c.ID); len(pings) != 0 {
		t.Errorf("Tick sent %d more pings to a contact that answered", len(pings))
	}
}
