package sched

import (
	"container/heap"
	"slices"
	"time"
)

// Worker classes, each with its own heap of idle workers: lower-tier
// workers take only small units, so they are looked at only when a small
// unit or a small straggler waits.
const (
	classAny = iota
	classSmall
	classes
)

func classOf(t Tier) int {
	if t == TierLower {
		return classSmall
	}
	return classAny
}

// schedule drops the results of units that can no longer agree (see
// settleDisputes), then fills the free slots of the idle workers: first
// those that an event freed and those of the places of units that began
// to wait, then the rest in the order the workers joined, first with units that
// need more runs, then with copies of stragglers. It stops as soon as no
// unit a class may run is released, so an event costs little however
// many workers sit idle.
func (m *Machine) schedule(now time.Time) {
	m.advance(now)
	m.settleDisputes()
	m.fillPlaces(now)
	m.releaseDue(m.now)
	for class := range classes {
		m.scheduleClass(now, class)
	}
}

func (m *Machine) scheduleClass(now time.Time, class int) {
	h := &m.idle[class]
	var stash []*workerState
	for h.Len() > 0 && m.hasWork(now, class) {
		w := heap.Pop(h).(*workerState)
		if w.queuedIn != class {
			continue
		}
		if w.removed || !m.free(w) {
			w.queuedIn = noClass
			continue
		}
		m.fill(now, w)
		if m.free(w) {
			// w may run none of the waiting units, or has stalled; later
			// workers may still take them.
			stash = append(stash, w)
		} else {
			w.queuedIn = noClass
		}
	}
	for _, w := range stash {
		heap.Push(h, w)
	}
}

// hasWork reports whether a unit that workers of class may run waits
// for a lease, or runs long enough to be copied.
func (m *Machine) hasWork(now time.Time, class int) bool {
	key := keyAll
	accept := func(UnitID) bool { return true }
	if class == classSmall && m.lowerTierLimited() {
		key = smallAllKey
		accept = func(id UnitID) bool { return m.small(&m.units[id].unit) }
	}
	if _, ok := m.index.first(key, m.released, accept); ok {
		return true
	}
	return m.findStraggler(now, func(u *unitState) bool { return accept(u.unit.ID) }) != nil
}

// scheduleWorker fills the free slots of w alone. It is enough after an
// event that changes only w, such as its heartbeat or its joining.
func (m *Machine) scheduleWorker(now time.Time, w *workerState) {
	m.advance(now)
	m.releaseDue(m.now)
	m.fill(now, w)
	m.queueIfIdle(w)
}

func (m *Machine) advance(now time.Time) {
	if m.start.IsZero() {
		m.start = now
	}
	if now.After(m.now) {
		m.now = now
	}
}

// fill assigns units to w until its slots are full or none is left
// that it may run.
func (m *Machine) fill(now time.Time, w *workerState) {
	for m.free(w) && m.alive(w, now) {
		u := m.pickPending(w)
		if u == nil {
			// A copy is never needed for the unit to end, so it never
			// goes to a worker that failed the unit.
			u = m.findStraggler(now, func(u *unitState) bool {
				return m.eligible(w, u) && !slices.Contains(u.failedBy, w.id)
			})
		}
		if u == nil {
			return
		}
		m.assign(now, w, u)
	}
}

func (m *Machine) free(w *workerState) bool { return len(w.leases) < m.cfg.SlotsPerWorker }

