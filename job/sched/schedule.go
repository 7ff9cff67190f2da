package sched

import (
	"slices"
	"time"
)

// schedule fills every free slot of every live worker, in the order the
// workers joined: first with units that need more runs, then with copies
// of stragglers.
func (m *Machine) schedule(now time.Time) {
	for _, w := range m.workers {
		m.scheduleWorker(now, w)
	}
}

// scheduleWorker fills the free slots of w alone. It is enough after an
// event that changes only w, such as its heartbeat or its joining.
func (m *Machine) scheduleWorker(now time.Time, w *workerState) {
	if now.After(m.now) {
		m.now = now
	}
	for len(w.leases) < m.cfg.SlotsPerWorker && m.alive(w, now) {
		u := m.pickPending(w)
		if u == nil {
			u = m.pickStraggler(w, now)
		}
		if u == nil {
			return
		}
		m.assign(now, w, u)
	}
}

// alive reports whether w was heard from within LeaseDuration. A stalled
// worker gets no new unit until its next heartbeat.
func (m *Machine) alive(w *workerState, now time.Time) bool {
	return now.Before(w.lastSeen.Add(m.cfg.LeaseDuration))
}

// gap returns how many more leases u needs: Verify less the workers that
// agree on its best result and the leases already running.
func (m *Machine) gap(u *unitState) int {
	_, agree := u.agreement()
	return m.cfg.Verify - agree - len(u.active)
}

// eligible reports whether w may run u: its tier allows u's size, and it
// neither runs u nor has given a result for it, so that Verify counts
// distinct workers.
func (m *Machine) eligible(w *workerState, u *unitState) bool {
	if w.tier == TierLower && u.unit.Readings > m.cfg.LowerTierMaxReadings {
		return false
	}
	if slices.ContainsFunc(u.active, func(l *lease) bool { return l.worker == w.id }) {
		return false
	}
	return !slices.ContainsFunc(u.results, func(r result) bool { return r.worker == w.id })
}

// pickPending returns the lowest open unit that needs a lease and that w
// may run, preferring one whose data w holds.
//
// NOTE: this scans every open unit for every free slot, O(units ×
// workers) per event; a job of many thousand units wants an index.
func (m *Machine) pickPending(w *workerState) *unitState {
	var first *unitState
	for _, id := range m.open {
		u := &m.units[id]
		if m.gap(u) <= 0 || !m.eligible(w, u) {
			continue
		}
		if u.unit.heldBy(w.id) {
			return u
		}
		if first == nil {
			first = u
		}
	}
	return first
}

// pickStraggler returns the unit whose oldest lease started longest ago,
// if that was StragglerAfter or more before now, the unit has no copy
// yet, and w may run it.
func (m *Machine) pickStraggler(w *workerState, now time.Time) *unitState {
	var best *unitState
	for _, id := range m.open {
		u := &m.units[id]
		if len(u.active) == 0 || m.gap(u) < 0 || !m.eligible(w, u) {
			continue
		}
		// A gap of 0 means every lease the unit needs is running, so one
		// more lease would be its copy.
		if now.Sub(u.active[0].start) < m.cfg.StragglerAfter {
			continue
		}
		if best == nil || u.active[0].start.Before(best.active[0].start) {
			best = u
		}
	}
	return best
}

func (m *Machine) assign(now time.Time, w *workerState, u *unitState) {
	l := &lease{
		id:       m.nextLease,
		unit:     u.unit.ID,
		worker:   w.id,
		start:    now,
		deadline: now.Add(m.cfg.LeaseDuration),
		active:   true,
	}
	m.nextLease++
	m.issued[l.id] = l
	u.active = append(u.active, l)
	w.leases = append(w.leases, l)
	m.assignments = append(m.assignments, Assignment{
		Worker: w.id, Epoch: m.epoch, Lease: l.id, Unit: u.unit, Deadline: l.deadline,
	})
}
