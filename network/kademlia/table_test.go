package kademlia

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

func TestBucketPlacement(t *testing.T) {
	tests := []struct {
		name string
		cpl  int
	}{
		{"first bit differs", 0},
		{"second bit differs", 1},
		{"last bit of first byte", 7},
		{"first bit of second byte", 8},
		{"deep", 100},
		{"only last bit differs", 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMachine(Config{})
			c := contactAt(tt.cpl, 1)
			hear(t, m, t0, c)

			p := peer(t, m, c.ID)
			if p.Bucket != tt.cpl {
				t.Errorf("contact is in bucket %d, want %d", p.Bucket, tt.cpl)
			}
			if len(m.buckets) != tt.cpl+1 {
				t.Errorf("bucket list has %d buckets, want %d (up to the deepest used)", len(m.buckets), tt.cpl+1)
			}
			want := []BucketInfo{{Index: tt.cpl, Contacts: 1}}
			if got := m.Buckets(); !slices.Equal(got, want) {
				t.Errorf("Buckets() = %v, want %v", got, want)
			}
			if err := checkInvariants(m); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSelfNeverInserted(t *testing.T) {
	m := newTestMachine(Config{})
	self := m.Self()
	other := contactAt(3, 1)

	hear(t, m, t0, self)
	m.AddContact(t0, self)
	m.HandleRequest(t0, other, 2, &wire.FindNode{Target: selfID, Path: []wire.Contact{self}})

	if hasPeer(m, selfID) || hasReplacement(m, selfID) {
		t.Fatal("the node's own ID entered its table")
	}
	if pings := pingsTo(m.Outbox(), selfID); len(pings) != 0 {
		t.Errorf("the node pinged itself %d times", len(pings))
	}

	// A Nodes response that names the node itself must not add it either.
	id := m.Lookup(t0, idAt(3, 9))
	out := m.Outbox()
	if len(out) != 1 || out[0].To.ID != other.ID {
		t.Fatalf("lookup sent %v, want one FindNode to %v", out, other)
	}
	m.HandleResponse(t0.Add(time.Millisecond), other, out[0].Request, &wire.Nodes{Contacts: []wire.Contact{self}})
	if hasPeer(m, selfID) || len(m.Outbox()) != 0 {
		t.Error("a Nodes response naming the node itself led to a request to itself")
	}
	res := lookupDone(t, m.Events(), id)
	if len(res.Closest) != 1 || res.Closest[0].ID != other.ID {
		t.Errorf("lookup result %v, want only %v", res.Closest, other)
	}
}

func TestInvalidContactIgnored(t *testing.T) {
	valid := contactAt(2, 1)
	tests := []struct {
		name string
		c    wire.Contact
	}{
		{"zero ID", wire.Contact{Addr: valid.Addr}},
		{"no address", wire.Contact{ID: valid.ID}},
		{"port zero", wire.Contact{ID: valid.ID, Addr: netip.MustParseAddrPort("203.0.113.5:0")}},
		{"unspecified address", wire.Contact{ID: valid.ID, Addr: netip.MustParseAddrPort("0.0.0.0:4242")}},
		{"multicast address", wire.Contact{ID: valid.ID, Addr: netip.MustParseAddrPort("[ff02::1]:4242")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMachine(Config{})
			m.HandleRequest(t0, tt.c, 1, &wire.Ping{})
			m.AddContact(t0, tt.c)
			if m.Len() != 0 {
				t.Errorf("table holds %d contacts, want 0", m.Len())
			}
			if out := m.Outbox(); len(out) != 0 {
				t.Errorf("Machine sent %d requests to an invalid contact", len(out))
			}
		})
	}
}

// fillBucket puts k verified contacts into bucket cpl, one millisecond
// apart, and returns them, least recently seen first.
func fillBucket(t *testing.T, m *Machine, cpl, k int) []wire.Contact {
	t.Helper()
	var cs []wire.Contact
	for i := range k {
		c := contactAt(cpl, uint16(i+1))
		hear(t, m, t0.Add(time.Duration(i)*time.Millisecond), c)
		cs = append(cs, c)
	}
	if got := m.Len(); got != k {
		t.Fatalf("table holds %d contacts after filling, want %d", got, k)
	}
	m.Events()
	return cs
}

func TestFullBucketPingsLeastRecentlySeen(t *testing.T) {
	tests := []struct {
		name string
		// outcome is what happens to the ping of the least recently seen
		// contact: "pong", "failure" or "timeout".
		outcome     string
		wantEvicted bool
	}{
		{"answers and stays", "pong", false},
		{"fails and is evicted", "failure", true},
		{"times out and is evicted", "timeout", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const k = 4
			m := newTestMachine(Config{K: k})
			old := fillBucket(t, m, 0, k)
			newcomer := contactAt(0, 100)
			// The least recently seen contact has been silent long enough
			// to be in doubt.
			now := t0.Add(m.Config().PingInterval + time.Second)

			hear(t, m, now, newcomer)
			if hasPeer(m, newcomer.ID) {
				t.Fatal("newcomer entered a full bucket at once")
			}
			if !hasReplacement(m, newcomer.ID) {
				t.Fatal("newcomer is not in the replacement cache")
			}
			pings := pingsTo(m.Outbox(), old[0].ID)
			if len(pings) != 1 {
				t.Fatalf("sent %d pings to the least recently seen contact, want 1", len(pings))
			}

			// A second newcomer must not start a second check.
			hear(t, m, now, contactAt(0, 101))
			if extra := pingsTo(m.Outbox(), old[0].ID); len(extra) != 0 {
				t.Errorf("sent %d more pings while a check was in flight", len(extra))
			}

			later := now.Add(10 * time.Millisecond)
			switch tt.outcome {
			case "pong":
				m.HandleResponse(later, old[0], pings[0].Request, &wire.Pong{})
			case "failure":
				m.HandleFailure(later, pings[0].Request)
			case "timeout":
				later = now.Add(m.Config().RequestTimeout)
				m.Tick(later)
			}

			events := m.Events()
			if got := hasPeer(m, old[0].ID); got == tt.wantEvicted {
				t.Errorf("least recently seen contact in table = %v, want %v", got, !tt.wantEvicted)
			}
			if got := hasPeer(m, newcomer.ID); got != tt.wantEvicted {
				t.Errorf("newcomer in table = %v, want %v", got, tt.wantEvicted)
			}
			if tt.wantEvicted {
				if countEvents(events, PeerRemoved, old[0].ID) != 1 || countEvents(events, PeerAdded, newcomer.ID) != 1 {
					t.Errorf("events %v, want PeerRemoved for the old contact and PeerAdded for the newcomer", events)
				}
				return
			}
			peers := m.Peers()
			if last := peers[len(peers)-1]; last.ID != old[0].ID {
				t.Errorf("contact that answered is not the most recently seen: last is %s", last.ID.Short())
			}
			if !hasReplacement(m, newcomer.ID) {
				t.Error("newcomer left the replacement cache although no slot opened")
			}
			if err := checkInvariants(m); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFreshLeastRecentlySeenNotPinged(t *testing.T) {
	const k = 4
	m := newTestMachine(Config{K: k})
	old := fillBucket(t, m, 0, k)
	newcomer := contactAt(0, 100)

	// Heard from a second ago, the least recently seen contact counts as
	// alive: the newcomer waits without a ping.
	hear(t, m, t0.Add(time.Second), newcomer)
	if out := m.Outbox(); len(out) != 0 {
		t.Fatalf("sent %d messages although the bucket is fresh", len(out))
	}
	if !hasReplacement(m, newcomer.ID) || hasPeer(m, newcomer.ID) {
		t.Fatal("newcomer is not waiting in the replacement cache")
	}

	// Once silent, the contact's liveness ping is the eviction check: a
	// single failure lets the newcomer in.
	now := t0.Add(m.Config().PingInterval)
	m.Tick(now)
	pings := pingsTo(m.Outbox(), old[0].ID)
	if len(pings) != 1 {
		t.Fatalf("sent %d pings to the silent contact, want 1", len(pings))
	}
	m.HandleFailure(now.Add(time.Second), pings[0].Request)
	if hasPeer(m, old[0].ID) || !hasPeer(m, newcomer.ID) {
		t.Errorf("after one failed ping: old contact in table = %v, newcomer in table = %v; want false, true",
			hasPeer(m, old[0].ID), hasPeer(m, newcomer.ID))
	}
}

// failRequests fails every request in the outbox to id and returns how
// many there were.
func failRequests(m *Machine, now time.Time, id identity.NodeID) int {
	n := 0
	for _, o := range m.Outbox() {
		if o.To.ID == id {
			m.HandleFailure(now, o.Request)
			n++
		}
	}
	return n
}

func TestMaxFailuresEviction(t *testing.T) {
	m := newTestMachine(Config{K: 2, MaxFailures: 3})
	cs := fillBucket(t, m, 5, 2)
	victim := cs[0]

	// Liveness pings after PingInterval of silence: each failure counts.
	now := t0.Add(m.Config().PingInterval)
	for i := 1; i < 3; i++ {
		m.Tick(now)
		if n := failRequests(m, now, victim.ID); n != 1 {
			t.Fatalf("round %d: %d pings to the silent contact, want 1", i, n)
		}
		if got := peer(t, m, victim.ID).Failures; got != i {
			t.Fatalf("after %d failures the contact counts %d", i, got)
		}
	}

	// A sign of life resets the count.
	hear(t, m, now, victim)
	if got := peer(t, m, victim.ID).Failures; got != 0 {
		t.Fatalf("failures after a request from the contact = %d, want 0", got)
	}

	// MaxFailures consecutive failures evict it, the most stable
	// replacement takes its place.
	unstable := contactAt(5, 10)
	stable := contactAt(5, 11)
	hear(t, m, now, stable)
	m.Outbox() // the full bucket's check ping; left pending
	hear(t, m, now.Add(time.Minute), stable)
	hear(t, m, now.Add(time.Minute), unstable)
	if !hasReplacement(m, stable.ID) || !hasReplacement(m, unstable.ID) {
		t.Fatal("newcomers are not in the replacement cache")
	}

	now = now.Add(time.Minute)
	m.Events()
	for range 3 {
		id := m.Lookup(now, victim.ID)
		for _, o := range m.Outbox() {
			if o.To.ID == victim.ID {
				m.HandleFailure(now, o.Request)
			} else if _, ok := o.Msg.(*wire.FindNode); ok {
				m.HandleResponse(now, o.To, o.Request, &wire.Nodes{})
			}
		}
		lookupDone(t, m.Events(), id)
	}
	if hasPeer(m, victim.ID) {
		t.Fatal("contact with MaxFailures consecutive failures is still in the table")
	}
	if !hasPeer(m, stable.ID) || hasPeer(m, unstable.ID) {
		t.Errorf("promoted the wrong replacement: stable in table = %v, unstable in table = %v",
			hasPeer(m, stable.ID), hasPeer(m, unstable.ID))
	}
	if err := checkInvariants(m); err != nil {
		t.Error(err)
	}
}

// respondNodes responds to every FindNode in the outbox with contacts.
func respondNodes(m *Machine, now time.Time, contacts []wire.Contact) {
	for _, o := range m.Outbox() {
		if _, ok := o.Msg.(*wire.FindNode); ok {
			m.HandleResponse(now, o.To, o.Request, &wire.Nodes{Contacts: contacts})
		}
	}
}

func lookupDone(t *testing.T, events []Event, id LookupID) *LookupResult {
	t.Helper()
	for _, ev := range events {
		if ev.Kind == LookupDone && ev.Lookup.ID == id {
			return ev.Lookup
		}
	}
	t.Fatalf("lookup %d did not finish; events %v", id, events)
	return nil
}

func TestReplacementPromotedOnRemoval(t *testing.T) {
	m := newTestMachine(Config{K: 2})
	cs := fillBucket(t, m, 1, 2)
	spare := contactAt(1, 50)
	hear(t, m, t0.Add(time.Second), spare)
	m.Outbox()

	m.Remove(t0.Add(2*time.Second), cs[1].ID)
	if hasPeer(m, cs[1].ID) || !hasPeer(m, spare.ID) || hasReplacement(m, spare.ID) {
		t.Errorf("after Remove: removed in table = %v, spare in table = %v, spare still a replacement = %v",
			hasPeer(m, cs[1].ID), hasPeer(m, spare.ID), hasReplacement(m, spare.ID))
	}
	events := m.Events()
	if countEvents(events, PeerRemoved, cs[1].ID) != 1 || countEvents(events, PeerAdded, spare.ID) != 1 {
		t.Errorf("events %v, want PeerRemoved then PeerAdded", events)
	}
}

func TestLeaveRemovesSender(t *testing.T) {
	m := newTestMachine(Config{K: 2})
	cs := fillBucket(t, m, 4, 2)
	spare := contactAt(4, 60)
	hear(t, m, t0.Add(time.Second), spare)
	m.Outbox()

	if resp := m.HandleRequest(t0.Add(2*time.Second), cs[0], 0, &wire.Leave{}); resp != nil {
		t.Errorf("Leave returned %#v, want nil", resp)
	}
	if hasPeer(m, cs[0].ID) {
		t.Error("sender of Leave is still in the table")
	}
	if !hasPeer(m, spare.ID) {
		t.Error("replacement was not promoted after Leave")
	}

	// Leave sent as a request is honoured and acknowledged.
	resp := m.HandleRequest(t0.Add(3*time.Second), cs[1], 7, &wire.Leave{})
	if _, ok := resp.(*wire.Ack); !ok {
		t.Errorf("Leave with a request ID returned %#v, want an Ack", resp)
	}
	if hasPeer(m, cs[1].ID) {
		t.Error("sender of Leave with a request ID is still in the table")
	}

	// A lookup waiting on a node that leaves moves on at once.
	other := contactAt(9, 1)
	hear(t, m, t0.Add(4*time.Second), other)
	id := m.Lookup(t0.Add(4*time.Second), other.ID)
	reqs := findNodes(m.Outbox())
	m.HandleRequest(t0.Add(5*time.Second), other, 0, &wire.Leave{})
	for _, r := range reqs {
		if r.To.ID != other.ID {
			m.HandleResponse(t0.Add(5*time.Second), r.To, r.Request, &wire.Nodes{})
		}
	}
	res := lookupDone(t, m.Events(), id)
	if res.Failed != 1 || slices.ContainsFunc(res.Closest, func(c wire.Contact) bool { return c.ID == other.ID }) {
		t.Errorf("lookup after Leave: %d failed, closest %v; want the leaver failed and absent", res.Failed, res.Closest)
	}
}

func TestPathContactsVerifiedBeforeInsertion(t *testing.T) {
	m := newTestMachine(Config{})
	requester := contactAt(0, 1)
	honest := contactAt(2, 1)
	liar := contactAt(3, 1) // named on the path but never responds

	now := t0
	resp := m.HandleRequest(now, requester, 1, &wire.FindNode{
		Target: idAt(6, 1),
		Path:   []wire.Contact{honest, liar},
	})
	if _, ok := resp.(*wire.Nodes); !ok {
		t.Fatalf("FindNode returned %#v, want Nodes", resp)
	}
	if hasPeer(m, honest.ID) || hasPeer(m, liar.ID) {
		t.Fatal("path contacts entered the table before they answered")
	}

	out := m.Outbox()
	honestPing, liarPing := pingsTo(out, honest.ID), pingsTo(out, liar.ID)
	if len(honestPing) != 1 || len(liarPing) != 1 {
		t.Fatalf("sent %d and %d pings to the path contacts, want 1 each", len(honestPing), len(liarPing))
	}
	m.HandleResponse(now.Add(5*time.Millisecond), honest, honestPing[0].Request, &wire.Pong{})
	m.Tick(now.Add(m.Config().RequestTimeout))

	if !hasPeer(m, honest.ID) {
		t.Error("path contact that answered is not in the table")
	}
	if hasPeer(m, liar.ID) || hasReplacement(m, liar.ID) {
		t.Error("path contact that never answered entered the table")
	}
	if !hasPeer(m, requester.ID) {
		t.Error("the requester itself is not in the table")
	}
}

func TestNodesResponseContactsVerified(t *testing.T) {
	m := newTestMachine(Config{})
	liar := contactAt(1, 1)
	hear(t, m, t0, liar)
	m.Outbox()

	// The liar names nodes that do not exist. The lookup queries them and
	// they never respond.
	fakes := []wire.Contact{contactAt(7, 1), contactAt(7, 2), contactAt(8, 3)}
	id := m.Lookup(t0, idAt(7, 0))
	respondNodes(m, t0.Add(time.Millisecond), fakes)
	m.Tick(t0.Add(time.Minute))
	res := lookupDone(t, m.Events(), id)

	for _, f := range fakes {
		if hasPeer(m, f.ID) || hasReplacement(m, f.ID) {
			t.Errorf("unverified contact %v from a Nodes response entered the table", f)
		}
	}
	if res.Failed != len(fakes) || len(res.Closest) != 1 {
		t.Errorf("lookup: %d failed, %d closest; want %d failed and only the liar", res.Failed, len(res.Closest), len(fakes))
	}
}

func TestDiversityLimits(t *testing.T) {
	cfg := Config{MaxPerPrefixBucket: 2, MaxPerPrefixTable: 3}
	tests := []struct {
		name   string
		addrs  []string
		cpls   []int // bucket of each contact
		wantIn []bool
	}{
		{
			name:   "IPv4 /24 per bucket",
			addrs:  []string{"198.51.100.1:1", "198.51.100.2:1", "198.51.100.3:1", "198.51.101.1:1"},
			cpls:   []int{0, 0, 0, 0},
			wantIn: []bool{true, true, false, true},
		},
		{
			name:   "IPv4 /24 per table",
			addrs:  []string{"203.0.113.1:1", "203.0.113.2:1", "203.0.113.3:1", "203.0.113.4:1"},
			cpls:   []int{0, 1, 2, 3},
			wantIn: []bool{true, true, true, false},
		},
		{
			name:   "IPv6 /48 per bucket",
			addrs:  []string{"[2001:db8:1:1::1]:1", "[2001:db8:1:2::1]:1", "[2001:db8:1:ffff::9]:1", "[2001:db8:2::1]:1"},
			cpls:   []int{4, 4, 4, 4},
			wantIn: []bool{true, true, false, true},
		},
		{
			name:   "IPv4-mapped IPv6 counts as IPv4",
			addrs:  []string{"198.51.100.1:1", "[::ffff:198.51.100.2]:1", "198.51.100.3:1"},
			cpls:   []int{0, 0, 0},
			wantIn: []bool{true, true, false},
		},
		{
			name:   "private IPv4 exempt",
			addrs:  []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "192.168.1.1:1", "192.168.1.2:1"},
			cpls:   []int{0, 0, 0, 0, 0},
			wantIn: []bool{true, true, true, true, true},
		},
		{
			name:   "loopback and link-local exempt",
			addrs:  []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "[fe80::1%eth0]:1", "[fe80::2%eth0]:1", "[fe80::3%eth1]:1"},
			cpls:   []int{0, 0, 0, 1, 1, 1},
			wantIn: []bool{true, true, true, true, true, true},
		},
		{
			name:   "unique-local IPv6 exempt",
			addrs:  []string{"[fd00::1]:1", "[fd00::2]:1", "[fd00::3]:1"},
			cpls:   []int{2, 2, 2},
			wantIn: []bool{true, true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMachine(cfg)
			for i, a := range tt.addrs {
				c := wire.Contact{ID: idAt(tt.cpls[i], uint16(i)), Addr: netip.MustParseAddrPort(a)}
				hear(t, m, t0, c)
				if got := hasPeer(m, c.ID); got != tt.wantIn[i] {
					t.Errorf("contact %d at %s in table = %v, want %v", i, a, got, tt.wantIn[i])
				}
				if tt.wantIn[i] {
					if got := peer(t, m, c.ID).Addr; got != c.Addr {
						t.Errorf("contact %d stored address %s, want %s", i, got, c.Addr)
					}
				}
			}
			if err := checkInvariants(m); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDiversityBlocksAddressChange(t *testing.T) {
	m := newTestMachine(Config{MaxPerPrefixBucket: 2})
	a := wire.Contact{ID: idAt(0, 1), Addr: netip.MustParseAddrPort("198.51.100.1:1")}
	b := wire.Contact{ID: idAt(0, 2), Addr: netip.MustParseAddrPort("198.51.100.2:1")}
	c := wire.Contact{ID: idAt(0, 3), Addr: netip.MustParseAddrPort("203.0.113.3:1")}
	for _, x := range []wire.Contact{a, b, c} {
		hear(t, m, t0, x)
	}

	moved := wire.Contact{ID: c.ID, Addr: netip.MustParseAddrPort("198.51.100.3:1")}
	hear(t, m, t0.Add(time.Second), moved)
	if got := peer(t, m, c.ID).Addr; got != c.Addr {
		t.Errorf("address changed to %s despite the /24 limit, want %s kept", got, c.Addr)
	}

	allowed := wire.Contact{ID: c.ID, Addr: netip.MustParseAddrPort("203.0.113.9:2")}
	hear(t, m, t0.Add(2*time.Second), allowed)
	if got := peer(t, m, c.ID).Addr; got != allowed.Addr {
		t.Errorf("address is %s after the node moved, want %s", got, allowed.Addr)
	}
}

func TestClosestMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	m := newTestMachine(Config{K: 8})
	for i := range 400 {
		// Shallow buckets often, deep ones rarely, like a real network.
		cpl := min(int(rng.ExpFloat64()*2), 255)
		hear(t, m, t0, contactAt(cpl, uint16(rng.IntN(1<<16))))
		_ = i
	}
	m.Outbox()
	if m.Len() < 40 {
		t.Fatalf("table holds only %d contacts", m.Len())
	}

	var all []identity.NodeID
	for _, p := range m.Peers() {
		all = append(all, p.ID)
	}
	targets := []identity.NodeID{selfID, idAt(0, 5), idAt(3, 7), idAt(200, 1)}
	for range 200 {
		var id identity.NodeID
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		targets = append(targets, id)
	}
	for _, target := range targets {
		want := slices.Clone(all)
		slices.SortFunc(want, func(a, b identity.NodeID) int { return compareDistance(target, a, b) })
		for _, n := range []int{1, 5, 20, len(all) + 5} {
			got := m.Closest(target, n)
			if len(got) != min(n, len(all)) {
				t.Fatalf("Closest(%s, %d) returned %d contacts", target.Short(), n, len(got))
			}
			for i, c := range got {
				if c.ID != want[i] {
					t.Fatalf("Closest(%s, %d)[%d] = %s, want %s", target.Short(), n, i, c.ID.Short(), want[i].Short())
				}
			}
		}
	}
}

func TestRandomIDInBucket(t *testing.T) {
	m := newTestMachine(Config{})
	for idx := range 256 {
		for range 4 {
			id := m.randomIDInBucket(idx)
			if got := m.bucketIndex(id); got != idx {
				t.Fatalf("randomIDInBucket(%d) = %s with common prefix length %d", idx, id, got)
			}
		}
	}
}

func TestZonedAddressRoundTrip(t *testing.T) {
	m := newTestMachine(Config{})
	addrs := []string{"[fe80::1%eth0]:4242", "[fe80::2%wlan0]:4242", "[2001:db8::1]:4242", "[::ffff:203.0.113.7]:4242", "198.51.100.9:4242"}
	for i, a := range addrs {
		c := wire.Contact{ID: idAt(i, 1), Addr: netip.MustParseAddrPort(a)}
		hear(t, m, t0, c)
		if got := peer(t, m, c.ID).Addr; got != c.Addr {
			t.Errorf("stored %s as %s", c.Addr, got)
		}
	}
}
