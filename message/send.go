package message

import (
	"errors"
	"fmt"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// ErrDuplicate reports an item sent twice.
var ErrDuplicate = errors.New("message: item already sent")

// State is the delivery state of an item sent from this node.
type State uint8

const (
	// StatePending: the item is on its way, or waits for a reachable
	// custodian.
	StatePending State = iota + 1
	// StateHeld: custodians hold the item until the recipient's node
	// returns.
	StateHeld
	// StateDelivered: the item reached the recipient's node.
	StateDelivered
	// StateRejected: every custodian rejected the item, such as for its
	// quota; Status.Error is the reason. The item is not retried.
	StateRejected
	// StateExpired: the item expired before it was delivered.
	StateExpired
)

func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateHeld:
		return "held"
	case StateDelivered:
		return "delivered"
	case StateRejected:
		return "rejected"
	case StateExpired:
		return "expired"
	}
	return fmt.Sprintf("state-%d", uint8(s))
}

// Status is the state of an item sent from this node.
type Status struct {
	Item  *Item
	State State
	// Custodians is how many nodes hold the item, in StateHeld.
	Custodians int
	// Error explains StateRejected.
	Error string
	// Receipt is the recipient's receipt for a message, once it came.
	Receipt *Item
	Updated time.Time
}

// phase is the routing step an outbound item is at.
type phase uint8

const (
	// phaseWait: waiting until nextTry.
	phaseWait phase = iota
	phaseLookup
	phaseLocate
	phaseDeliver
	phaseHold
	// phaseDone: delivered, held or rejected; only a receipt or expiry
	// changes it now.
	phaseDone
)

type outbound struct {
	status  Status
	phase   phase
	nextTry time.Time
	// Replies to the hold requests in phaseHold.
	holdWaiting, holdAccepted int
	holdError                 string
}

// Send routes an item signed on this node: a message from a local user,
// or a receipt for a message a local user received.
func (m *Machine) Send(now time.Time, it *Item) error {
	if _, ok := m.out[it.Key()]; ok {
		return fmt.Errorf("%w: %s %s", ErrDuplicate, it.Kind, it.ID)
	}
	if !now.Before(it.Expires) {
		return fmt.Errorf("%w: %s %s expired at %s", ErrInvalid, it.Kind, it.ID, it.Expires.Format(time.RFC3339))
	}
	o := &outbound{status: Status{Item: it, State: StatePending, Updated: now}}
	m.out[it.Key()] = o
	m.emitStatus(now, o)
	m.advance(now, o)
	return nil
}

// Status returns the status of an item sent from this node that has not
// expired.
func (m *Machine) Status(key Key) (Status, bool) {
	o, ok := m.out[key]
	if !ok {
		return Status{}, false
	}
	return o.status, true
}

// Restore hands the Machine the statuses stored before a restart. Items
// still pending are routed again; the rest wait for their receipt or
// expiry.
func (m *Machine) Restore(now time.Time, statuses []Status) {
	for i := range statuses {
		st := statuses[i]
		if !now.Before(st.Item.Expires) {
			continue
		}
		o := &outbound{status: st, phase: phaseDone}
		m.out[st.Item.Key()] = o
		if st.State == StatePending {
			o.phase = phaseWait
			o.nextTry = now
		}
	}
}

// advance takes an outbound item as many steps further as it can go
// without a response from the network.
func (m *Machine) advance(now time.Time, o *outbound) {
	it := o.status.Item
	if o.phase != phaseWait && o.phase != phaseLookup && o.phase != phaseLocate {
		return
	}
	if m.isLocal(it.To) {
		m.receive(now, it, identity.NodeID{})
		m.delivered(now, o)
		return
	}
	target := it.Target
	if loc := m.freshLocation(target, now); loc != nil && loc.Node.ID != m.cfg.Self.ID && !m.isDown(loc.Node.ID, now) {
		o.phase = phaseDeliver
		m.request(loc.Node, &wire.MsgDeliver{Items: [][]byte{it.Raw}}, pendingRequest{kind: reqDeliver, key: it.Key()})
		return
	}
	contacts, ok := m.wantClosest(target, now)
	if !ok {
		o.phase = phaseLookup
		return
	}
	if _, done := m.located[target]; !done {
		o.phase = phaseLocate
		m.locate(now, target, contacts)
		return
	}
	m.hold(now, o, target, contacts)
}

// advanceTarget advances every outbound item waiting on target's lookup
// or location.
func (m *Machine) advanceTarget(now time.Time, target identity.NodeID) {
	for _, key := range m.sortedOut() {
		o := m.out[key]
		if (o.phase == phaseLookup || o.phase == phaseLocate) && o.status.Item.Target == target {
			m.advance(now, o)
		}
	}
}

