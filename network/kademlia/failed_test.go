package kademlia

import (
	"testing"
	"time"
	"unsafe"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// lookupVia runs a lookup for target in which responder, the only table
// contact asked, names the contacts named. It returns every message the
// Machine sent after that response, failing each request to the named
// contacts, until the lookup is done.
func lookupVia(t *testing.T, m *Machine, now time.Time, target identity.NodeID, responder wire.Contact, named ...wire.Contact) []Outgoing {
	t.Helper()
	id := m.Lookup(now, target)
	reqs := findNodes(m.Outbox())
	if len(reqs) != 1 || reqs[0].To.ID != responder.ID {
		t.Fatalf("lookup sent %v, want one FindNode to %v", reqs, responder)
	}
	m.HandleResponse(now, responder, reqs[0].Request, &wire.Nodes{Contacts: named})

	var sent []Outgoing
	for out := m.Outbox(); len(out) > 0; out = m.Outbox() {
		sent = append(sent, out...)
		for _, o := range out {
			if o.Request != 0 {
				m.HandleFailure(now, o.Request)
			}
		}
	}
	lookupDone(t, m.Events(), id)
	return sent
}

func sentTo(out []Outgoing, id identity.NodeID) int {
	n := 0
	for _, o := range out {
		if o.To.ID == id {
			n++
		}
	}
	return n
}

func TestEvictedNodeSkipped(t *testing.T) {
	m := newTestMachine(Config{MaxFailures: 3})
	responder := contactAt(1, 1)
	dead := contactAt(0, 1)
	hear(t, m, t0, responder)
	hear(t, m, t0, dead)
	m.Outbox()

	now := t0.Add(time.Second)
	for range 3 {
		m.recordFailure(m.clock(now), dead)
	}
	m.Outbox()
	if hasPeer(m, dead.ID) {
		t.Fatal("contact with MaxFailures failures is still in the table")
	}

	sent := lookupVia(t, m, now, idAt(0, 0), responder, dead)
	if n := sentTo(sent, dead.ID); n != 0 {
		t.Errorf("the Machine sent %d requests to an evicted node another node named", n)
	}

	// A request from the node shows it is back.
	hear(t, m, now.Add(time.Second), dead)
	if !hasPeer(m, dead.ID) {
		t.Fatal("node that sent a request is not in the table")
	}
	if m.blocked(m.clock(now.Add(time.Second)), dead.ID) {
		t.Error("node is still blocked after it sent a request")
	}
}

func TestUnknownNodeBlockedAfterFailures(t *testing.T) {
	m := newTestMachine(Config{MaxFailures: 3})
	responder := contactAt(1, 1)
	dead := contactAt(0, 1)
	hear(t, m, t0, responder)
	m.Outbox()

	// The first lookup queries the node once, and each failure brings an
	// immediate ping until MaxFailures.
	now := t0.Add(time.Second)
	sent := lookupVia(t, m, now, idAt(0, 0), responder, dead)
	if n := sentTo(sent, dead.ID); n != 3 {
		t.Errorf("the Machine sent %d requests to the dead node, want 3: a FindNode and 2 pings", n)
	}
	if !m.blocked(m.clock(now), dead.ID) {
		t.Fatal("node that failed MaxFailures times is not blocked")
	}

	sent = lookupVia(t, m, now.Add(time.Second), idAt(0, 0), responder, dead)
	if n := sentTo(sent, dead.ID); n != 0 {
		t.Errorf("the Machine sent %d requests to a blocked node", n)
	}

	// After PingInterval the block lapses and the node is asked again.
	later := now.Add(m.Config().PingInterval)
	sent = lookupVia(t, m, later, idAt(0, 0), responder, dead)
	if n := sentTo(sent, dead.ID); n == 0 {
		t.Error("node is still skipped PingInterval after its last failure")
	}
}

func TestExplicitContactUnblocks(t *testing.T) {
	m := newTestMachine(Config{})
	c := contactAt(2, 1)
	now := m.clock(t0)
	m.blockNode(now, c.ID)

	// AddContact pings even a blocked node, and its Pong unblocks it.
	m.AddContact(t0, c)
	pings := pingsTo(m.Outbox(), c.ID)
	if len(pings) != 1 {
		t.Fatalf("AddContact sent %d pings to a blocked node, want 1", len(pings))
	}
	m.HandleResponse(t0.Add(time.Millisecond), c, pings[0].Request, &wire.Pong{})
	if m.blocked(now, c.ID) || !hasPeer(m, c.ID) {
		t.Errorf("after its Pong: blocked = %v, in table = %v; want false, true", m.blocked(now, c.ID), hasPeer(m, c.ID))
	}
}

func TestLeftNodeSkipped(t *testing.T) {
	m := newTestMachine(Config{})
	responder := contactAt(1, 1)
	leaver := contactAt(0, 1)
	hear(t, m, t0, responder)
	hear(t, m, t0, leaver)
	m.Outbox()

	m.HandleRequest(t0, leaver, 0, &wire.Leave{})
	sent := lookupVia(t, m, t0.Add(time.Second), idAt(0, 0), responder, leaver)
	if n := sentTo(sent, leaver.ID); n != 0 {
		t.Errorf("the Machine sent %d requests to a node that left", n)
	}
}

func TestFailedSetBounded(t *testing.T) {
	const limit = 8
	var s failedSet
	id := func(i int) identity.NodeID { return idAt(3, uint16(i)) }
	for i := range limit + 5 {
		at := int64(i)
		if got := s.add(at, id(i), 1, at+100, limit); got != 1 {
			t.Fatalf("node %d counts %d failures after its first, want 1", i, got)
		}
	}
	if len(s.nodes) != limit || cap(s.nodes) != limit {
		t.Errorf("set holds %d nodes with capacity %d, want both %d", len(s.nodes), cap(s.nodes), limit)
	}
	now := int64(limit + 5)
	for i := range limit + 5 {
		present := s.find(now, id(i)) != nil
		if want := i >= 5; present != want {
			t.Errorf("node %d present = %v, want %v (the oldest failures go first)", i, present, want)
		}
	}

	if got := s.add(now, id(10), 2, now+100, limit); got != 3 {
		t.Errorf("node 10 counts %d failures, want 3", got)
	}
	s.forget(id(10))
	if s.find(now, id(10)) != nil {
		t.Error("node 10 is still in the set after forget")
	}
	if s.find(now+200, id(12)) != nil {
		t.Error("node 12 is still in the set after its entry expired")
	}
}

func TestRecordSizes(t *testing.T) {
	// The sizes that the comments on entry and failedSet state.
	if got := unsafe.Sizeof(entry{}); got != 80 {
		t.Errorf("entry is %d bytes, want 80", got)
	}
	if got := unsafe.Sizeof(failedNode{}); got != 48 {
		t.Errorf("failedNode is %d bytes, want 48", got)
	}
}
