package sched

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors returned by this package.
var (
	// ErrStaleEpoch reports a message from an epoch older than the
	// receiver's: it comes from, or was sent for, a deposed manager.
	ErrStaleEpoch = errors.New("sched: stale manager epoch")
	// ErrDeposed reports a call on a Machine that has seen a newer epoch
	// and stopped scheduling.
	ErrDeposed = errors.New("sched: manager deposed by a newer epoch")
	// ErrUnknownLease reports a result for a lease this Machine did not
	// issue, or from a worker other than the lease's.
	ErrUnknownLease = errors.New("sched: unknown lease")
	// ErrInvalid reports an invalid argument, such as a bad Config or a
	// worker added twice.
	ErrInvalid = errors.New("sched: invalid argument")
	// ErrMalformed reports bytes that do not decode to a Snapshot.
	ErrMalformed = errors.New("sched: malformed snapshot")
)

// Tier is a worker's compute class. The storage layer ranks nodes into
// the same three tiers by uptime and capacity.
type Tier uint8

const (
	// TierUpper workers are stable and capable and take any unit.
	TierUpper Tier = iota
	// TierMiddle workers take any unit.
	TierMiddle
	// TierLower workers, such as phones and small boards, take only
	// units of at most Config.LowerTierMaxReadings readings while an
	// upper or middle tier worker is in the job, and any unit otherwise.
	TierLower
)

// Config tunes a Machine. A zero field takes its default.
type Config struct {
	// LeaseDuration is how long a lease lasts after the worker's last
	// heartbeat, and how long a worker may stay silent and still count
	// as alive. Default 30s.
	LeaseDuration time.Duration
	// Verify is the number of distinct workers whose results must agree
	// before a unit commits. Default 1.
	Verify int
	// MaxAttempts is how many failed runs, and rounds of disagreeing
	// results, a unit may have before it fails. Leases lost to a worker
	// that leaves or stalls do not count, nor does a failure reported
	// after its lease ended. Default 3.
	//
	// When a unit's results disagree and too few live workers that gave
	// none are left to reach Verify agreeing ones, its results are
	// dropped so that the same workers may run it again (see
	// settleDisputes).
	MaxAttempts int
	// StragglerAfter is how long a unit may run before an idle worker
	// gets a copy of it, once no unit is waiting. Default 2 ×
	// LeaseDuration.
	StragglerAfter time.Duration
	// SlotsPerWorker is how many units a worker runs at once. Default 1.
	SlotsPerWorker int
	// LowerTierMaxReadings is the largest unit a TierLower worker gets,
	// in readings, while a worker of another tier is in the job. 0 gives
	// such workers no units then.
	LowerTierMaxReadings int
	// LocalityWait is how long a unit whose place is known, by its
	// holders or its Cluster, waits after it becomes pending (the job
	// starts, or a lease is lost, expires or fails) before a worker that
	// neither holds its data nor is in its cluster may take it. A unit
	// goes to such a worker at once when no worker in the job holds its
	// data or is in its cluster. Default 3s, a few runs of a typical
	// unit: with L busy workers in a cluster each finishing a unit every
	// T, one frees up about every T/L, so a short wait keeps most units
	// local, and a unit waits at most that much longer than it would
	// without it. A negative value turns the wait off.
	LocalityWait time.Duration
}

// DefaultLocalityWait is Config.LocalityWait when it is left 0.
const DefaultLocalityWait = 3 * time.Second

func (c Config) withDefaults() Config {
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 30 * time.Second
	}
	if c.Verify <= 0 {
		c.Verify = 1
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.StragglerAfter <= 0 {
		c.StragglerAfter = 2 * c.LeaseDuration
	}
	if c.SlotsPerWorker <= 0 {
		c.SlotsPerWorker = 1
	}
	if c.LocalityWait == 0 {
		c.LocalityWait = DefaultLocalityWait
	}
	return c
}

// Assignment is a unit given to a worker under a lease. The worker
// checks Epoch with its Fence before it starts.
type Assignment struct {
	Worker WorkerID
	Epoch  uint64
	Lease  uint64
	Unit   Unit
	// Deadline is when the lease ends unless a heartbeat renews it.
	Deadline time.Time
}

