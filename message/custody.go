package message

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// heldItem is an item this node holds for another node's user.
type heldItem struct {
	item *Item
	// pushing is set while a push to the recipient's node is in flight;
	// pushAt is when to retry one that failed.
	pushing bool
	pushAt  time.Time
}

// HandleRequest serves a messaging request from a peer and returns the
// response. It returns nil for message types it does not serve.
func (m *Machine) HandleRequest(now time.Time, from identity.NodeID, msg wire.Message) wire.Message {
	switch msg := msg.(type) {
	case *wire.MsgDeliver:
		ack := &wire.MsgAck{Results: make([]wire.MsgResult, len(msg.Items))}
		for i, raw := range msg.Items {
			ack.Results[i] = m.accept(now, from, raw, msg.Hold)
		}
		return ack
	case *wire.UserAnnounce:
		return &wire.MsgAck{Results: []wire.MsgResult{m.announced(now, from, msg.Record)}}
	case *wire.UserLocate:
		var resp wire.UserLocation
		if l := m.freshLocation(identity.NodeID(msg.User), now); l != nil {
			resp.Record = l.Raw
		}
		return &resp
	}
	return nil
}

// accept checks one item from a peer and stores it for a local user, or
// holds it when hold is set.
func (m *Machine) accept(now time.Time, from identity.NodeID, raw []byte, hold bool) wire.MsgResult {
	it, err := Decode(raw)
	if err != nil {
		m.counters.Forged++
		m.events = append(m.events, Event{Kind: Rejected, From: from, Err: err})
		return wire.MsgResult{Code: wire.MsgForged, Text: limitText(err.Error())}
	}
	if err := m.checkTime(now, it); err != nil {
		m.events = append(m.events, Event{Kind: Rejected, From: from, Item: it, Err: err})
		return wire.MsgResult{Code: wire.MsgExpired, Text: limitText(err.Error())}
	}
	if hold {
		return m.holdItem(now, it)
	}
	// NOTE: items for local users count against no quota, so a sender
	// that reaches the recipient's node directly can fill its inbox.
	if !m.isLocal(it.To) {
		return wire.MsgResult{Code: wire.MsgNotHere, Text: fmt.Sprintf(
			"user %s is not on node %s", Fingerprint(it.To), m.cfg.Self.ID.Short())}
	}
	return m.receive(now, it, from)
}

// checkTime rejects an expired item and one created too far ahead.
func (m *Machine) checkTime(now time.Time, it *Item) error {
	if !now.Before(it.Expires) {
		return fmt.Errorf("%w: %s %s expired at %s", ErrInvalid, it.Kind, it.ID, it.Expires.Format(time.RFC3339))
	}
	if it.Created.After(now.Add(m.cfg.MaxSkew)) {
		return fmt.Errorf("%w: %s %s created at %s, in the future; check the sender's clock",
			ErrInvalid, it.Kind, it.ID, it.Created.Format(time.RFC3339))
	}
	return nil
}

// receive gives an item to its local recipient.
func (m *Machine) receive(now time.Time, it *Item, from identity.NodeID) wire.MsgResult {
	if _, ok := m.received[it.Key()]; ok {
		return wire.MsgResult{Code: wire.MsgDuplicate}
	}
	m.received[it.Key()] = it.Expires
	m.counters.Received++
	m.events = append(m.events, Event{Kind: Received, Item: it, From: from})
	if it.Kind == KindReceipt {
		m.receiptArrived(now, it)
	}
	return wire.MsgResult{Code: wire.MsgAccepted}
}

// receiptArrived marks the message a receipt is for as delivered.
func (m *Machine) receiptArrived(now time.Time, r *Item) {
	o, ok := m.out[Key{Kind: KindMessage, ID: r.ID}]
	if !ok || string(o.status.Item.To) != string(r.From) {
		return
	}
	o.status.Receipt = r
	if o.phase == phaseDone || o.phase == phaseWait {
		o.phase = phaseDone
	}
	o.status.State = StateDelivered
	o.status.Custodians = 0
	m.emitStatus(now, o)
}

// ErrFull reports an item past the holding node's quota.
var ErrFull = errors.New("message: custodian quota reached")