// queueIfIdle puts w in its class's idle heap if it has a free slot and
// is not there yet.
func (m *Machine) queueIfIdle(w *workerState) {
	m.queueInCluster(w)
	class := classOf(w.tier)
	if w.removed || !m.free(w) || w.queuedIn == class {
		return
	}
	w.queuedIn = class
	heap.Push(&m.idle[class], w)
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

// pending reports whether a unit is open and needs another lease.
func (m *Machine) pending(id UnitID) bool {
	u := &m.units[id]
	return !u.committed && !u.failed && m.gap(u) > 0
}

// released reports whether a unit is pending and any worker may take it.
func (m *Machine) released(id UnitID) bool { return m.units[id].released && m.pending(id) }

// small reports whether a unit is small enough for a TierLower worker.
func (m *Machine) small(u *Unit) bool { return u.Readings <= m.cfg.LowerTierMaxReadings }

// lowerTierLimited reports whether TierLower workers are held to small
// units: only while an upper or middle tier worker is in the job, so
// that a job of weak workers alone still finishes.
func (m *Machine) lowerTierLimited() bool { return m.capable > 0 }

// eligible reports whether w may run u: its tier allows u's size, and it
// neither runs u nor has given a result for it, so that Verify counts
// distinct workers.
func (m *Machine) eligible(w *workerState, u *unitState) bool {
	if w.tier == TierLower && m.lowerTierLimited() && !m.small(&u.unit) {
		return false
	}
	if slices.ContainsFunc(u.active, func(l *lease) bool { return l.worker == w.id }) {
		return false
	}
	return !slices.ContainsFunc(u.results, func(r result) bool { return r.worker == w.id })
}

// mayRun reports whether w may run u now: it is eligible, and it has
// not failed u before unless no other live worker may run u. So a unit
// that failed on a worker goes to another one first, while a job of one
// worker, or one whose units fail on every worker, still uses up its
// attempts and ends.
func (m *Machine) mayRun(w *workerState, u *unitState) bool {
	if !m.eligible(w, u) {
		return false
	}
	return !slices.Contains(u.failedBy, w.id) || !m.untriedWorker(u)
}

// untriedWorker reports whether a live worker in the job that has not
// failed u is eligible to run it. The workers that failed u, run it or
// gave a result are few, at most MaxAttempts plus the leases and results
// of Verify, so counting them first settles without a scan the case
// where they are all the workers of the job.
//
// NOTE: otherwise the scan over the workers stops at the first one that
// fits, which is at once in the usual case but passes every stalled and
// lower-tier worker before it.
func (m *Machine) untriedWorker(u *unitState) bool {
	limited := m.lowerTierLimited() && !m.small(&u.unit)
	n := len(m.workers)
	if limited {
		n = m.capable
	}
	var tried []WorkerID
	count := func(id WorkerID) {
		w := m.byID[id]
		if w == nil || limited && w.tier == TierLower || slices.Contains(tried, id) {
			return
		}
		tried = append(tried, id)
	}
	for _, id := range u.failedBy {
		count(id)
	}
	for _, l := range u.active {
		count(l.worker)
	}
	for _, r := range u.results {
		count(r.worker)
	}
	if len(tried) >= n {
		return false
	}
	for _, w := range m.workers {
		if m.alive(w, m.now) && !slices.Contains(u.failedBy, w.id) && m.eligible(w, u) {
			return true
		}
	}
	return false
}

// pickPending returns the lowest unit that needs a lease and that w may
// run, looking first at the units whose data w holds, then at those of
// w's cluster, then at all those released to any worker.
func (m *Machine) pickPending(w *workerState) *unitState {
	prefix := ""
	if w.tier == TierLower && m.lowerTierLimited() {
		prefix = prefixSmall
	}
	keys := []string{prefix + prefixHolder + string(w.id)}
	if w.cluster != "" {
		keys = append(keys, prefix+prefixCluster+w.cluster)
	}
	accept := func(id UnitID) bool { return m.mayRun(w, &m.units[id]) }
	for _, k := range keys {
		if id, ok := m.index.first(k, m.pending, accept); ok {
			return &m.units[id]
		}
	}
	if id, ok := m.index.first(prefix+keyAll, m.released, accept); ok {
		return &m.units[id]
	}
	return nil
}

// findStraggler returns the unit whose oldest lease started longest ago,
// if that was StragglerAfter or more before now, the unit has no copy
// yet, and accept takes it.
//
// Leases are kept in the order they were issued, which is the order of
// their start as long as the caller's clock does not go back; a lease
// started earlier under a clock that went back may be found late.
func (m *Machine) findStraggler(now time.Time, accept func(*unitState) bool) *unitState {
	for m.startedHead < len(m.started) && !m.started[m.startedHead].active {
		m.started[m.startedHead] = nil
		m.startedHead++
	}
	if m.startedHead > len(m.started)/2 {
		m.started = slices.Delete(m.started, 0, m.startedHead)
		m.startedHead = 0
	}
	for _, l := range m.started[m.startedHead:] {
		if now.Sub(l.start) < m.cfg.StragglerAfter {
			return nil
		}
		if !l.active {
			continue
		}
		// A gap of 0 means every lease the unit needs is running, so one
		// more lease would be its copy.
		u := &m.units[l.unit]
		if u.active[0] == l && m.gap(u) >= 0 && accept(u) {
			return u
		}
	}
	return nil
}

func (m *Machine) assign(now time.Time, w *workerState, u *unitState) {
	l := &lease{
		id:       m.nextLease,
		unit:     u.unit.ID,
		worker:   w.id,
		start:    now,
		deadline: now.Add(m.cfg.LeaseDuration),
		active:   true,
		cluster:  w.cluster,
	}
	m.nextLease++
	m.issued[l.id] = l
	m.started = append(m.started, l)
	u.active = append(u.active, l)
	w.leases = append(w.leases, l)
	m.assignments = append(m.assignments, Assignment{
		Worker: w.id, Epoch: m.epoch, Lease: l.id, Unit: u.unit, Deadline: l.deadline,
	})
}
