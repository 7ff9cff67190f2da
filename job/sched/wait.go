package sched

import (
	"container/heap"
	"slices"
	"time"
)

// Delay scheduling: a unit whose place is known waits up to
// Config.LocalityWait for a worker that holds its data or is in its
// cluster before any worker may take it. Until it is released it sits
// only in the heaps of its holders and cluster, so a worker of another
// place never looks at it, and the waiting queue releases it when its
// wait ends. Copies of stragglers are exempt: they are given only after
// a unit has run StragglerAfter, far longer than the wait.

// placed reports whether the unit's place is known, by holders or a
// cluster.
func (u *Unit) placed() bool {
	if u.Cluster != "" {
		return true
	}
	for _, s := range u.Segments {
		if len(s.Holders) > 0 {
			return true
		}
	}
	return false
}

// local reports whether w holds u's data or is in its cluster.
func (w *workerState) local(u *Unit) bool {
	return (w.cluster != "" && w.cluster == u.Cluster) || u.heldBy(w.id)
}

// mayTake reports whether w may take the pending unit u now: it may run
// u, and u is released or local to w.
func (m *Machine) mayTake(w *workerState, u *unitState) bool {
	return m.mayRun(w, u) && (u.released || w.local(&u.unit))
}

// placeInJob reports whether a worker in the job holds u's data or is in
// its cluster, and has a tier that may run u. It does not look at
// whether that worker already ran u, so a unit may wait for a worker
// that cannot take it, but never longer than LocalityWait.
func (m *Machine) placeInJob(u *unitState) bool {
	capable := m.lowerTierLimited() && !m.small(&u.unit)
	if n := m.inCluster[u.unit.Cluster]; n != nil && (n[0] > 0 && !capable || n[1] > 0) {
		return true
	}
	for _, s := range u.unit.Segments {
		for _, h := range s.Holders {
			if w := m.byID[h]; w != nil && (!capable || w.tier != TierLower) {
				return true
			}
		}
	}
	return false
}

// startWait files a unit that just became pending: under its holders
// and cluster, and released to every worker when it has no place, the
// wait is off or no worker of its place is in the job.
func (m *Machine) startWait(u *unitState) {
	u.waitSince = m.now
	u.released = m.cfg.LocalityWait < 0 || !u.unit.placed() || !m.placeInJob(u)
	m.index.requeue(u.unit.ID, u.released)
	if !u.released {
		m.waiting = append(m.waiting, waitEntry{unit: u.unit.ID, since: m.now})
		m.fresh = append(m.fresh, u.unit.ID)
	}
}

func (m *Machine) release(u *unitState) {
	if !u.released {
		u.released = true
		m.index.release(u.unit.ID)
	}
}

// waits reports whether e is the current wait of a pending unit.
func (m *Machine) waits(e waitEntry) bool {
	u := &m.units[e.unit]
	return !u.released && u.waitSince.Equal(e.since) && m.pending(e.unit)
}

// releaseAt returns when the wait of e ends.
func (m *Machine) releaseAt(e waitEntry) time.Time {
	since := e.since
	if since.IsZero() {
		since = m.start
	}
	return since.Add(m.cfg.LocalityWait)
}

// nextWaiting returns the oldest wait still current, dropping the stale
// entries before it.
func (m *Machine) nextWaiting() (waitEntry, bool) {
	for m.waitingHead < len(m.waiting) && !m.waits(m.waiting[m.waitingHead]) {
		m.waitingHead++
	}
	if m.waitingHead > len(m.waiting)/2 {
		m.waiting = slices.Delete(m.waiting, 0, m.waitingHead)
		m.waitingHead = 0
	}
	if m.waitingHead == len(m.waiting) {
		return waitEntry{}, false
	}
	return m.waiting[m.waitingHead], true
}

// releaseDue releases the units whose wait has ended by now. Waits
// begin at the Machine's latest time, which never goes back, so the
// queue is in the order they end.
func (m *Machine) releaseDue(now time.Time) {
	for {
		e, ok := m.nextWaiting()
		if !ok || now.Before(m.releaseAt(e)) {
			return
		}
		m.waitingHead++
		m.release(&m.units[e.unit])
	}
}

// releaseStranded releases the waiting units that w held or whose
// cluster w was in, if no worker of their place is left in the job. It
// looks only at those units, not at every waiting one.
func (m *Machine) releaseStranded(w *workerState) {
	keys := []string{prefixHolder + string(w.id)}
	if w.cluster != "" {
		if n := m.inCluster[w.cluster]; n == nil || n[1] == 0 {
			keys = append(keys, prefixCluster+w.cluster)
		}
	}
	for _, k := range keys {
		h := m.index.heaps[k]
		if h == nil {
			continue
		}
		for _, id := range *h {
			u := &m.units[id]
			if !u.released && m.pending(id) && !m.placeInJob(u) {
				m.release(u)
			}
		}
	}
}

// fillPlaces offers the units that began to wait since the last call to
// the idle workers of their place, and fills the workers freed since,
// which may take a waiting unit of their own place.
func (m *Machine) fillPlaces(now time.Time) {
	freed := m.freed
	m.freed = nil
	for _, w := range freed {
		if !w.removed {
			m.fill(now, w)
		}
	}
	fresh := m.fresh
	m.fresh = nil
	for _, id := range fresh {
		u := &m.units[id]
		for _, s := range u.unit.Segments {
			for _, h := range s.Holders {
				if w := m.byID[h]; w != nil && !u.released && m.pending(id) {
					m.fill(now, w)
				}
			}
		}
		if u.unit.Cluster != "" {
			m.fillCluster(now, u)
		}
	}
}

// fillCluster fills the idle workers of u's cluster, in the order they
// joined, until u has its leases.
func (m *Machine) fillCluster(now time.Time, u *unitState) {
	c := u.unit.Cluster
	h := m.idleIn[c]
	if h == nil {
		return
	}
	var stash []*workerState
	for h.Len() > 0 && !u.released && m.pending(u.unit.ID) {
		w := heap.Pop(h).(*workerState)
		if w.idleCluster != c {
			continue
		}
		w.idleCluster = ""
		if w.removed || !m.free(w) {
			continue
		}
		m.fill(now, w)
		if m.free(w) {
			stash = append(stash, w)
		}
	}
	for _, w := range stash {
		w.idleCluster = c
		heap.Push(h, w)
	}
}

// queueInCluster puts w in the idle heap of its cluster if it has a free
// slot and is not there yet.
func (m *Machine) queueInCluster(w *workerState) {
	if w.removed || w.cluster == "" || !m.free(w) || w.idleCluster == w.cluster {
		return
	}
	h := m.idleIn[w.cluster]
	if h == nil {
		h = &workerHeap{}
		m.idleIn[w.cluster] = h
	}
	w.idleCluster = w.cluster
	heap.Push(h, w)
}