// Revoke is a request to a worker to stop running a unit, because the
// unit committed without this copy or the lease expired.
type Revoke struct {
	Worker WorkerID
	Epoch  uint64
	Lease  uint64
	Unit   UnitID
}

// Report is a worker's result for a lease.
type Report struct {
	Worker WorkerID
	Epoch  uint64
	Lease  uint64
	Unit   UnitID
	// Result is the unit's output or a digest of it. Results are compared
	// byte for byte when Verify is above 1, unless Digest is set.
	Result []byte
	// Digest, when set, stands for the result when Verify is above 1:
	// reports agree when their digests are equal, whatever their results,
	// and a report with a digest never agrees with one without. It lets
	// results that differ per worker, such as references to what each
	// worker stored, agree on what they refer to.
	Digest []byte
	// Err is empty on success, else why the run failed.
	Err string
	// Bytes is how many bytes of stored input the run read, for the
	// Locality of the job; 0 when not measured.
	Bytes int64
	// DataCluster is the cluster of the data the run read, as the worker
	// found it, such as the location cell of the readings. Empty means
	// the unit's own Cluster.
	DataCluster string
}

// Commit is a unit's accepted result. The Machine emits each unit's
// Commit once; the caller folds Result into the job's aggregate.
type Commit struct {
	Epoch  uint64
	Unit   UnitID
	Result []byte
	// Worker is the first worker that gave Result.
	Worker WorkerID
	// Digest is the digest the workers agreed on, nil when they compared
	// results. Agreed then holds the result of every worker that gave
	// Digest, Result first and the others in the order they arrived.
	Digest []byte
	Agreed [][]byte
}

// WorkerInfo describes a worker to the scheduler.
type WorkerInfo struct {
	ID   WorkerID
	Tier Tier
	// Cluster is the worker's location cell, or empty when unknown. A
	// worker prefers the units of its cluster after those whose data it
	// holds.
	Cluster string
}

// Machine schedules one job. It is not safe for concurrent use.
type Machine struct {
	cfg     Config
	epoch   uint64
	deposed bool

	units   []unitState
	open    []UnitID // units neither committed nor failed, ascending
	workers []*workerState
	byID    map[WorkerID]*workerState
	nextSeq int
	// capable counts the workers of the upper and middle tiers.
	capable int

	// index finds pending units by holder and cluster; idle holds, by
	// class, the workers with a free slot.
	index *pendingIndex
	idle  [classes]workerHeap
	// started holds the leases in the order they were issued, from
	// startedHead on, to find stragglers oldest first.
	started     []*lease
	startedHead int

	locality Locality

	// waiting holds the units that wait for a worker of their place, in
	// the order they began to wait, from waitingHead on; fresh those that
	// began since the last schedule, for the idle workers of their place.
	// inCluster counts the workers in the job by cluster, all and
	// capable ones; idleIn holds the idle workers of each cluster.
	waiting     []waitEntry
	waitingHead int
	fresh       []UnitID
	freed       []*workerState
	inCluster   map[string]*[2]int
	idleIn      map[string]*workerHeap
	start       time.Time // first time given to any call

	// issued holds every lease of this epoch, active or not, so that a
	// late result from an expired lease can still count.
	issued    map[uint64]*lease
	nextLease uint64
	now       time.Time // latest time given to any call

	assignments []Assignment
	revokes     []Revoke
	commits     []Commit

	// disputed lists the open units whose results disagree, in the order
	// they began to, for settleDisputes. Entries of units that have
	// closed or lost their results since are dropped there.
	disputed []UnitID
}

type unitState struct {
	unit      Unit
	committed bool
	failed    bool
	attempts  int
	active    []*lease // ascending by start
	results   []result // at most one per worker
	// failedBy lists the first MaxAttempts distinct workers whose runs of
	// the unit failed. They take it again only when no other worker may
	// (see mayRun).
	failedBy []WorkerID
	// reason is why the unit failed, once it has. disputed is set while
	// the unit is in Machine.disputed.
	reason   string
	disputed bool
	// released reports that any worker may take the unit; waitSince is
	// when it last became pending, the zero Time for the first time.
	released  bool
	waitSince time.Time
}

