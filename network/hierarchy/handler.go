package hierarchy

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// requestKind is the purpose of one of the hierarchy's own requests.
type requestKind uint8

const (
	// reqSync is a GroupSync: a gossip round, the verification of a new
	// member or the check of a silent one.
	reqSync requestKind = iota + 1
	// reqForward is a member's Forward to a representative.
	reqForward
	// reqRelay is a Forward relayed for another member.
	reqRelay
)

// request is one of the hierarchy's own requests in flight.
type request struct {
	id    uint64
	to    identity.NodeID
	sent  int64
	kind  requestKind
	token uint64 // the forward's token for reqForward
}

// send queues msg to to as a new request and returns its ID.
func (m *Machine) send(t int64, to wire.Contact, msg wire.Message, r request) uint64 {
	m.nextRequest++
	r.id, r.to, r.sent = ownRequestBit|m.nextRequest, to.ID, t
	m.pending = append(m.pending, r)
	m.outbox = append(m.outbox, kademlia.Outgoing{To: to, Request: r.id, Msg: msg})
	return r.id
}

// takePending removes and returns the pending request with the given ID.
func (m *Machine) takePending(id uint64) (request, bool) {
	i, found := slices.BinarySearchFunc(m.pending, id, func(r request, id uint64) int { return cmp.Compare(r.id, id) })
	if !found {
		return request{}, false
	}
	r := m.pending[i]
	m.pending = slices.Delete(m.pending, i, i+1)
	if len(m.pending) == 0 {
		m.pending = nil // most members are idle: hold no buffer
	}
	return r, true
}