// locate requests from the nodes closest to target for the user's location
// record, unless a round is in flight.
func (m *Machine) locate(now time.Time, target identity.NodeID, contacts []wire.Contact) {
	if m.locating[target] > 0 {
		return
	}
	for _, c := range m.custodians(target, contacts, now) {
		if c.ID == m.cfg.Self.ID {
			continue
		}
		m.locating[target]++
		m.request(c, &wire.UserLocate{User: wire.Hash(target)}, pendingRequest{kind: reqLocate, target: target})
	}
	if m.locating[target] == 0 {
		m.located[target] = now
		m.advanceTarget(now, target)
	}
}

func (m *Machine) locateDone(now time.Time, target identity.NodeID, resp wire.Message) {
	m.locating[target]--
	found := false
	if r, ok := resp.(*wire.UserLocation); ok && len(r.Record) > 0 {
		l, err := DecodeLocation(r.Record)
		if err == nil && l.Key() == target && now.Before(l.Expires) {
			found = m.storeLocation(l)
		}
	}
	if found {
		m.push(now, target)
	}
	if m.locating[target] > 0 && !found {
		return
	}
	if m.locating[target] == 0 {
		delete(m.locating, target)
		m.located[target] = now
	}
	m.advanceTarget(now, target)
}

// deliverDone handles the recipient node's response to a direct delivery.
func (m *Machine) deliverDone(now time.Time, key Key, resp wire.Message) {
	o, ok := m.out[key]
	if !ok || o.phase != phaseDeliver {
		return
	}
	if code, _ := firstResult(resp); resp != nil && (code == wire.MsgAccepted || code == wire.MsgDuplicate) {
		m.delivered(now, o)
		return
	}
	// Fall back to custodians. A node that responded with anything else
	// does not host the user (a stale record), and one that did not
	// respond is marked down, so advance tries neither again.
	if resp != nil {
		delete(m.locations, o.status.Item.Target)
	}
	o.phase = phaseWait
	m.advance(now, o)
}

// hold hands the item to its custodians, this node among them when it is
// one of the closest.
func (m *Machine) hold(now time.Time, o *outbound, target identity.NodeID, contacts []wire.Contact) {
	it := o.status.Item
	o.phase = phaseHold
	o.holdWaiting, o.holdAccepted, o.holdError = 0, 0, ""
	for _, c := range m.custodians(target, contacts, now) {
		if c.ID == m.cfg.Self.ID {
			r := m.holdItem(now, it)
			m.countHold(o, r)
			continue
		}
		o.holdWaiting++
		m.request(c, &wire.MsgDeliver{Items: [][]byte{it.Raw}, Hold: true}, pendingRequest{kind: reqHold, key: it.Key()})
	}
	if o.holdWaiting == 0 {
		m.holdFinished(now, o)
	}
}

func (m *Machine) holdDone(now time.Time, key Key, resp wire.Message) {
	o, ok := m.out[key]
	if !ok || o.phase != phaseHold {
		return
	}
	o.holdWaiting--
	// Any response but an ack, such as an error from a node that is
	// still starting, counts as no response: the item is retried, not
	// rejected.
	if ack, ok := resp.(*wire.MsgAck); ok && len(ack.Results) > 0 {
		m.countHold(o, ack.Results[0])
	}
	if o.holdWaiting == 0 {
		m.holdFinished(now, o)
	}
}

func (m *Machine) countHold(o *outbound, r wire.MsgResult) {
	switch r.Code {
	case wire.MsgAccepted, wire.MsgDuplicate:
		o.holdAccepted++
	default:
		if o.holdError == "" {
			o.holdError = r.Text
		}
	}
}

// holdFinished settles a hold round: held if any custodian accepted,
// rejected if custodians responded and all rejected, retried later if none
// answered.
func (m *Machine) holdFinished(now time.Time, o *outbound) {
	switch {
	case o.status.State == StateDelivered:
		// The receipt came before the last custodian responded.
		o.phase = phaseDone
	case o.holdAccepted > 0:
		o.phase = phaseDone
		o.status.State = StateHeld
		o.status.Custodians = o.holdAccepted
		m.emitStatus(now, o)
	case o.holdError != "":
		o.phase = phaseDone
		o.status.State = StateRejected
		o.status.Error = o.holdError
		m.emitStatus(now, o)
	default:
		o.phase = phaseWait
		o.nextTry = now.Add(m.cfg.RetryInterval)
	}
}

func (m *Machine) delivered(now time.Time, o *outbound) {
	o.phase = phaseDone
	if o.status.State == StateDelivered {
		return
	}
	o.status.State = StateDelivered
	o.status.Custodians = 0
	m.emitStatus(now, o)
}

func (m *Machine) emitStatus(now time.Time, o *outbound) {
	o.status.Updated = now
	st := o.status
	m.events = append(m.events, Event{Kind: StatusChanged, Item: st.Item, Status: &st})
}

// firstResult returns the first result of an ack, or MsgForged for any
// other response, which a well-behaved peer never sends.
func firstResult(resp wire.Message) (wire.MsgCode, string) {
	ack, ok := resp.(*wire.MsgAck)
	if !ok || len(ack.Results) == 0 {
		return wire.MsgForged, "peer sent no message ack"
	}
	return ack.Results[0].Code, ack.Results[0].Text
}