type waitEntry struct {
	unit  UnitID
	since time.Time
}

type result struct {
	worker WorkerID
	data   []byte
	digest []byte
	// place is where the run's worker was relative to its data, held
	// whether it held the data, and bytes how much it read.
	place Place
	held  bool
	bytes int64
}

type lease struct {
	id       uint64
	unit     UnitID
	worker   WorkerID
	start    time.Time
	deadline time.Time
	active   bool
	cluster  string // the worker's when the lease began
}

type workerState struct {
	id       WorkerID
	tier     Tier
	cluster  string
	lastSeen time.Time
	leases   []*lease
	// seq orders workers by when they joined.
	seq int
	// queuedIn is the class of the idle heap that holds w, or noClass;
	// idleCluster the cluster whose idle heap holds w, or "".
	queuedIn    int
	idleCluster string
	removed     bool
}

const noClass = -1

// New returns a Machine for units at the given epoch. Unit IDs must be
// their indexes, as Split numbers them. Epochs start at 1.
func New(cfg Config, epoch uint64, units []Unit) (*Machine, error) {
	if epoch == 0 {
		return nil, fmt.Errorf("%w: epoch 0; epochs start at 1", ErrInvalid)
	}
	m := &Machine{
		cfg:       cfg.withDefaults(),
		epoch:     epoch,
		units:     make([]unitState, len(units)),
		byID:      map[WorkerID]*workerState{},
		issued:    map[uint64]*lease{},
		nextLease: 1,
		inCluster: map[string]*[2]int{},
		idleIn:    map[string]*workerHeap{},
	}
	for i, u := range units {
		if u.ID != UnitID(i) {
			return nil, fmt.Errorf("%w: unit at index %d has ID %d", ErrInvalid, i, u.ID)
		}
		m.units[i].unit = u
		m.open = append(m.open, u.ID)
		if m.cfg.LocalityWait < 0 || !u.placed() {
			m.units[i].released = true
		} else {
			m.waiting = append(m.waiting, waitEntry{unit: u.ID})
		}
	}
	m.index = newPendingIndex(m.units, m.small, func(id UnitID) bool { return m.units[id].released })
	return m, nil
}

// Epoch returns the Machine's epoch.
func (m *Machine) Epoch() uint64 { return m.epoch }

// Done reports whether every unit is committed or failed.
func (m *Machine) Done() bool { return len(m.open) == 0 }

// Failed returns the units that failed MaxAttempts times, ascending.
func (m *Machine) Failed() []UnitID {
	var ids []UnitID
	for i := range m.units {
		if m.units[i].failed {
			ids = append(ids, UnitID(i))
		}
	}
	return ids
}

// FailureReason returns why unit id failed, or "" if it has not failed:
// the error of the last failed run, or which workers gave disagreeing
// results.
//
// NOTE: a Snapshot does not carry reasons, so a Machine restored from
// one returns "" for the units that failed before it took over.
func (m *Machine) FailureReason(id UnitID) string {
	if id < 0 || int(id) >= len(m.units) {
		return ""
	}
	return m.units[id].reason
}

// Outbox returns and clears the assignments and revocations to send.
func (m *Machine) Outbox() ([]Assignment, []Revoke) {
	a, r := m.assignments, m.revokes
	m.assignments, m.revokes = nil, nil
	return a, r
}

// Commits returns and clears the units committed since the last call.
func (m *Machine) Commits() []Commit {
	c := m.commits
	m.commits = nil
	return c
}

// ObserveEpoch records an epoch seen elsewhere. A newer one deposes the
// Machine, which then drops its outbox and rejects every later call.
func (m *Machine) ObserveEpoch(epoch uint64) {
	if epoch > m.epoch {
		m.deposed = true
		m.assignments, m.revokes, m.commits = nil, nil, nil
	}
}

// AddWorker adds a worker of no known cluster, which gets units at once.
func (m *Machine) AddWorker(now time.Time, id WorkerID, tier Tier) error {
	return m.Join(now, WorkerInfo{ID: id, Tier: tier})
}