func (m *Machine) requestTo(id identity.NodeID) bool {
	return slices.ContainsFunc(m.pending, func(r request) bool { return r.to == id })
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

func badRequest(text string) *wire.Error {
	return &wire.Error{Code: wire.CodeBadRequest, Message: text}
}

// HandleRequest serves a message from another node and returns the
// response, or nil for a one-way message:
//
//   - GroupSync merges the sender's records and returns a GroupState.
//   - Forward starts a lookup for a member (see Lookup) and returns a
//     ForwardAck, or a Referral from a node that cannot serve it.
//   - LookupAnswer (one-way) ends a forwarded lookup.
//   - Ping and FindNode go to the routing table of a DHT participant. A
//     member returns a Referral to its representatives, and keeps the
//     sender of a FindNode as a seed, because only DHT participants send
//     those.
//   - Leave (one-way) marks a group member dead and drops the sender from
//     the routing table.
//
// In Flat mode it is kademlia's HandleRequest.
func (m *Machine) HandleRequest(now time.Time, from wire.Contact, request uint64, msg wire.Message) wire.Message {
	if m.cfg.Mode == Flat {
		return m.routing.HandleRequest(now, from, request, msg)
	}
	resp := m.handleRequest(now, from, request, msg)
	m.pump(now)
	return resp
}

func (m *Machine) handleRequest(now time.Time, from wire.Contact, request uint64, msg wire.Message) wire.Message {
	t := m.clock(now)
	if msg == nil {
		return badRequest("hierarchy: empty message")
	}
	if err := msg.Validate(); err != nil {
		return badRequest(fmt.Sprintf("hierarchy: invalid %v: %v", msg.Type(), err))
	}

	switch msg := msg.(type) {
	case *wire.GroupSync:
		return m.handleGroupSync(t, from, msg)
	case *wire.Forward:
		return m.handleForward(now, from, msg)
	case *wire.LookupAnswer:
		m.answerArrived(now, from, msg)
		return nil
	case *wire.Leave:
		if i := m.findMember(from.ID); i >= 0 {
			m.markDead(t, i)
		}
	case *wire.Ping, *wire.FindNode:
		if m.routing == nil {
			if _, ok := msg.(*wire.FindNode); ok {
				m.addExternal(from)
			}
			return &wire.Referral{Contacts: m.otherRepresentatives(nil)}
		}
	}
	if m.routing != nil {
		return m.routing.HandleRequest(now, from, request, msg)
	}
	if request == 0 {
		return nil
	}
	return &wire.Error{
		Code:    wire.CodeUnsupported,
		Message: fmt.Sprintf("hierarchy: %v is not a request this node serves", msg.Type()),
	}
}

// HandleResponse delivers the response to a request from the Outbox. It
// ignores a response to an unknown, finished or timed-out request, and one
// from a node other than the request's addressee. In Flat mode it is
// kademlia's HandleResponse.
func (m *Machine) HandleResponse(now time.Time, from wire.Contact, request uint64, msg wire.Message) {
	if m.cfg.Mode == Flat {
		m.routing.HandleResponse(now, from, request, msg)
		return
	}
	if inner, ok := m.routingRequest(request); ok {
		m.routingResponse(now, from, inner, msg)
	} else if request&ownRequestBit != 0 {
		m.ownResponse(now, from, request, msg)
	}
	m.pump(now)
}

// routingResponse hands a response to the routing Machine. A Referral
// comes from a node outside the DHT, so the routing Machine gets a
// failure instead, and the representatives named in it become candidates
// that the routing Machine verifies before use.
func (m *Machine) routingResponse(now time.Time, from wire.Contact, inner uint64, msg wire.Message) {
	ref, ok := msg.(*wire.Referral)
	if !ok {
		m.routing.HandleResponse(now, from, inner, msg)
		return
	}
	m.routing.HandleFailure(now, inner)
	if ref != nil && ref.Validate() == nil {
		for _, c := range ref.Contacts {
			m.routing.AddContact(now, c)
		}
	}
}

func (m *Machine) ownResponse(now time.Time, from wire.Contact, id uint64, msg wire.Message) {
	r, ok := m.takePending(id)
	if !ok {
		return
	}
	if r.to != from.ID {
		m.pending = append(m.pending, r)
		slices.SortFunc(m.pending, func(a, b request) int { return cmp.Compare(a.id, b.id) })
		return
	}
	t := m.clock(now)
	valid := msg != nil && msg.Validate() == nil

	switch r.kind {
	case reqSync:
		state, ok := msg.(*wire.GroupState)
		if !ok || !valid {
			m.memberFailed(t, r.to)
		} else {
			m.groupStateArrived(t, from, state)
		}
		m.verify(t)
	case reqForward:
		if _, ok := msg.(*wire.ForwardAck); ok && valid {
			m.forwardAccepted(t, r.token, id)
			m.heardFromID(t, r.to)
			return
		}
		m.forwardFailed(now, r.token, id)
	case reqRelay:
		m.heardFromID(t, r.to)
	}
}

// heardFromID records that member id responded, if it is a live member.
func (m *Machine) heardFromID(t int64, id identity.NodeID) {
	if i := m.findMember(id); i >= 0 && m.group[i].live() {
		m.heardFrom(t, i)
	}
}

// HandleFailure reports that a request from the Outbox failed: it could
// not be delivered, the peer proved a different ID, or no response came.
// Unknown or finished requests are ignored. In Flat mode it is kademlia's
// HandleFailure.
func (m *Machine) HandleFailure(now time.Time, request uint64) {
	if m.cfg.Mode == Flat {
		m.routing.HandleFailure(now, request)
		return
	}
	if inner, ok := m.routingRequest(request); ok {
		m.routing.HandleFailure(now, inner)
	} else if r, ok := m.takePending(request); ok {
		m.ownFailure(now, r)
	}
	m.pump(now)
}

func (m *Machine) ownFailure(now time.Time, r request) {
	t := m.clock(now)
	m.memberFailed(t, r.to)
	if r.kind == reqForward {
		m.forwardFailed(now, r.token, r.id)
	}
	m.verify(t)
}

// expireRequests fails the requests that have waited RequestTimeout.
func (m *Machine) expireRequests(now time.Time, t int64) {
	timeout := int64(m.cfg.Kademlia.RequestTimeout)
	var expired []request
	m.pending = slices.DeleteFunc(m.pending, func(r request) bool {
		if t-r.sent >= timeout {
			expired = append(expired, r)
			return true
		}
		return false
	})
	for _, r := range expired {
		m.ownFailure(now, r)
	}
}

// Tick runs the Machine's timers: request timeouts, overdue forwarded
// lookups, the gossip round, checks of silent members, a challenge that
// has held, a representative's retry to join the DHT, and the routing
// table's own timers. Calling it early is harmless.
func (m *Machine) Tick(now time.Time) {
	if m.cfg.Mode == Flat {
		m.routing.Tick(now)
		return
	}
	t := m.clock(now)
	if t >= m.quietUntil {
		m.endQuiet()
	}
	m.expireRequests(now, t)
	m.expireForwards(now, t)
	m.gossip(now, t)
	m.checkMembers(t)
	m.rejoin(now, t)
	if m.routing != nil {
		m.routing.Tick(now)
	}
	m.pump(now)
}

// NextDeadline returns when Tick must next run, or the zero time if no
// timer is pending. It may be in the past, and it can move earlier after
// any other call, so a caller checks it again after each call.
func (m *Machine) NextDeadline() time.Time {
	if m.cfg.Mode == Flat {
		return m.routing.NextDeadline()
	}
	due := min(m.nextGossip, m.quietUntil, m.checkDue(), m.forwardsDue(), m.challengeDue(), m.rejoinDue())
	timeout := int64(m.cfg.Kademlia.RequestTimeout)
	for i := range m.pending {
		due = min(due, m.pending[i].sent+timeout)
	}
	var wall time.Time
	if due != noTime {
		wall = m.wall(due)
	}
	if m.routing != nil {
		if d := m.routing.NextDeadline(); !d.IsZero() && (wall.IsZero() || d.Before(wall)) {
			return d
		}
	}
	return wall
}
