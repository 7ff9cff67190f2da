package kademlia

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// findNodes returns the FindNode requests in out.
func findNodes(out []Outgoing) []Outgoing {
	var reqs []Outgoing
	for _, o := range out {
		if _, ok := o.Msg.(*wire.FindNode); ok {
			reqs = append(reqs, o)
		}
	}
	return reqs
}

func TestLookupKeepsAlphaInFlight(t *testing.T) {
	m := newTestMachine(Config{K: 4, Alpha: 2})
	for i := range 8 {
		hear(t, m, t0, contactAt(i, 1))
	}
	m.Outbox()

	id := m.Lookup(t0, idAt(0, 0))
	reqs := findNodes(m.Outbox())
	if len(reqs) != 2 {
		t.Fatalf("lookup started with %d requests, want Alpha = 2", len(reqs))
	}
	for _, r := range reqs {
		if r.Request == 0 {
			t.Fatal("FindNode carries request ID 0")
		}
	}
	if want := idAt(0, 1); reqs[0].To.ID != want {
		t.Fatalf("first request went to %v, want the closest contact %v", reqs[0].To.ID, want)
	}

	// While the closest node has not responded, each response frees a slot
	// for the next unqueried node among the K closest.
	closest, reqs := reqs[0], reqs[1:]
	queried := 2
	for len(reqs) > 0 {
		r := reqs[0]
		reqs = reqs[1:]
		m.HandleResponse(t0.Add(time.Millisecond), r.To, r.Request, &wire.Nodes{})
		next := findNodes(m.Outbox())
		queried += len(next)
		reqs = append(reqs, next...)
		if len(reqs)+1 > 2 {
			t.Fatalf("%d requests in flight, want at most Alpha = 2", len(reqs)+1)
		}
	}
	m.HandleResponse(t0.Add(time.Millisecond), closest.To, closest.Request, &wire.Nodes{})
	if next := findNodes(m.Outbox()); len(next) != 0 {
		t.Errorf("lookup sent %d requests after the last of the K closest responded, want 0", len(next))
	}

	res := lookupDone(t, m.Events(), id)
	if queried != 4 || res.Queried != 4 {
		t.Errorf("lookup queried %d nodes (result says %d), want exactly K = 4", queried, res.Queried)
	}
	if len(res.Closest) != 4 {
		t.Errorf("result has %d nodes, want 4", len(res.Closest))
	}
	for i, c := range res.Closest {
		if i > 0 && compareDistance(res.Target, res.Closest[i-1].ID, c.ID) >= 0 {
			t.Errorf("result is not ordered by distance at %d", i)
		}
	}
}

// TestLookupQueriesRestNearTarget checks that a lookup queries the rest of
// the K closest nodes at once when the closest node has responded without
// naming a closer one, and Alpha at a time before.
func TestLookupQueriesRestNearTarget(t *testing.T) {
	m := newTestMachine(Config{K: 4, Alpha: 1})
	for i := range 8 {
		hear(t, m, t0, contactAt(i, 1))
	}
	m.Outbox()
	target := idAt(0, 0)
	closer := wire.Contact{ID: target, Addr: addrN(900)}

	id := m.Lookup(t0, target)
	reqs := findNodes(m.Outbox())
	if len(reqs) != 1 {
		t.Fatalf("lookup started with %d requests, want Alpha = 1", len(reqs))
	}

	m.HandleResponse(t0.Add(time.Millisecond), reqs[0].To, reqs[0].Request, &wire.Nodes{Contacts: []wire.Contact{closer}})
	reqs = findNodes(m.Outbox())
	if len(reqs) != 1 || reqs[0].To.ID != closer.ID {
		t.Fatalf("after a response naming a closer node the lookup sent %v, want one request to %v", reqs, closer.ID)
	}

	m.HandleResponse(t0.Add(2*time.Millisecond), reqs[0].To, reqs[0].Request, &wire.Nodes{})
	reqs = findNodes(m.Outbox())
	if len(reqs) != 2 {
		t.Fatalf("after the closest node responded the lookup sent %d requests, want the 2 unqueried of the K closest", len(reqs))
	}

	for _, r := range reqs {
		m.HandleResponse(t0.Add(3*time.Millisecond), r.To, r.Request, &wire.Nodes{})
	}
	res := lookupDone(t, m.Events(), id)
	if res.Queried != 4 {
		t.Errorf("lookup queried %d nodes, want K = 4", res.Queried)
	}
	if len(res.Closest) == 0 || res.Closest[0].ID != target {
		t.Errorf("closest result %v, want %v", res.Closest, target)
	}
}