// Join adds a worker, which gets units at once.
func (m *Machine) Join(now time.Time, info WorkerInfo) error {
	if m.deposed {
		return ErrDeposed
	}
	if _, ok := m.byID[info.ID]; ok {
		return fmt.Errorf("%w: worker %s added twice", ErrInvalid, info.ID)
	}
	if info.Tier > TierLower {
		return fmt.Errorf("%w: worker %s has unknown tier %d", ErrInvalid, info.ID, info.Tier)
	}
	m.scheduleWorker(now, m.addWorker(info, now))
	return nil
}

func (m *Machine) addWorker(info WorkerInfo, now time.Time) *workerState {
	w := &workerState{id: info.ID, tier: info.Tier, cluster: info.Cluster, lastSeen: now,
		seq: m.nextSeq, queuedIn: noClass}
	m.nextSeq++
	m.workers = append(m.workers, w)
	m.byID[info.ID] = w
	m.countCapable(w, 1)
	m.countCluster(w, 1)
	return w
}

// countCluster adds delta to the counts of w's cluster.
func (m *Machine) countCluster(w *workerState, delta int) {
	if w.cluster == "" {
		return
	}
	n := m.inCluster[w.cluster]
	if n == nil {
		n = &[2]int{}
		m.inCluster[w.cluster] = n
	}
	n[0] += delta
	if w.tier != TierLower {
		n[1] += delta
	}
	if n[0] == 0 {
		delete(m.inCluster, w.cluster)
	}
}

// countCapable adds delta to the count of capable workers if w is one.
func (m *Machine) countCapable(w *workerState, delta int) {
	if w.tier != TierLower {
		m.capable += delta
	}
}

// UpdateWorker changes a worker's tier or cluster, such as after the
// worker measured its speed again. Running leases stay; later units
// follow the new tier and cluster.
func (m *Machine) UpdateWorker(now time.Time, info WorkerInfo) error {
	if m.deposed {
		return ErrDeposed
	}
	w, ok := m.byID[info.ID]
	if !ok {
		return fmt.Errorf("%w: update of worker %s, which is not in the job", ErrInvalid, info.ID)
	}
	if info.Tier > TierLower {
		return fmt.Errorf("%w: worker %s has unknown tier %d", ErrInvalid, info.ID, info.Tier)
	}
	m.advance(now)
	old := *w
	m.countCapable(w, -1)
	m.countCluster(w, -1)
	w.tier, w.cluster = info.Tier, info.Cluster
	m.countCapable(w, 1)
	m.countCluster(w, 1)
	// The daemon updates every worker at each ping, so units are looked
	// at only when the tier or cluster changed.
	if old.tier != w.tier || old.cluster != w.cluster {
		m.releaseStranded(&old)
	}
	m.queueIfIdle(w)
	m.fill(now, w)
	// A change of tier may let lower-tier workers take any unit, or w
	// move to the other idle heap, so every idle worker is looked at.
	m.schedule(now)
	return nil
}

// RemoveWorker removes a worker that left. Its units go to others.
func (m *Machine) RemoveWorker(now time.Time, id WorkerID) error {
	if m.deposed {
		return ErrDeposed
	}
	w, ok := m.byID[id]
	if !ok {
		return nil
	}
	m.advance(now)
	w.removed = true
	m.countCapable(w, -1)
	m.countCluster(w, -1)
	// w leaves the job before its units become pending, so that they do
	// not wait for it.
	delete(m.byID, id)
	m.workers = slices.DeleteFunc(m.workers, func(x *workerState) bool { return x == w })
	for _, l := range slices.Clone(w.leases) {
		m.endLease(l)
	}
	w.leases = nil
	m.releaseStranded(w)
	m.schedule(now)
	return nil
}

// Heartbeat records that a worker is alive and renews its leases.
func (m *Machine) Heartbeat(now time.Time, id WorkerID) error {
	if m.deposed {
		return ErrDeposed
	}
	w, ok := m.byID[id]
	if !ok {
		return fmt.Errorf("%w: heartbeat from worker %s, which is not in the job", ErrInvalid, id)
	}
	w.lastSeen = now
	for _, l := range w.leases {
		l.deadline = now.Add(m.cfg.LeaseDuration)
	}
	m.scheduleWorker(now, w)
	return nil
}