// holdItem keeps an item for another node's user, within the quota.
func (m *Machine) holdItem(now time.Time, it *Item) wire.MsgResult {
	if m.isLocal(it.To) {
		return m.receive(now, it, identity.NodeID{})
	}
	if _, ok := m.held[it.Key()]; ok {
		return wire.MsgResult{Code: wire.MsgDuplicate}
	}
	if err := m.checkQuota(it); err != nil {
		m.counters.Full++
		return wire.MsgResult{Code: wire.MsgFull, Text: limitText(err.Error())}
	}
	m.addHeld(it)
	m.events = append(m.events, Event{Kind: Held, Item: it})
	m.push(now, it.Target)
	return wire.MsgResult{Code: wire.MsgAccepted}
}

func (m *Machine) checkQuota(it *Item) error {
	q, size := m.cfg.Quota, int64(len(it.Raw))
	sender := m.senders[string(it.From)]
	if sender == nil {
		sender = &usage{}
	}
	self := m.cfg.Self.ID.Short()
	switch {
	case m.usage.items+1 > q.Items:
		return fmt.Errorf("%w: node %s already stores %d items for others, limit %d; retry after some are delivered or expire",
			ErrFull, self, m.usage.items, q.Items)
	case m.usage.bytes+size > q.Bytes:
		return fmt.Errorf("%w: node %s already stores %d bytes for others, limit %d; retry after some are delivered or expire",
			ErrFull, self, m.usage.bytes, q.Bytes)
	case sender.items+1 > q.SenderItems:
		return fmt.Errorf("%w: node %s already stores %d items from user %s, limit %d per sender; wait until they are delivered or expire",
			ErrFull, self, sender.items, Fingerprint(it.From), q.SenderItems)
	case sender.bytes+size > q.SenderBytes:
		return fmt.Errorf("%w: node %s already stores %d bytes from user %s, limit %d per sender; wait until they are delivered or expire",
			ErrFull, self, sender.bytes, Fingerprint(it.From), q.SenderBytes)
	}
	return nil
}

func (m *Machine) addHeld(it *Item) {
	h := &heldItem{item: it}
	m.held[it.Key()] = h
	if m.heldFor[it.Target] == nil {
		m.heldFor[it.Target] = make(map[Key]*heldItem)
	}
	m.heldFor[it.Target][it.Key()] = h
	size := int64(len(it.Raw))
	m.usage.items++
	m.usage.bytes += size
	s := m.senders[string(it.From)]
	if s == nil {
		s = &usage{}
		m.senders[string(it.From)] = s
	}
	s.items++
	s.bytes += size
	m.counters.Held++
}

// release drops a held item and emits Released so the caller deletes its copy.
func (m *Machine) release(h *heldItem) {
	it := h.item
	if _, ok := m.held[it.Key()]; !ok {
		return
	}
	delete(m.held, it.Key())
	delete(m.heldFor[it.Target], it.Key())
	if len(m.heldFor[it.Target]) == 0 {
		delete(m.heldFor, it.Target)
	}
	size := int64(len(it.Raw))
	m.usage.items--
	m.usage.bytes -= size
	if s := m.senders[string(it.From)]; s != nil {
		s.items--
		s.bytes -= size
		if s.items == 0 {
			delete(m.senders, string(it.From))
		}
	}
	m.counters.Released++
	m.events = append(m.events, Event{Kind: Released, Item: it})
}

// RestoreHeld hands the Machine the items it held before a restart,
// skipping expired ones. Restored items bypass the quota, which may
// have been lowered, so that nothing accepted is lost.
func (m *Machine) RestoreHeld(now time.Time, items []*Item) {
	for _, it := range items {
		if now.Before(it.Expires) && m.held[it.Key()] == nil {
			m.addHeld(it)
			m.heldLocateAt[it.Target] = now
		}
	}
}

// RestoreReceived hands the Machine the keys of items its local users
// received before a restart, so that a second copy is a duplicate.
func (m *Machine) RestoreReceived(items []*Item) {
	for _, it := range items {
		m.received[it.Key()] = it.Expires
	}
}