func TestLookupPathAndHops(t *testing.T) {
	m := newTestMachine(Config{Alpha: 1})
	target := idAt(0, 0)
	a := contactAt(9, 1) // in the table, far from the target
	b := wire.Contact{ID: idAt(0, 0x0f00), Addr: addrN(901)}
	c := wire.Contact{ID: idAt(0, 0x00f0), Addr: addrN(902)}
	d := wire.Contact{ID: idAt(0, 0x0001), Addr: addrN(903)}
	hear(t, m, t0, a)
	m.Outbox()

	id := m.Lookup(t0, target)
	chain := []wire.Contact{a, b, c, d}
	for hop, node := range chain {
		reqs := findNodes(m.Outbox())
		if len(reqs) != 1 || reqs[0].To.ID != node.ID {
			t.Fatalf("hop %d: requests %v, want one to %v", hop, reqs, node)
		}
		path := reqs[0].Msg.(*wire.FindNode).Path
		if !slices.Equal(path, chain[:hop]) {
			t.Errorf("hop %d: path %v, want the referral chain %v, nearest hop last", hop, path, chain[:hop])
		}
		var next []wire.Contact
		if hop+1 < len(chain) {
			next = chain[hop+1 : hop+2]
		}
		m.HandleResponse(t0.Add(time.Duration(hop+1)*time.Millisecond), node, reqs[0].Request, &wire.Nodes{Contacts: next})
	}

	res := lookupDone(t, m.Events(), id)
	if res.Hops != 4 {
		t.Errorf("Hops = %d, want 4 (d was named by c, named by b, named by a from the table)", res.Hops)
	}
	want := []identity.NodeID{d.ID, c.ID, b.ID, a.ID}
	var got []identity.NodeID
	for _, x := range res.Closest {
		got = append(got, x.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Closest = %v, want %v", got, want)
	}
	for _, x := range chain {
		if !hasPeer(m, x.ID) {
			t.Errorf("node %v answered the lookup but is not in the table", x)
		}
	}
}

func TestLookupHopsFromTable(t *testing.T) {
	m := newTestMachine(Config{K: 4})
	for i := range 4 {
		hear(t, m, t0, contactAt(0, uint16(i+1)))
	}
	m.Outbox()

	// Every contact is in the table and names no one new: one round.
	id := m.Lookup(t0, idAt(0, 0))
	for out := m.Outbox(); len(out) > 0; out = m.Outbox() {
		for _, o := range findNodes(out) {
			m.HandleResponse(t0.Add(time.Millisecond), o.To, o.Request, &wire.Nodes{})
		}
	}
	if res := lookupDone(t, m.Events(), id); res.Hops != 1 || len(res.Closest) != 4 {
		t.Errorf("Hops = %d with %d closest, want 1 with 4 (all from the table)", res.Hops, len(res.Closest))
	}

	// A lookup that found no node took no round.
	empty := newTestMachine(Config{})
	id = empty.Lookup(t0, idAt(0, 0))
	if res := lookupDone(t, empty.Events(), id); res.Hops != 0 {
		t.Errorf("Hops = %d for a lookup with an empty table, want 0", res.Hops)
	}
}

func TestLookupPathIsBounded(t *testing.T) {
	m := newTestMachine(Config{Alpha: 1})
	target := idAt(0, 0)
	first := contactAt(9, 1)
	hear(t, m, t0, first)
	m.Outbox()

	m.Lookup(t0, target)
	// Each response names a node one step closer. After more than MaxPath
	// steps the path keeps only the nearest MaxPath hops.
	for step := range wire.MaxPath + 4 {
		reqs := findNodes(m.Outbox())
		if len(reqs) != 1 {
			t.Fatalf("step %d: %d requests, want 1", step, len(reqs))
		}
		path := reqs[0].Msg.(*wire.FindNode).Path
		if want := min(step, wire.MaxPath); len(path) != want {
			t.Fatalf("step %d: path has %d hops, want %d", step, len(path), want)
		}
		// Distance 2^(20-step) from the target: each one is closer.
		nextID := target
		flipBit(&nextID, 235+step)
		next := wire.Contact{ID: nextID, Addr: addrN(1000 + step)}
		m.HandleResponse(t0, reqs[0].To, reqs[0].Request, &wire.Nodes{Contacts: []wire.Contact{next}})
		if req := findNodes(slices.Clone(m.outbox)); len(req) == 1 {
			if got := req[0].Msg.(*wire.FindNode).Path; got[len(got)-1].ID != reqs[0].To.ID {
				t.Fatalf("step %d: nearest hop is %s, want the responder %s", step, got[len(got)-1].ID.Short(), reqs[0].To.ID.Short())
			}
		}
	}
}

func TestLookupPrefersFastContacts(t *testing.T) {
	m := newTestMachine(Config{Alpha: 1})
	target := idAt(0, 0)
	// Both share 248 bits with the target, so they are in one distance
	// class; slow is the closer by XOR.
	slow := wire.Contact{ID: idAt(0, 0x0081), Addr: addrN(1)}
	fast := wire.Contact{ID: idAt(0, 0x00c0), Addr: addrN(2)}
	measure(t, m, slow, 80*time.Millisecond)
	measure(t, m, fast, 5*time.Millisecond)
	if got := peer(t, m, fast.ID).RTT; got != 5*time.Millisecond {
		t.Fatalf("fast contact RTT = %v, want 5ms", got)
	}

	m.Lookup(t0.Add(time.Second), target)
	reqs := findNodes(m.Outbox())
	if len(reqs) != 1 || reqs[0].To.ID != fast.ID {
		t.Fatalf("first query went to %v, want the faster %v", reqs, fast)
	}
}

// measure makes c respond to a verification ping after rtt, which inserts
// it with that round-trip time.
func measure(t *testing.T, m *Machine, c wire.Contact, rtt time.Duration) {
	t.Helper()
	m.AddContact(t0, c)
	pings := pingsTo(m.Outbox(), c.ID)
	if len(pings) != 1 {
		t.Fatalf("AddContact sent %d pings, want 1", len(pings))
	}
	m.HandleResponse(t0.Add(rtt), c, pings[0].Request, &wire.Pong{})
}

func TestLookupPrefersCloserClassOverSpeed(t *testing.T) {
	m := newTestMachine(Config{Alpha: 1})
	target := idAt(0, 0)
	fastFar := wire.Contact{ID: idAt(1, 0), Addr: addrN(1)}
	slowNear := wire.Contact{ID: idAt(0, 0x0100), Addr: addrN(2)}
	measure(t, m, fastFar, time.Millisecond)
	measure(t, m, slowNear, 500*time.Millisecond)

	m.Lookup(t0.Add(time.Second), target)
	reqs := findNodes(m.Outbox())
	if len(reqs) != 1 || reqs[0].To.ID != slowNear.ID {
		t.Fatalf("first query went to %v, want the closer class %v", reqs, slowNear)
	}
}

func TestLookupPrefersFewerFailures(t *testing.T) {
	m := newTestMachine(Config{Alpha: 1})
	target := idAt(0, 0)
	// One distance class; flaky is the closer and the faster.
	flaky := wire.Contact{ID: idAt(0, 0x0081), Addr: addrN(1)}
	steady := wire.Contact{ID: idAt(0, 0x00c0), Addr: addrN(2)}
	measure(t, m, flaky, time.Millisecond)
	measure(t, m, steady, 50*time.Millisecond)
	m.recordFailure(0, flaky)

	m.Lookup(t0.Add(time.Second), target)
	reqs := findNodes(m.Outbox())
	if len(reqs) != 1 || reqs[0].To.ID != steady.ID {
		t.Fatalf("first query went to %v, want the contact without failures %v", reqs, steady)
	}
}

func TestRTTMovingAverage(t *testing.T) {
	m := newTestMachine(Config{})
	c := contactAt(2, 1)
	measure(t, m, c, 100*time.Millisecond)

	now := t0.Add(m.Config().PingInterval + time.Second)
	m.Tick(now)
	pings := pingsTo(m.Outbox(), c.ID)
	if len(pings) != 1 {
		t.Fatalf("Tick sent %d liveness pings, want 1", len(pings))
	}
	m.HandleResponse(now.Add(20*time.Millisecond), c, pings[0].Request, &wire.Pong{})

	// 100ms + (20ms - 100ms) / 8 = 90ms.
	if got := peer(t, m, c.ID).RTT; got != 90*time.Millisecond {
		t.Errorf("RTT = %v, want 90ms", got)
	}
	p := peer(t, m, c.ID)
	if !p.FirstSeen.Equal(t0.Add(100*time.Millisecond)) || !p.LastSeen.Equal(now.Add(20*time.Millisecond)) {
		t.Errorf("FirstSeen %v, LastSeen %v; want the first and last responses", p.FirstSeen, p.LastSeen)
	}
}

func TestLivenessPingsBounded(t *testing.T) {
	m := newTestMachine(Config{K: 20, LivenessPings: 3})
	for i := range 10 {
		hear(t, m, t0, contactAt(i%4, uint16(i)))
	}
	m.Outbox()

	now := t0.Add(m.Config().PingInterval - time.Second)
	m.Tick(now)
	if out := m.Outbox(); len(out) != 0 {
		t.Fatalf("Tick before PingInterval sent %d messages", len(out))
	}
	if got, want := m.NextDeadline(), t0.Add(m.Config().PingInterval); !got.Equal(want) {
		t.Errorf("NextDeadline = %v, want %v (when the first contact falls silent)", got, want)
	}

	now = t0.Add(m.Config().PingInterval)
	m.Tick(now)
	out := m.Outbox()
	if len(out) != 3 {
		t.Fatalf("Tick sent %d liveness pings, want LivenessPings = 3", len(out))
	}
	// With the budget spent, the next deadline is the pings' timeout, not
	// the overdue contacts.
	if got, want := m.NextDeadline(), now.Add(m.Config().RequestTimeout); !got.Equal(want) {
		t.Errorf("NextDeadline = %v, want %v", got, want)
	}

	m.HandleResponse(now.Add(time.Millisecond), out[0].To, out[0].Request, &wire.Pong{})
	if got := m.NextDeadline(); got.After(now.Add(time.Millisecond)) {
		t.Errorf("NextDeadline = %v after a ping returned, want overdue", got)
	}
	m.Tick(now.Add(time.Millisecond))
	if more := m.Outbox(); len(more) != 1 {
		t.Errorf("Tick sent %d more pings, want 1 for the freed slot", len(more))
	}
}

func TestBucketRefresh(t *testing.T) {
	m := newTestMachine(Config{})
	for _, cpl := range []int{0, 2, 5} {
		hear(t, m, t0, contactAt(cpl, 1))
	}
	m.Outbox()

	interval := m.Config().RefreshInterval
	// A lookup into bucket 2 halfway through keeps it fresh.
	m.Lookup(t0.Add(interval/2), idAt(2, 77))
	respondNodes(m, t0.Add(interval/2), nil)
	m.Events()

	m.Tick(t0.Add(interval))
	refreshed := map[int]bool{}
	for _, r := range findNodes(m.Outbox()) {
		refreshed[m.bucketIndex(r.Msg.(*wire.FindNode).Target)] = true
	}
	for _, idx := range []int{0, 1, 3, 4, 5} {
		if !refreshed[idx] {
			t.Errorf("bucket %d was not refreshed after RefreshInterval", idx)
		}
	}
	if refreshed[2] {
		t.Error("bucket 2 was refreshed although a lookup entered it")
	}
	if len(refreshed) != 5 {
		t.Errorf("refreshed buckets %v, want 0, 1, 3, 4 and 5", refreshed)
	}
}

func TestBootstrapRefreshesFarBuckets(t *testing.T) {
	m := newTestMachine(Config{})
	seed := contactAt(0, 1)
	neighbour := contactAt(3, 1)

	m.AddContact(t0, seed)
	id := m.Bootstrap(t0)
	reqs := findNodes(m.Outbox())
	if len(reqs) != 1 || reqs[0].To.ID != seed.ID || reqs[0].Msg.(*wire.FindNode).Target != selfID {
		t.Fatalf("Bootstrap sent %v, want a FindNode for the node's own ID to the seed", reqs)
	}

	m.HandleResponse(t0.Add(time.Millisecond), seed, reqs[0].Request, &wire.Nodes{Contacts: []wire.Contact{neighbour}})
	reqs = findNodes(m.Outbox())
	if m.Joined() {
		t.Error("Joined() = true while the join lookup runs")
	}
	m.HandleResponse(t0.Add(2*time.Millisecond), neighbour, reqs[0].Request, &wire.Nodes{})
	lookupDone(t, m.Events(), id)
	if !m.Joined() {
		t.Error("Joined() = false after the join lookup ended")
	}

	// The closest neighbour is in bucket 3: buckets 0, 1 and 2 are
	// refreshed, farthest first and two at a time.
	var rounds [][]int
	at := t0.Add(2 * time.Millisecond)
	for reqs := findNodes(m.Outbox()); len(reqs) > 0; reqs = findNodes(m.Outbox()) {
		var round []int
		for _, r := range reqs {
			round = append(round, m.bucketIndex(r.Msg.(*wire.FindNode).Target))
		}
		slices.Sort(round)
		rounds = append(rounds, slices.Compact(round))
		for _, r := range reqs {
			at = at.Add(time.Millisecond)
			m.HandleResponse(at, r.To, r.Request, &wire.Nodes{})
		}
	}
	want := [][]int{{0, 1}, {2}}
	if !slices.EqualFunc(rounds, want, slices.Equal) {
		t.Errorf("refreshed buckets by round %v, want %v", rounds, want)
	}
}

func TestLookupWithEmptyTable(t *testing.T) {
	m := newTestMachine(Config{})
	id := m.Lookup(t0, idAt(1, 1))
	res := lookupDone(t, m.Events(), id)
	if len(res.Closest) != 0 || res.Queried != 0 {
		t.Errorf("lookup with an empty table: %v", res)
	}
	if !m.NextDeadline().IsZero() {
		t.Errorf("NextDeadline = %v for an idle Machine, want zero", m.NextDeadline())
	}
}

func TestHandleRequestRejects(t *testing.T) {
	from := contactAt(1, 1)
	longPath := make([]wire.Contact, wire.MaxPath+1)
	for i := range longPath {
		longPath[i] = contactAt(2, uint16(i))
	}
	tests := []struct {
		name string
		msg  wire.Message
		code wire.ErrorCode
	}{
		{"nil message", nil, wire.CodeBadRequest},
		{"nil find-node", (*wire.FindNode)(nil), wire.CodeBadRequest},
		{"path too long", &wire.FindNode{Path: longPath}, wire.CodeBadRequest},
		{"pong", &wire.Pong{}, wire.CodeUnsupported},
		{"nodes", &wire.Nodes{}, wire.CodeUnsupported},
		{"error", &wire.Error{}, wire.CodeUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMachine(Config{})
			resp := m.HandleRequest(t0, from, 1, tt.msg)
			e, ok := resp.(*wire.Error)
			if !ok || e.Code != tt.code {
				t.Fatalf("response %#v, want error code %d", resp, tt.code)
			}
			if err := e.Validate(); err != nil {
				t.Errorf("error response is invalid: %v", err)
			}
		})
	}
}