// Tick expires leases whose deadline has passed, revoking them, and
// hands their units and any stragglers to idle workers.
func (m *Machine) Tick(now time.Time) error {
	if m.deposed {
		return ErrDeposed
	}
	m.advance(now)
	for _, w := range m.workers {
		for _, l := range slices.Clone(w.leases) {
			if !now.Before(l.deadline) {
				m.endLease(l)
				m.revokes = append(m.revokes, Revoke{Worker: w.id, Epoch: m.epoch, Lease: l.id, Unit: l.unit})
			}
		}
	}
	m.schedule(now)
	return nil
}

// NextDeadline returns when Tick is next due: the earliest lease
// deadline, the time a running unit becomes a straggler, the time a
// unit's LocalityWait ends, or the time a worker that a disputed unit
// waits for stops counting as alive (see settleDisputes), if that is
// still ahead of the latest time the Machine was given. It is the zero Time when nothing is due.
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if t := m.disputeDeadline(); !t.IsZero() {
		earlier(t)
	}
	if e, ok := m.nextWaiting(); ok && !m.start.IsZero() {
		if t := m.releaseAt(e); t.After(m.now) {
			earlier(t)
		}
	}
	for _, id := range m.open {
		u := &m.units[id]
		for _, l := range u.active {
			earlier(l.deadline)
		}
		if len(u.active) > 0 && m.gap(u) == 0 {
			if t := u.active[0].start.Add(m.cfg.StragglerAfter); t.After(m.now) {
				earlier(t)
			}
		}
	}
	return next
}

// HandleReport takes a worker's result. A result for a unit already
// committed is dropped without error, as the loser of a race with a
// copy. It returns ErrStaleEpoch for a report of an older epoch and
// ErrUnknownLease for a lease this Machine did not give that worker.
func (m *Machine) HandleReport(now time.Time, r Report) error {
	if m.deposed {
		return ErrDeposed
	}
	m.advance(now)
	if r.Epoch != m.epoch {
		if r.Epoch > m.epoch {
			m.ObserveEpoch(r.Epoch)
			return ErrDeposed
		}
		return fmt.Errorf("%w: report for lease %d of unit %d from %s has epoch %d, manager's is %d",
			ErrStaleEpoch, r.Lease, r.Unit, r.Worker, r.Epoch, m.epoch)
	}
	l, ok := m.issued[r.Lease]
	if !ok || l.worker != r.Worker || l.unit != r.Unit {
		return fmt.Errorf("%w: lease %d of unit %d for worker %s", ErrUnknownLease, r.Lease, r.Unit, r.Worker)
	}
	// The worker's cluster as it is now, or as it was when the lease
	// began if the worker has left since.
	cluster := l.cluster
	if w, ok := m.byID[r.Worker]; ok {
		w.lastSeen = now
		cluster = w.cluster
		// Heard from, w may take a unit waiting for its place.
		m.freed = append(m.freed, w)
	}
	late := !l.active
	m.endLease(l)

	u := &m.units[l.unit]
	if !u.committed && !u.failed {
		if r.Err != "" {
			m.recordFailure(u, r.Worker, r.Err, late)
		} else {
			m.recordResult(u, result{worker: r.Worker, data: bytes.Clone(r.Result), digest: bytes.Clone(r.Digest),
				place: placeOf(&u.unit, cluster, r.DataCluster), held: u.unit.heldBy(r.Worker), bytes: max(r.Bytes, 0)})
		}
	}
	m.schedule(now)
	return nil
}

func (m *Machine) recordResult(u *unitState, r result) {
	if slices.ContainsFunc(u.results, func(x result) bool { return x.worker == r.worker }) {
		return
	}
	u.results = append(u.results, r)
	best, n := u.agreement()
	if n >= m.cfg.Verify {
		m.commit(u, best)
		return
	}
	if n < len(u.results) && !u.disputed {
		u.disputed = true
		m.disputed = append(m.disputed, u.unit.ID)
	}
	// With Verify results in and no Verify of them equal, the unit
	// needs another run, and each result that leaves it unsettled counts
	// as an attempt.
	if len(u.results) >= m.cfg.Verify {
		m.recordAttempt(u, func() string { return m.disagreement(u) })
	}
}

