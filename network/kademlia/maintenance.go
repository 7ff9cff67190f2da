package kademlia

import (
	"time"

	"github.com/yuinet/yui/network/wire"
)

// Tick runs the Machine's timers. It fails requests whose timeout (see
// Outgoing.Timeout) has passed, finishes lookups that ran out of time,
// repeats a join lookup that found fewer than K nodes once a contact has
// entered the table since, and refreshes buckets that no lookup entered
// for RefreshInterval. It pings
// contacts whose last request failed or that were silent for PingInterval,
// while fewer than LivenessPings liveness and eviction pings are in
// flight. Calling it early is harmless.
func (m *Machine) Tick(now time.Time) {
	t := m.clock(now)
	m.expireRequests(now, t)
	m.expireLookups(now, t)
	m.joinAgain(now, t)
	m.refreshBuckets(now, t)
	m.pingSilent(t)
}

// NextDeadline returns when Tick must next run, or the zero time if no
// timer is pending. It may be in the past, and it can move earlier after
// any other call, so a caller checks it again after each call.
func (m *Machine) NextDeadline() time.Time {
	due := min(m.refreshDue, m.joinDue)
	if m.maintenancePings() < m.cfg.LivenessPings {
		due = min(due, m.pingDue)
	}
	for i := range m.pending {
		due = min(due, m.pending[i].deadline)
	}
	for _, l := range m.lookups {
		due = min(due, l.deadline)
	}
	if due == noDeadline {
		return time.Time{}
	}
	return m.wall(due)
}

// refreshBuckets starts a lookup for a random ID in each bucket that no
// lookup entered for RefreshInterval. An empty table has no one to ask.
func (m *Machine) refreshBuckets(now time.Time, t int64) {
	if m.Len() == 0 {
		m.refreshDue = noDeadline
		return
	}
	interval := int64(m.cfg.RefreshInterval)
	for idx := range m.buckets {
		if t-m.buckets[idx].lastLookup >= interval {
			m.startLookup(now, m.randomIDInBucket(idx), lookupRefresh)
			// startLookup marks the target's bucket, which is idx unless
			// a finished lookup changed the table; mark it in any case.
			if idx < len(m.buckets) {
				m.buckets[idx].lastLookup = t
			}
		}
	}

	m.refreshDue = noDeadline
	for idx := range m.buckets {
		m.refreshDue = min(m.refreshDue, m.buckets[idx].lastLookup+interval)
	}
}

// pingSilent pings the contacts that may be gone, while fewer than
// LivenessPings liveness and eviction pings are in flight. Contacts whose
// last request failed come first: pinging them again at once takes a dead
// contact to MaxFailures within a few of its timeouts, where waiting would
// make each of the next lookups that query it wait for it too. A live one
// responds, which resets its count. Then come the contacts silent for
// PingInterval, longest silent first. Contacts with a request in flight
// are skipped: its outcome will tell.
func (m *Machine) pingSilent(t int64) {
	interval := int64(m.cfg.PingInterval)
	for budget := m.cfg.LivenessPings - m.maintenancePings(); budget > 0; budget-- {
		e := m.suspect()
		if e == nil {
			e = m.leastRecentlySeen()
			if e == nil || t-e.lastSeen < interval {
				break
			}
		}
		// With a replacement waiting, the ping is also the bucket's
		// eviction check: one failure makes room for the replacement.
		kind := pingLiveness
		if len(m.buckets[m.bucketIndex(e.id)].replacements) > 0 {
			kind = pingEvict
		}
		m.send(t, m.contactOf(e), &wire.Ping{}, request{kind: kind})
	}

	// Suspects left over wait only for the budget, which NextDeadline
	// checks before it looks at pingDue.
	m.pingDue = noDeadline
	if m.suspect() != nil {
		m.pingDue = t
	} else if e := m.leastRecentlySeen(); e != nil {
		m.pingDue = e.lastSeen + interval
	}
}

// suspect returns a table entry whose last request failed and that has no
// request in flight, or nil.
func (m *Machine) suspect() *entry {
	if !m.suspectsDue {
		return nil
	}
	for idx := range m.buckets {
		b := &m.buckets[idx]
		for i := range b.entries {
			if e := &b.entries[i]; e.failures > 0 && !m.requestTo(e.id) {
				return e
			}
		}
	}
	m.suspectsDue = false
	return nil
}

// maintenancePings counts the liveness and eviction pings in flight, which
// share the LivenessPings budget.
func (m *Machine) maintenancePings() int {
	return m.countPending(pingLiveness) + m.countPending(pingEvict)
}

// leastRecentlySeen returns the table entry heard from least recently
// among those with no request in flight, or nil.
func (m *Machine) leastRecentlySeen() *entry {
	var oldest *entry
	for idx := range m.buckets {
		b := &m.buckets[idx]
		for i := range b.entries {
			// Entries are ordered by lastSeen, so the first one free of
			// requests is the bucket's candidate.
			e := &b.entries[i]
			if m.requestTo(e.id) {
				continue
			}
			if oldest == nil || e.lastSeen < oldest.lastSeen {
				oldest = e
			}
			break
		}
	}
	return oldest
}