func TestFindNodeExcludesRequester(t *testing.T) {
	m := newTestMachine(Config{K: 3})
	var cs []wire.Contact
	for i := range 5 {
		c := contactAt(i, 1)
		hear(t, m, t0, c)
		cs = append(cs, c)
	}
	resp := m.HandleRequest(t0, cs[0], 1, &wire.FindNode{Target: cs[0].ID})
	nodes := resp.(*wire.Nodes)
	if len(nodes.Contacts) != 3 {
		t.Fatalf("Nodes has %d contacts, want K = 3", len(nodes.Contacts))
	}
	for _, c := range nodes.Contacts {
		if c.ID == cs[0].ID {
			t.Error("Nodes response includes the requester")
		}
	}
	pong := m.HandleRequest(t0, cs[1], 2, &wire.Ping{}).(*wire.Pong)
	if pong.Observed != cs[1].Addr {
		t.Errorf("Pong.Observed = %s, want %s", pong.Observed, cs[1].Addr)
	}
}

func TestHandleResponseIgnoresStrays(t *testing.T) {
	m := newTestMachine(Config{})
	c := contactAt(3, 1)
	impostor := wire.Contact{ID: idAt(3, 2), Addr: c.Addr}
	m.AddContact(t0, c)
	ping := pingsTo(m.Outbox(), c.ID)[0]

	m.HandleResponse(t0, c, ping.Request+100, &wire.Pong{})
	m.HandleResponse(t0, impostor, ping.Request, &wire.Pong{})
	if m.Len() != 0 {
		t.Fatal("a response with an unknown request ID or from the wrong node inserted a contact")
	}

	// The real response still counts after the impostor's.
	m.HandleResponse(t0.Add(time.Millisecond), c, ping.Request, &wire.Pong{})
	if !hasPeer(m, c.ID) {
		t.Fatal("the real response was not accepted")
	}

	// A duplicate or a response after the timeout changes nothing.
	m.HandleResponse(t0.Add(time.Hour), c, ping.Request, &wire.Pong{})
	if got := peer(t, m, c.ID).LastSeen; !got.Equal(t0.Add(time.Millisecond)) {
		t.Errorf("a duplicate response moved LastSeen to %v", got)
	}
}