// agreement returns the most common result and how many workers gave it.
func (u *unitState) agreement() (*result, int) {
	var best *result
	bestN := 0
	for i := range u.results {
		r := &u.results[i]
		n := 0
		for _, s := range u.results[i:] {
			if r.agrees(&s) {
				n++
			}
		}
		if n > bestN {
			best, bestN = r, n
		}
	}
	return best, bestN
}

// recordFailure remembers that worker w failed u, so that u goes next to
// a worker that has not, and counts an attempt unless the lease had
// already ended. A lease that expired or was revoked counted as lost, and
// its unit may have gone back to w since, so counting its late failure
// too could use two attempts on one stall of w.
func (m *Machine) recordFailure(u *unitState, w WorkerID, err string, late bool) {
	if len(u.failedBy) < m.cfg.MaxAttempts && !slices.Contains(u.failedBy, w) {
		u.failedBy = append(u.failedBy, w)
	}
	if !late {
		m.recordAttempt(u, func() string { return fmt.Sprintf("worker %s: %s", w, err) })
	}
}

// agrees reports whether r and s count as the same result: equal digests
// when both have one, equal results when neither has.
func (r *result) agrees(s *result) bool {
	if (len(r.digest) > 0) != (len(s.digest) > 0) {
		return false
	}
	if len(r.digest) > 0 {
		return bytes.Equal(r.digest, s.digest)
	}
	return bytes.Equal(r.data, s.data)
}

// recordAttempt counts an attempt of u and fails u when that was its
// last, with the reason that reason returns.
func (m *Machine) recordAttempt(u *unitState, reason func() string) {
	u.attempts++
	if u.attempts >= m.cfg.MaxAttempts {
		u.failed = true
		u.reason = reason()
		m.close(u)
	}
}

func (m *Machine) commit(u *unitState, best *result) {
	u.committed = true
	c := Commit{Epoch: m.epoch, Unit: u.unit.ID, Result: bytes.Clone(best.data), Worker: best.worker}
	if len(best.digest) > 0 {
		c.Digest, c.Agreed = bytes.Clone(best.digest), [][]byte{c.Result}
	}
	for i := range u.results {
		r := &u.results[i]
		if !r.agrees(best) {
			continue
		}
		m.locality.add(r.place, r.held, r.bytes)
		if c.Digest != nil && r != best {
			c.Agreed = append(c.Agreed, bytes.Clone(r.data))
		}
	}
	m.commits = append(m.commits, c)
	m.close(u)
}

// close revokes a finished unit's remaining leases and takes it off the
// open list.
func (m *Machine) close(u *unitState) {
	for _, l := range slices.Clone(u.active) {
		m.endLease(l)
		m.revokes = append(m.revokes, Revoke{Worker: l.worker, Epoch: m.epoch, Lease: l.id, Unit: l.unit})
	}
	if i, ok := slices.BinarySearch(m.open, u.unit.ID); ok {
		m.open = slices.Delete(m.open, i, i+1)
	}
}

// endLease removes an active lease from its unit and worker. The lease
// stays in issued, so a late result from it can still count.
func (m *Machine) endLease(l *lease) {
	if !l.active {
		return
	}
	l.active = false
	u := &m.units[l.unit]
	was := m.pending(u.unit.ID)
	u.active = slices.DeleteFunc(u.active, func(x *lease) bool { return x == l })
	switch {
	case !m.pending(u.unit.ID):
	case was:
		m.index.requeue(u.unit.ID, u.released)
	default:
		m.startWait(u)
	}
	if w, ok := m.byID[l.worker]; ok {
		w.leases = slices.DeleteFunc(w.leases, func(x *lease) bool { return x == l })
		m.queueIfIdle(w)
		m.freed = append(m.freed, w)
	}
}
