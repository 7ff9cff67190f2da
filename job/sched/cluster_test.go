package sched

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// cluster drives a manager Machine, its deposed predecessors and a set
// of honest workers in one goroutine on virtual time. It does the
// daemon's part: it delivers assignments through each worker's Fence, sends
// results back to the manager of the lease's epoch, and folds commits
// into a ledger that, like the job's result store, rejects commits of an
// epoch older than the newest manager's.
type cluster struct {
	t     fataler
	cfg   Config
	units []Unit
	now   time.Time

	mgr   *Machine
	stale []*Machine

	workers map[WorkerID]*worker
	nextID  int

	ledger      map[UnitID]int
	ledgerEpoch uint64

	// backup is the last snapshot handed to the backup, with the ledger
	// saved alongside it.
	backup       *Snapshot
	backupLedger map[UnitID]int

	// refused counts assignments that a worker's Fence rejected, and
	// admitted those it accepted, by epoch.
	refused  int
	admitted map[uint64]int
}

type worker struct {
	id      WorkerID
	tier    Tier
	fence   Fence
	stalled bool
	running []Assignment
	// faulty workers report a wrong result of their own for every run.
	faulty bool
}

var start = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// fataler is the part of testing.TB that both *testing.T and *rapid.T
// have.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func newCluster(t fataler, cfg Config, units []Unit) *cluster {
	t.Helper()
	m, err := New(cfg, 1, units)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{
		t: t, cfg: m.cfg, units: units, now: start, mgr: m,
		workers: map[WorkerID]*worker{}, ledger: map[UnitID]int{}, ledgerEpoch: 1,
		admitted: map[uint64]int{},
	}
}

// resultOf is the honest result of a unit.
func resultOf(u UnitID) []byte { return fmt.Appendf(nil, "result of unit %d", u) }

func (c *cluster) ids() []WorkerID { return slices.Sorted(maps.Keys(c.workers)) }

func (c *cluster) addWorker(tier Tier) WorkerID {
	id := WorkerID(fmt.Sprintf("w%03d", c.nextID))
	c.nextID++
	c.workers[id] = &worker{id: id, tier: tier}
	if err := c.mgr.AddWorker(c.now, id, tier); err != nil {
		c.t.Fatal(err)
	}
	c.deliver()
	return id
}

func (c *cluster) removeWorker(id WorkerID) {
	delete(c.workers, id)
	if err := c.mgr.RemoveWorker(c.now, id); err != nil {
		c.t.Fatal(err)
	}
	c.deliver()
}

// deliver drains the outboxes and commits of every manager.
func (c *cluster) deliver() {
	for _, m := range append([]*Machine{c.mgr}, c.stale...) {
		assignments, revokes := m.Outbox()
		for _, a := range assignments {
			c.deliverAssignment(a)
		}
		for _, r := range revokes {
			c.deliverRevoke(r)
		}
		for _, cm := range m.Commits() {
			c.record(cm)
		}
	}
	c.checkNoIdleWhileWaiting()
	c.checkNoStuckDispute()
}

// checkNoStuckDispute fails if an open unit keeps results that disagree
// while its best result, its running leases and the live workers that
// may still give a result are fewer than Verify. No worker could then
// settle the unit, and the job would wait for one to join.
func (c *cluster) checkNoStuckDispute() {
	m := c.mgr
	if m.deposed || m.cfg.Verify == 1 {
		// With Verify 1 a unit commits on its first result.
		return
	}
	if _, ok := c.t.(*testing.B); ok {
		// The check scans every open unit at each event, which would
		// cost benchmarks more than the scheduler does.
		return
	}
	for _, id := range m.open {
		u := &m.units[id]
		if len(u.results) < 2 {
			continue
		}
		_, agree := u.agreement()
		if agree == len(u.results) {
			continue
		}
		live := 0
		for _, w := range m.workers {
			if m.alive(w, c.now) && m.eligible(w, u) {
				live++
			}
		}
		if agree+len(u.active)+live < m.cfg.Verify {
			c.t.Fatalf("unit %d keeps %d disagreeing results with %d leases and %d live workers to settle them, verify %d",
				id, len(u.results), len(u.active), live, m.cfg.Verify)
		}
	}
}

// checkNoIdleWhileWaiting fails if a live worker of the current manager
// has a free slot while a unit that it may take waits for a lease: one
// released to any worker, or one of its own place. The index of pending
// units and the heaps of idle workers must miss none.
func (c *cluster) checkNoIdleWhileWaiting() {
	m := c.mgr
	if m.deposed {
		return
	}
	for _, w := range m.workers {
		if !m.free(w) || !m.alive(w, c.now) {
			continue
		}
		for _, id := range m.open {
			if u := &m.units[id]; m.pending(id) && m.mayTake(w, u) {
				c.t.Fatalf("worker %s has %d of %d slots taken while unit %d waits",
					w.id, len(w.leases), m.cfg.SlotsPerWorker, id)
			}
		}
	}
}

func (c *cluster) deliverAssignment(a Assignment) {
	w, ok := c.workers[a.Worker]
	if !ok {
		return // the worker left; the lease will expire
	}
	before := w.fence.Epoch()
	if err := w.fence.Admit(a.Epoch); err != nil {
		if !errors.Is(err, ErrStaleEpoch) || a.Epoch >= before {
			c.t.Fatalf("fence of %s at epoch %d: %v for epoch %d", w.id, before, err, a.Epoch)
		}
		c.refused++
		return
	}
	if a.Epoch < before {
		c.t.Fatalf("worker %s admitted epoch %d after epoch %d", w.id, a.Epoch, before)
	}
	w.running = append(w.running, a)
	c.admitted[a.Epoch]++
}