// push sends the items held for the user with UserKey key to the node its
// location record names.
func (m *Machine) push(now time.Time, key identity.NodeID) {
	loc := m.freshLocation(key, now)
	if loc == nil {
		return
	}
	if loc.Node.ID == m.cfg.Self.ID {
		return
	}
	if m.isDown(loc.Node.ID, now) {
		return
	}
	var batch [][]byte
	var keys []Key
	size := 0
	for _, k := range sortedKeys(m.heldFor[key]) {
		h := m.held[k]
		if h.pushing {
			continue
		}
		if len(batch) == wire.MaxMsgBatch || size+len(h.item.Raw) > wire.MaxMessageSize/2 {
			m.sendPush(loc.Node, batch, keys)
			batch, keys, size = nil, nil, 0
		}
		h.pushing = true
		batch = append(batch, h.item.Raw)
		keys = append(keys, k)
		size += len(h.item.Raw)
	}
	if len(batch) > 0 {
		m.sendPush(loc.Node, batch, keys)
	}
}

func (m *Machine) sendPush(to wire.Contact, batch [][]byte, keys []Key) {
	m.counters.Pushed += uint64(len(batch))
	m.request(to, &wire.MsgDeliver{Items: batch}, pendingRequest{kind: reqPush, keys: keys})
}

func (m *Machine) pushDone(now time.Time, keys []Key, resp wire.Message) {
	ack, _ := resp.(*wire.MsgAck)
	for i, k := range keys {
		h := m.held[k]
		if h == nil {
			continue
		}
		h.pushing = false
		if ack == nil || i >= len(ack.Results) {
			h.pushAt = now.Add(m.cfg.RetryInterval)
			continue
		}
		switch ack.Results[i].Code {
		case wire.MsgNotHere:
			// The record is stale; the next announcement brings the
			// right one.
			delete(m.locations, h.item.Target)
			h.pushAt = now.Add(m.cfg.RetryInterval)
		case wire.MsgFull:
			h.pushAt = now.Add(m.cfg.RetryInterval)
		default:
			// Accepted, duplicate, or rejected as forged or expired by
			// the recipient's node: either way this node is done.
			m.release(h)
		}
	}
}

// retryPushes pushes again the held items whose last push failed.
func (m *Machine) retryPushes(now time.Time) {
	due := make(map[identity.NodeID]bool)
	for _, k := range m.sortedHeld() {
		h := m.held[k]
		if !h.pushing && !h.pushAt.IsZero() && !now.Before(h.pushAt) {
			h.pushAt = time.Time{}
			due[h.item.Target] = true
		}
	}
	for _, k := range m.sortedHeld() {
		if h := m.held[k]; h != nil {
			if key := h.item.Target; due[key] {
				delete(due, key)
				m.push(now, key)
			}
		}
	}
}

// locateHeld looks up, every AnnounceInterval, where the recipients of
// held items are. The nodes a recipient announces itself to are the
// closest to its key when it announces, which need not be the custodians
// its sender picked, so a custodian looks the recipient up itself.
func (m *Machine) locateHeld(now time.Time) {
	targets := make([]identity.NodeID, 0, len(m.heldFor))
	for target := range m.heldFor {
		targets = append(targets, target)
	}
	slices.SortFunc(targets, func(a, b identity.NodeID) int { return slices.Compare(a[:], b[:]) })
	for _, target := range targets {
		if at, ok := m.heldLocateAt[target]; m.heldLooking[target] || ok && now.Before(at) {
			continue
		}
		m.heldLocateAt[target] = now.Add(m.cfg.AnnounceInterval)
		if m.freshLocation(target, now) != nil {
			m.push(now, target)
			continue
		}
		m.heldLooking[target] = true
		if contacts, ok := m.wantClosest(target, now); ok {
			delete(m.heldLooking, target)
			m.locate(now, target, contacts)
		}
	}
}

// limitText cuts an error text to what a wire.MsgResult may carry.
func limitText(s string) string {
	if len(s) > wire.MaxMsgResultText {
		return s[:wire.MaxMsgResultText]
	}
	return s
}

// holdsFor counts the held items for the user with UserKey target.
func (m *Machine) holdsFor(target identity.NodeID) int { return len(m.heldFor[target]) }

func sortedKeys(items map[Key]*heldItem) []Key {
	keys := make([]Key, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}
