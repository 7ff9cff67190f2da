package sched

import (
	"fmt"
	"strings"
	"time"
)

// settleDisputes drops the results of every disputed unit that can no
// longer get Verify agreeing ones: its best result, its running leases
// and the live workers that have given no result are fewer than Verify.
// Verify counts distinct workers, so without this such a unit would
// wait for a worker to join, forever if none does. Once its results are
// dropped, the workers that gave them may run it again: a transient
// difference agrees on the rerun, and a persistent one uses up
// MaxAttempts and fails the unit.
//
// Each round of disagreeing results counts one attempt. A round of
// Verify or more results counted it when its last result arrived, and a
// shorter one, cut off by workers that left or stalled, counts it here.
// A unit whose results all agree but are too few still waits for a
// worker, as a job with fewer workers than Verify does.
func (m *Machine) settleDisputes() {
	if len(m.disputed) == 0 {
		return
	}
	kept := m.disputed[:0]
	for _, id := range m.disputed {
		u := &m.units[id]
		if u.committed || u.failed {
			u.disputed = false
			continue
		}
		if m.canAgree(u) {
			kept = append(kept, id)
			continue
		}
		u.disputed = false
		if len(u.results) < m.cfg.Verify {
			m.recordAttempt(u, func() string { return m.disagreement(u) })
		}
		// The unit was pending, since it needed a lease no worker could
		// take, so the index still lists it. The workers of its place
		// that gave results may take it now, as if it began to wait.
		u.results = nil
		m.fresh = append(m.fresh, id)
	}
	m.disputed = kept
}

// canAgree reports whether u may still get Verify agreeing results
// without dropping any: the workers that agree on its best result, its
// running leases and the live workers eligible to run it number at least
// Verify. A worker that failed u counts, because mayRun lets it run u
// when no other worker may.
func (m *Machine) canAgree(u *unitState) bool {
	need := m.gap(u)
	for _, w := range m.workers {
		if need <= 0 {
			break
		}
		if m.alive(w, m.now) && m.eligible(w, u) {
			need--
		}
	}
	return need <= 0
}

// disputeDeadline returns the earliest time a live worker that keeps a
// disputed unit able to agree stops counting as alive, after which Tick
// may drop the unit's results. It is the zero Time when there is none.
func (m *Machine) disputeDeadline() time.Time {
	var next time.Time
	for _, id := range m.disputed {
		u := &m.units[id]
		if u.committed || u.failed || m.gap(u) <= 0 {
			continue
		}
		for _, w := range m.workers {
			t := w.lastSeen.Add(m.cfg.LeaseDuration)
			if t.After(m.now) && m.eligible(w, u) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// disagreement returns the failure reason of a unit whose results
// disagree.
func (m *Machine) disagreement(u *unitState) string {
	ids := make([]string, len(u.results))
	for i, r := range u.results {
		ids[i] = string(r.worker)
	}
	list := strings.Join(ids, " and ")
	if len(ids) > 2 {
		list = strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
	}
	attempts := "1 attempt"
	if u.attempts != 1 {
		attempts = fmt.Sprintf("%d attempts", u.attempts)
	}
	return fmt.Sprintf("results disagree: workers %s gave different results, and %s found no %d workers whose results agree",
		list, attempts, m.cfg.Verify)
}