func (c *cluster) deliverRevoke(r Revoke) {
	w, ok := c.workers[r.Worker]
	if !ok || w.stalled { // a stalled worker misses the message
		return
	}
	w.running = slices.DeleteFunc(w.running, func(a Assignment) bool {
		return a.Epoch == r.Epoch && a.Lease == r.Lease
	})
}

func (c *cluster) record(cm Commit) {
	if cm.Epoch < c.ledgerEpoch {
		return // the result store fences deposed managers
	}
	if string(cm.Result) != string(resultOf(cm.Unit)) {
		c.t.Fatalf("unit %d committed with result %q", cm.Unit, cm.Result)
	}
	c.ledger[cm.Unit]++
	if c.ledger[cm.Unit] > 1 {
		c.t.Fatalf("unit %d counted %d times", cm.Unit, c.ledger[cm.Unit])
	}
}

// manager returns the Machine of an epoch, current or deposed.
func (c *cluster) manager(epoch uint64) *Machine {
	for _, m := range append([]*Machine{c.mgr}, c.stale...) {
		if m.Epoch() == epoch {
			return m
		}
	}
	return nil
}

// complete makes worker id finish its oldest run and report it.
func (c *cluster) complete(id WorkerID, failed bool) {
	w := c.workers[id]
	if w == nil || w.stalled || len(w.running) == 0 {
		return
	}
	a := w.running[0]
	w.running = w.running[1:]
	r := Report{Worker: id, Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID, Result: resultOf(a.Unit.ID)}
	if w.faulty {
		r.Result = fmt.Appendf(nil, "wrong result of unit %d from %s", a.Unit.ID, id)
	}
	if failed {
		r.Result, r.Err = nil, "failed on purpose"
	}
	m := c.manager(a.Epoch)
	if m == nil {
		return
	}
	err := m.HandleReport(c.now, r)
	if err != nil && !errors.Is(err, ErrDeposed) {
		c.t.Fatalf("report of %s for lease %d of epoch %d: %v", id, a.Lease, a.Epoch, err)
	}
	c.deliver()
}

func (c *cluster) heartbeat(id WorkerID) {
	if w := c.workers[id]; w != nil && !w.stalled {
		if err := c.mgr.Heartbeat(c.now, id); err != nil {
			c.t.Fatal(err)
		}
		c.deliver()
	}
}

func (c *cluster) advance(d time.Duration) {
	c.now = c.now.Add(d)
	for _, m := range append([]*Machine{c.mgr}, c.stale...) {
		if err := m.Tick(c.now); err != nil && !errors.Is(err, ErrDeposed) {
			c.t.Fatal(err)
		}
	}
	c.deliver()
}

func (c *cluster) snapshot() {
	c.deliver() // the ledger must contain every commit the snapshot records
	c.backup = c.mgr.Snapshot()
	c.backupLedger = maps.Clone(c.ledger)
}

// failover makes the backup take over from its snapshot at a new epoch.
// The old manager runs on, unaware, until it observes the new epoch.
func (c *cluster) failover() {
	if c.backup == nil {
		return
	}
	b, err := c.backup.Encode()
	if err != nil {
		c.t.Fatal(err)
	}
	snap, err := DecodeSnapshot(b)
	if err != nil {
		c.t.Fatal(err)
	}
	epoch := c.mgr.Epoch() + 1
	m, err := Restore(c.cfg, snap, epoch, c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	c.stale = append(c.stale, c.mgr)
	c.mgr = m
	c.ledger, c.ledgerEpoch = maps.Clone(c.backupLedger), epoch

	// The membership layer reports to the new manager who left and
	// joined since the snapshot.
	for _, sw := range snap.Workers {
		if c.workers[sw.ID] == nil {
			if err := m.RemoveWorker(c.now, sw.ID); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	for _, id := range c.ids() {
		if !slices.ContainsFunc(snap.Workers, func(sw SnapshotWorker) bool { return sw.ID == id }) {
			if err := m.AddWorker(c.now, id, c.workers[id].tier); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	c.deliver()
}

// drain lets every worker run until the job is done, heartbeating and
// advancing time, and fails the test if that takes more than steps
// rounds.
func (c *cluster) drain(steps int) {
	for _, w := range c.workers {
		w.stalled = false
	}
	for i := 0; i < steps && !c.mgr.Done(); i++ {
		for _, id := range c.ids() {
			c.heartbeat(id)
			c.complete(id, false)
		}
		c.advance(c.cfg.LeaseDuration / 3)
	}
	if !c.mgr.Done() {
		c.t.Fatalf("job not done after %d rounds: %d units open, %d workers", steps, len(c.mgr.open), len(c.workers))
	}
}

// checkExactlyOnce fails unless every unit is counted once in the ledger.
func (c *cluster) checkExactlyOnce() {
	for _, u := range c.units {
		if n := c.ledger[u.ID]; n != 1 {
			c.t.Fatalf("unit %d counted %d times, want 1", u.ID, n)
		}
	}
}

// makeUnits returns n units of one segment each, with readings drawn by
// size and held by the workers that holders names.
func makeUnits(sizes []int, holders func(i int) []WorkerID) []Unit {
	var segs []Segment
	for i, n := range sizes {
		segs = append(segs, Segment{Key: fmt.Sprintf("seg%03d", i), Readings: n, Holders: holders(i)})
	}
	units := make([]Unit, len(segs))
	for i, s := range segs {
		units[i] = Unit{ID: UnitID(i), Segments: []Segment{s}, Readings: s.Readings}
	}
	return units
}
