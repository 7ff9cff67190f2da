package kademlia

import (
	"cmp"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// requestKind is the reason the Machine sent a request, which decides what
// its outcome means.
type requestKind uint8

const (
	// pingVerify checks an unverified candidate before it may enter the
	// table.
	pingVerify requestKind = iota + 1
	// pingContact checks a contact given to AddContact, like pingVerify.
	pingContact
	// pingEvict checks the least recently seen contact of a full bucket
	// that a newcomer wants to join; a failure evicts it.
	pingEvict
	// pingLiveness checks a contact that has been silent for PingInterval
	// or whose last request failed.
	pingLiveness
	// pingRecheck checks a node outside the table whose request failed.
	pingRecheck
	// pingAddress checks a wider-scope address of a table contact (see
	// AddContact). A failure means only that the address does not work.
	pingAddress
	// findNode is one step of a lookup.
	findNode
)

// request is a request in flight.
type request struct {
	id   uint64
	to   wire.Contact
	sent int64 // when it entered the Outbox, in epoch nanoseconds
	// deadline is when the request fails without a response, in epoch
	// nanoseconds.
	deadline int64
	kind     requestKind
	// lookup and node name the lookup and its node for a findNode request.
	lookup LookupID
	node   int32
}

// send queues msg to to as a new request and records it as pending.
func (m *Machine) send(t int64, to wire.Contact, msg wire.Message, r request) {
	timeout := m.timeoutFor(to.ID)
	m.nextRequest++
	r.id, r.to, r.sent, r.deadline = m.nextRequest, to, t, t+int64(timeout)
	m.pending = append(m.pending, r)
	m.outbox = append(m.outbox, Outgoing{To: to, Request: r.id, Msg: msg, Timeout: timeout})
}

// timeoutFor returns how long to wait for a response from id: the adaptive
// timeout of its entry in the table or a replacement cache, or
// RequestTimeout for a node whose round trip this node has not measured.
func (m *Machine) timeoutFor(id identity.NodeID) time.Duration {
	if e := m.knownEntry(id); e != nil {
		return e.timeout(m.cfg.MinRequestTimeout, m.cfg.RequestTimeout)
	}
	return m.cfg.RequestTimeout
}

// pendingIndex returns the position of request id in m.pending.
func (m *Machine) pendingIndex(id uint64) (int, bool) {
	return slices.BinarySearchFunc(m.pending, id, func(r request, id uint64) int {
		return cmp.Compare(r.id, id)
	})
}

// takePending removes and returns the pending request with the given ID.
func (m *Machine) takePending(id uint64) (request, bool) {
	i, found := m.pendingIndex(id)
	if !found {
		return request{}, false
	}
	r := m.pending[i]
	m.pending = slices.Delete(m.pending, i, i+1)
	return r, true
}

// trimPending releases the spare capacity of m.pending once at most an
// eighth of it is used, so that a node that had hundreds of requests in
// flight during its join does not keep room for them.
func (m *Machine) trimPending() {
	c := cap(m.pending)
	if c < 64 || len(m.pending) > c/8 {
		return
	}
	if len(m.pending) == 0 {
		m.pending = nil
		return
	}
	m.pending = append([]request(nil), m.pending...)
}

// requestToContact reports whether a request to c's ID at c's address is
// in flight.
func (m *Machine) requestToContact(c wire.Contact) bool {
	for i := range m.pending {
		if m.pending[i].to == c {
			return true
		}
	}
	return false
}

// requestTo reports whether a request to id is in flight.
func (m *Machine) requestTo(id identity.NodeID) bool {
	for i := range m.pending {
		if sameID(&m.pending[i].to.ID, &id) {
			return true
		}
	}
	return false
}

func (m *Machine) countPending(kind requestKind) int {
	n := 0
	for i := range m.pending {
		if m.pending[i].kind == kind {
			n++
		}
	}
	return n
}

// HandleResponse delivers the response to a request from the Outbox. It
// ignores a response to an unknown, finished or timed-out request, and one
// from a node other than the request's addressee.
func (m *Machine) HandleResponse(now time.Time, from wire.Contact, request uint64, msg wire.Message) {
	i, found := m.pendingIndex(request)
	if !found || m.pending[i].to.ID != from.ID {
		return
	}
	r := m.pending[i]
	m.pending = slices.Delete(m.pending, i, i+1)
	m.trimPending()
	t := m.clock(now)
	defer m.sendQueuedContacts(t)

	if e, ok := msg.(*wire.Error); ok && e != nil {
		// The node is alive but refused; that is no routing failure, but
		// a lookup learns nothing from it.
		m.observe(t, r.to, time.Duration(t-r.sent))
		if r.kind == findNode {
			m.lookupFailed(now, r)
		}
		return
	}
	if !responseMatches(r.kind, msg) {
		m.requestFailed(now, t, r)
		return
	}

	// The address to observe is the one the request reached; the caller's
	// idea of the sender's address may be a NAT mapping.
	m.observe(t, r.to, time.Duration(t-r.sent))
	if r.kind == findNode {
		m.lookupAnswered(now, r, msg.(*wire.Nodes))
	}
}

// responseMatches reports whether msg is a valid response to a request of
// the given kind.
func responseMatches(kind requestKind, msg wire.Message) bool {
	switch msg := msg.(type) {
	case *wire.Pong:
		return kind != findNode && msg != nil && msg.Validate() == nil
	case *wire.Nodes:
		return kind == findNode && msg != nil && msg.Validate() == nil
	}
	return false
}

// HandleFailure reports that a request from the Outbox failed: it could
// not be delivered, the peer proved a different ID, or no response came.
// Unknown or finished requests are ignored.
func (m *Machine) HandleFailure(now time.Time, request uint64) {
	if r, ok := m.takePending(request); ok {
		t := m.clock(now)
		m.requestFailed(now, t, r)
		m.sendQueuedContacts(t)
	}
}

// requestFailed applies the failure of r to the table and its lookup.
func (m *Machine) requestFailed(now time.Time, t int64, r request) {
	m.suspectsDue = true
	switch r.kind {
	case pingVerify, pingContact, pingLiveness, pingRecheck:
		m.recordFailure(t, r.to)
	case pingEvict:
		// A newcomer waits in the replacement cache: a contact that misses
		// this check gives way to it without waiting for MaxFailures, and
		// is blocked like one that reached it.
		idx := m.bucketIndex(r.to.ID)
		if idx < len(m.buckets) {
			if i := indexOf(m.buckets[idx].entries, r.to.ID); i >= 0 {
				m.blockNode(t, r.to.ID)
				m.evict(t, idx, i)
			}
		}
	case findNode:
		m.recordFailure(t, r.to)
		m.lookupFailed(now, r)
	}
}

// abandonRequestsTo drops the requests in flight to id, which is gone;
// their lookups move on without waiting for a timeout.
func (m *Machine) abandonRequestsTo(now time.Time, id identity.NodeID) {
	var lost []request
	m.pending = slices.DeleteFunc(m.pending, func(r request) bool {
		if r.to.ID == id {
			lost = append(lost, r)
			return true
		}
		return false
	})
	for _, r := range lost {
		if r.kind == findNode {
			m.lookupFailed(now, r)
		}
	}
	m.sendQueuedContacts(m.clock(now))
}

// expireRequests fails the requests whose deadline has passed.
func (m *Machine) expireRequests(now time.Time, t int64) {
	var expired []request
	m.pending = slices.DeleteFunc(m.pending, func(r request) bool {
		if t >= r.deadline {
			expired = append(expired, r)
			return true
		}
		return false
	})
	m.trimPending()
	for _, r := range expired {
		m.requestFailed(now, t, r)
	}
	m.sendQueuedContacts(t)
}