func TestWrongResponseTypeCountsAsFailure(t *testing.T) {
	m := newTestMachine(Config{})
	c := contactAt(3, 1)
	hear(t, m, t0, c)
	m.Outbox()

	now := t0.Add(m.Config().PingInterval)
	m.Tick(now)
	ping := pingsTo(m.Outbox(), c.ID)[0]
	m.HandleResponse(now, c, ping.Request, &wire.Nodes{})
	if got := peer(t, m, c.ID).Failures; got != 1 {
		t.Errorf("Failures = %d after a Nodes response to a Ping, want 1", got)
	}

	// An Error response proves the node alive without failing it.
	m.Tick(now)
	ping = pingsTo(m.Outbox(), c.ID)[0]
	m.HandleResponse(now.Add(time.Millisecond), c, ping.Request, &wire.Error{Code: wire.CodeOverloaded})
	if got := peer(t, m, c.ID).Failures; got != 0 {
		t.Errorf("Failures = %d after an Error response, want 0", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	m := New(wire.Contact{ID: selfID, Addr: netip.MustParseAddrPort("192.0.2.1:1")}, Config{K: 1000, MaxFailures: -1}, 1, t0)
	cfg := m.Config()
	if cfg.K != wire.MaxContacts {
		t.Errorf("K = %d, want it clamped to %d", cfg.K, wire.MaxContacts)
	}
	if cfg.MaxFailures != 3 || cfg.Alpha != 3 || cfg.ReplacementCache != cfg.K || cfg.RequestTimeout != 2*time.Second {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestExtremeTimesDoNotStall(t *testing.T) {
	m := New(wire.Contact{ID: selfID, Addr: netip.MustParseAddrPort("192.0.2.1:1")},
		Config{RequestTimeout: time.Duration(1<<63 - 1), PingInterval: time.Duration(1<<63 - 1)}, 1, t0)
	m.AddContact(t0.Add(time.Hour), contactAt(1, 1))
	far := t0.Add(50 * 365 * 24 * time.Hour)
	for _, now := range []time.Time{t0.Add(2 * time.Hour), far, {}, t0.Add(-time.Hour), far} {
		m.Tick(now)
		if d := m.NextDeadline(); !d.IsZero() && !d.After(now) && now.After(t0) {
			t.Errorf("after Tick(%v) NextDeadline is %v, in the past", now, d)
		}
	}
}

// selfLookups returns the FindNode requests in out for the node's own ID.
func selfLookups(out []Outgoing) []Outgoing {
	var reqs []Outgoing
	for _, o := range findNodes(out) {
		if o.Msg.(*wire.FindNode).Target == selfID {
			reqs = append(reqs, o)
		}
	}
	return reqs
}

// joinAmongFew runs a join whose lookup reaches only two nodes that know
// each other and nothing else, as the representatives of one group do
// when they take their seats together. It returns at the time the join
// lookup ended, with fewer than K nodes found.
func joinAmongFew(t *testing.T, m *Machine) time.Time {
	t.Helper()
	a, b := contactAt(1, 1), contactAt(1, 2)
	hear(t, m, t0, a)
	hear(t, m, t0, b)
	m.Outbox()
	m.Events()

	id := m.Bootstrap(t0)
	now := t0
	for _, r := range selfLookups(m.Outbox()) {
		other := b
		if r.To.ID == b.ID {
			other = a
		}
		now = now.Add(time.Millisecond)
		m.HandleResponse(now, r.To, r.Request, &wire.Nodes{Contacts: []wire.Contact{other}})
	}
	if res := lookupDone(t, m.Events(), id); len(res.Closest) != 2 {
		t.Fatalf("join lookup found %d nodes, want the 2 that know each other", len(res.Closest))
	}
	return now
}

// verify makes m verify c as it does a contact from AddContact.
func verify(t *testing.T, m *Machine, now time.Time, c wire.Contact) {
	t.Helper()
	m.AddContact(now, c)
	pings := pingsTo(m.Outbox(), c.ID)
	if len(pings) != 1 {
		t.Fatalf("AddContact sent %d pings to %s, want 1", len(pings), c.ID.Short())
	}
	m.HandleResponse(now.Add(time.Millisecond), c, pings[0].Request, &wire.Pong{})
	if !hasPeer(m, c.ID) {
		t.Fatalf("verified contact %s is not in the table", c.ID.Short())
	}
}

func TestShortJoinRetriedOnNewContact(t *testing.T) {
	m := newTestMachine(Config{})
	now := joinAmongFew(t, m)

	// The join's far-bucket refreshes go to the two nodes, and learn
	// nothing new.
	for reqs := findNodes(m.Outbox()); len(reqs) > 0; reqs = findNodes(m.Outbox()) {
		for _, r := range reqs {
			m.HandleResponse(now, r.To, r.Request, &wire.Nodes{})
		}
	}

	// A contact verified later leads into the rest of the network.
	entry := contactAt(3, 7)
	now = now.Add(100 * time.Millisecond)
	verify(t, m, now, entry)
	now = now.Add(time.Millisecond)
	if d := m.NextDeadline(); d.IsZero() || d.After(now) {
		t.Fatalf("NextDeadline = %v after a contact joined a short join's table, want at most %v", d, now)
	}
	m.Tick(now)
	reqs := selfLookups(m.Outbox())
	i := slices.IndexFunc(reqs, func(o Outgoing) bool { return o.To.ID == entry.ID })
	if i < 0 {
		t.Fatalf("no FindNode for the node's own ID to the new contact; sent %v", reqs)
	}

	// The new contact names the node's neighbours, and the repeated join
	// queries them, which introduces the node to them.
	var neighbours []wire.Contact
	for n := range 20 {
		neighbours = append(neighbours, contactAt(200, uint16(n)))
	}
	m.HandleResponse(now.Add(time.Millisecond), entry, reqs[i].Request, &wire.Nodes{Contacts: neighbours})
	asked := 0
	for _, r := range selfLookups(m.Outbox()) {
		if slices.ContainsFunc(neighbours, func(c wire.Contact) bool { return c.ID == r.To.ID }) {
			asked++
		}
	}
	if asked == 0 {
		t.Error("the repeated join asked none of the neighbours the new contact named")
	}
}

func TestRepeatedJoinReportsNothing(t *testing.T) {
	m := newTestMachine(Config{K: 4})
	now := joinAmongFew(t, m)

	// Every responder names the same three nodes, so the repeated join
	// finds K = 4 nodes and the table grows to contain them.
	names := []wire.Contact{contactAt(5, 1), contactAt(6, 1), contactAt(7, 1)}
	now = now.Add(time.Millisecond)
	verify(t, m, now, names[0])
	rejoins := 0
	for range 100 {
		now = now.Add(time.Millisecond)
		m.Tick(now)
		out := m.Outbox()
		if len(out) == 0 {
			break
		}
		rejoins += len(selfLookups(out))
		for _, o := range out {
			switch o.Msg.(type) {
			case *wire.FindNode:
				m.HandleResponse(now, o.To, o.Request, &wire.Nodes{Contacts: names})
			case *wire.Ping:
				m.HandleResponse(now, o.To, o.Request, &wire.Pong{})
			}
		}
	}
	if rejoins == 0 {
		t.Fatal("no repeated join after a contact entered the table")
	}
	for _, ev := range m.Events() {
		if ev.Kind == LookupDone {
			t.Errorf("repeated join reported lookup %d, which no caller started", ev.Lookup.ID)
		}
	}

	// The last join found K nodes, so a further contact starts no join.
	verify(t, m, now.Add(time.Millisecond), contactAt(8, 1))
	m.Tick(now.Add(2 * time.Millisecond))
	if reqs := selfLookups(m.Outbox()); len(reqs) > 0 {
		t.Errorf("a contact after a full join started %d requests for the node's own ID", len(reqs))
	}
}
