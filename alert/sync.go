package alert

import (
	"slices"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// sendSummary sends p the short IDs of the held alerts and schedules the
// next one.
func (m *Machine) sendSummary(now time.Time, p Peer, n *neighbour, reply bool) {
	list := m.sorted()
	// NOTE: a node holding more than wire.MaxAlertSummary alerts lists
	// only the newest. The peer then pushes the older ones it holds again,
	// and this node drops them as duplicates.
	if len(list) > wire.MaxAlertSummary {
		list = list[len(list)-wire.MaxAlertSummary:]
	}
	ids := make([]wire.AlertShortID, len(list))
	for i, s := range list {
		ids[i] = s.ID.Short()
	}
	n.nextSync = now.Add(m.cfg.SyncInterval)
	m.outbox = append(m.outbox, Outgoing{To: p, Msg: &wire.AlertSummary{IDs: ids, Reply: reply}})
}

// handleSummary pushes to from every held alert its summary lacks, and
// replies with this node's summary when the summary requests one. A summary from a peer
// that is not a neighbour makes it one: it can reach this node.
func (m *Machine) handleSummary(now time.Time, from Peer, msg *wire.AlertSummary) {
	m.expire(now)
	n, ok := m.neighbours[from]
	if !ok {
		m.NeighbourUp(now, from)
		n = m.neighbours[from]
	} else if msg.Reply {
		m.sendSummary(now, from, n, false)
	}

	// The summary replaces what this node believed the peer holds, except
	// for pushes so recent that the summary may have crossed them.
	has := make(map[wire.AlertShortID]time.Time, len(msg.IDs))
	for _, id := range msg.IDs {
		has[id] = time.Time{}
	}
	for id, pushed := range n.has {
		if !pushed.IsZero() && now.Sub(pushed) < m.cfg.ResendAfter {
			has[id] = pushed
		}
	}
	n.has = has

	var batch [][]byte
	for _, s := range m.sorted() {
		if _, ok := has[s.ID.Short()]; ok {
			continue
		}
		has[s.ID.Short()] = now
		batch = append(batch, s.Raw)
		if len(batch) == wire.MaxAlertBatch {
			m.outbox = append(m.outbox, Outgoing{To: from, Msg: &wire.AlertPush{Alerts: batch}})
			batch = nil
		}
	}
	if len(batch) > 0 {
		m.outbox = append(m.outbox, Outgoing{To: from, Msg: &wire.AlertPush{Alerts: batch}})
	}
}

// sorted returns the held alerts in sequence order per authority, the
// order in which a receiver's reorder window expects them.
func (m *Machine) sorted() []*Signed {
	list := make([]*Signed, 0, len(m.held))
	for _, h := range m.held {
		list = append(list, h.Signed)
	}
	slices.SortFunc(list, compareSequence)
	return list
}
