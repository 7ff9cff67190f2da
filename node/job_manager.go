package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// managedJob is a job this node manages, or backs up until its manager
// is lost.
type managedJob struct {
	s         *jobService
	id        string
	spec      *job.Spec
	specBytes []byte
	submitter string
	// sumStore is the submitting node when workers store the job's page
	// sums through it, nil otherwise; set once, when the job arrives.
	sumStore *wire.Contact
	wake     chan struct{}
	// units is the job's unit list, which every state names by digest;
	// guarded by mu.
	units *unitList

	mu sync.Mutex
	// role is wire.JobManager or wire.JobBackup.
	role uint8
	// peer is the backup of a manager, or the manager of a backup; nil
	// for a manager without a backup.
	peer *wire.Contact
	// epoch is the manager's epoch: the Machine's for a manager, the
	// last replicated one for a backup.
	epoch uint64
	// snap is the last replicated snapshot (backup), and partial the
	// aggregate of exactly its committed units (backup), or of every
	// commit drained from machine (manager).
	snap    *sched.Snapshot
	partial *job.Partial
	// sealed replaces partial in an encrypted job: the sum of the
	// committed units' ciphertexts.
	sealed  *sealedSum
	machine *sched.Machine
	workers map[sched.WorkerID]*jobWorker
	// forgotten holds, until when, the workers removed lately: a dead node
	// still listed among the peers is not added back at once, and one that
	// fails units in a row stays out longer.
	forgotten map[sched.WorkerID]time.Time
	// dirty is set when commits have not been replicated yet.
	dirty                   bool
	done, canceled, deposed bool
	// watching is set once the backup loop runs.
	watching bool
	// ended is when a sweep first found the job over (job_sweep.go).
	ended time.Time
	// leftOut are the workers left out after failing units in a row, and
	// leftOutErr the last one's error, for the job's status.
	leftOut    map[sched.WorkerID]bool
	leftOutErr string
	// sensors maps a sensor to the units that read it, to spread the
	// cluster a worker finds; built on first use.
	sensors *sensorUnits
}

type jobWorker struct {
	contact wire.Contact
	missed  int
	pinging bool
	// joining is set until the node answers its first ping, with its
	// tier and cluster; only then does the Machine see it.
	joining bool
	// failed counts the units in a row this worker reported as failed.
	failed int
}

func (mj *managedJob) currentEpoch() uint64 {
	mj.mu.Lock()
	defer mj.mu.Unlock()
	return mj.epoch
}

func (mj *managedJob) poke() {
	select {
	case mj.wake <- struct{}{}:
	default:
	}
}

// handleState starts managing or backing up a job, or takes a
// replicated state as the job's backup. The state's unit list must have
// arrived before it (JobUnits), or be the one the job has here already.
func (s *jobService) handleState(from transport.Peer, m *wire.JobState) wire.Message {
	spec, err := job.DecodeSpec(m.Spec)
	if err != nil || spec.ID != m.JobID {
		return &wire.Error{Code: wire.CodeBadRequest, Message: "job spec does not decode or names another job"}
	}
	partial, sealed, err := decodeAggregate(spec, m.SumStore != nil, m.Partial)
	if err != nil {
		return &wire.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	}

	s.mu.Lock()
	mj := s.managed[m.JobID]
	s.mu.Unlock()
	units := s.unitListFor(mj, m)
	if units == nil {
		return &wire.Error{Code: wire.CodeJobUnitsMissing, Message: fmt.Sprintf(
			"job %s: this node does not hold unit list %s; send its parts (JobUnits) before the state",
			m.JobID, digestName(m.UnitList))}
	}
	snap, err := sched.DecodeState(m.State, units.units)
	if err != nil {
		return &wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("job %s: %v", m.JobID, err)}
	}

	s.mu.Lock()
	if mj = s.managed[m.JobID]; mj == nil {
		mj = &managedJob{s: s, id: m.JobID, spec: spec, specBytes: m.Spec, submitter: m.Submitter,
			sumStore: m.SumStore, wake: make(chan struct{}, 1), role: wire.JobBackup,
			workers: make(map[sched.WorkerID]*jobWorker), forgotten: make(map[sched.WorkerID]time.Time)}
		s.managed[m.JobID] = mj
	}
	s.mu.Unlock()

	mj.mu.Lock()
	defer mj.mu.Unlock()
	if (mj.sumStore == nil) != (m.SumStore == nil) {
		return &wire.Error{Code: wire.CodeBadRequest, Message: "job state changes where the job's page sums are stored"}
	}
	if mj.role == wire.JobManager && mj.machine != nil {
		// This node manages the job already, at a newer epoch than any
		// sender of a replica: the ack tells the sender it is deposed.
		return &wire.JobAck{Epoch: mj.epoch}
	}
	if m.Epoch < mj.epoch {
		return &wire.JobAck{Epoch: mj.epoch}
	}
	mj.units = units
	mj.epoch, mj.snap, mj.partial, mj.sealed = max(m.Epoch, snap.Epoch), snap, partial, sealed
	mj.done, mj.canceled = m.Done, m.Canceled || mj.canceled
	mj.peer = m.Peer
	if m.Role == wire.JobBackup {
		if mj.peer == nil {
			c := from.Contact()
			mj.peer = &c
		}
		if !mj.watching {
			mj.watching = true
			s.goJob(mj.runBackup)
		}
		return &wire.JobAck{Epoch: mj.epoch}
	}
	if err := mj.becomeManagerLocked(time.Now(), nil); err != nil {
		return &wire.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	}
	return &wire.JobAck{Epoch: mj.epoch}
}

// unitListFor returns the unit list a job state names: the job's own,
// or one received whole for it. It returns nil when this node has
// neither.
func (s *jobService) unitListFor(mj *managedJob, m *wire.JobState) *unitList {
	if mj != nil {
		mj.mu.Lock()
		units := mj.units
		mj.mu.Unlock()
		if units != nil && bytes.Equal(units.digest[:], m.UnitList) {
			return units
		}
	}
	return s.unitLists.take(m.JobID, m.UnitList)
}

// holdsUnitList reports whether the job's unit list has the digest.
func (mj *managedJob) holdsUnitList(digest []byte) bool {
	mj.mu.Lock()
	defer mj.mu.Unlock()
	return mj.units != nil && bytes.Equal(mj.units.digest[:], digest)
}

// goJob runs f on its own goroutine, unless the node is stopping.
func (s *jobService) goJob(f func()) {
	s.group.Go(f)
}

// becomeManagerLocked restores the scheduler from the last state at the
// next epoch and starts the manager loop. lost, if set, is the manager
// this node replaces. mj.mu must be held.
func (mj *managedJob) becomeManagerLocked(now time.Time, lost *identity.NodeID) error {
	m, err := sched.Restore(jobConfig(mj.spec.Verify), mj.snap, mj.epoch+1, now)
	if err != nil {
		return err
	}
	mj.machine, mj.role, mj.epoch, mj.dirty = m, wire.JobManager, m.Epoch(), true
	// The workers of the snapshot count as alive; those this node cannot
	// reach leave at once, so their units go elsewhere.
	known := make(map[sched.WorkerID]wire.Contact)
	for _, c := range mj.s.workerCandidates() {
		known[sched.WorkerID(c.ID.String())] = c
	}
	for _, w := range mj.snap.Workers {
		c, ok := known[w.ID]
		if !ok || (lost != nil && c.ID == *lost) {
			m.RemoveWorker(now, w.ID)
			mj.forgotten[w.ID] = now.Add(jobForgetWorker)
			continue
		}
		mj.workers[w.ID] = &jobWorker{contact: c}
	}
	mj.s.n.log.Info("managing job", "job", mj.id, "epoch", mj.epoch, "units", len(mj.snap.Units),
		"committed", len(mj.snap.Committed), "backup", backupName(mj.peer))
	mj.s.goJob(mj.runManager)
	return nil
}

// workerCandidates returns this node and every peer it knows, LAN group
// members included: any of them can run units.
func (s *jobService) workerCandidates() []wire.Contact {
	out := []wire.Contact{s.self()}
	for _, p := range s.n.Peers() {
		out = append(out, p.Contact)
	}
	return out
}

// runManager drives the job's Machine until the job ends or this node
// is deposed. The first step runs at once, not a tick later, so the
// workers' first pings go out as soon as the job arrives.
//
// Replicas go to the backup from a goroutine of their own. Sending one
// after every step, in this loop, delayed the next assignments by a
// round trip and an encoding of the whole aggregate per committed unit.
// That aggregate grows with the units committed, so with a backup (two
// or more nodes) the job's cost grew with the square of its units.
func (mj *managedJob) runManager() {
	ticker := time.NewTicker(jobTick)
	defer ticker.Stop()
	replicas := make(chan struct{}, 1)
	stop, stopped := make(chan struct{}), make(chan struct{})
	mj.s.goJob(func() {
		defer close(stopped)
		mj.replicateLoop(replicas, stop)
	})
	var lastPing time.Time
	for {
		now := time.Now()
		if now.Sub(lastPing) >= jobPingEvery {
			lastPing = now
			mj.refreshWorkers(now)
		}
		if over := mj.step(now); over {
			// The last state goes out after the loop ends, so no older
			// replica can arrive after it.
			close(stop)
			<-stopped
			mj.replicate()
			return
		}
		select {
		case replicas <- struct{}{}:
		default:
		}
		select {
		case <-mj.s.ctx.Done():
			close(stop)
			return
		case <-ticker.C:
		case <-mj.wake:
		}
	}
}

// replicateLoop sends a replica when woken, at most one every
// jobReplicateEvery, until stop closes. Commits made meanwhile go out
// together in the next replica. A takeover runs the units of commits
// not yet sent again, so they still count once.
func (mj *managedJob) replicateLoop(wake, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-wake:
		}
		mj.replicate()
		select {
		case <-stop:
			return
		case <-time.After(jobReplicateEvery):
		}
	}
}

// step advances the Machine, sends its assignments and folds its
// commits. It reports whether the job is over for this manager.
func (mj *managedJob) step(now time.Time) bool {
	mj.mu.Lock()
	defer mj.mu.Unlock()
	if mj.deposed || mj.canceled {
		return true
	}
	if err := mj.machine.Tick(now); errors.Is(err, sched.ErrDeposed) {
		mj.deposed = true
		return true
	}
	assigns, _ := mj.machine.Outbox()
	for _, a := range assigns {
		w := mj.workers[a.Worker]
		if w == nil {
			continue
		}
		msg := &wire.JobAssign{JobID: mj.id, Epoch: a.Epoch, Lease: a.Lease, Unit: uint32(a.Unit.ID), Spec: mj.specBytes,
			SumStore: mj.sumStore}
		for _, seg := range a.Unit.Segments {
			msg.Segments = append(msg.Segments, seg.Key)
		}
		mj.s.goJob(func() { mj.assign(a.Worker, w.contact, msg) })
	}
	mj.foldCommitsLocked()
	if mj.machine.Done() && !mj.done {
		mj.done, mj.dirty = true, true
		mj.s.n.log.Info("job done", "job", mj.id, "epoch", mj.epoch, "failed", len(mj.machine.Failed()))
	}
	return mj.done
}

// foldCommitsLocked adds the results the Machine committed since the
// last call to the job's aggregate. mj.mu must be held.
func (mj *managedJob) foldCommitsLocked() {
	for _, c := range mj.machine.Commits() {
		if err := mj.foldCommit(c); err != nil {
			// handleReport decoded it before the Machine saw it.
			mj.s.n.log.Error("committed job result does not decode", "job", mj.id, "unit", c.Unit, "err", err)
			continue
		}
		mj.dirty = true
	}
}

// assign sends an assignment; a worker that cannot be reached leaves.
func (mj *managedJob) assign(id sched.WorkerID, to wire.Contact, msg *wire.JobAssign) {
	ctx, cancel := context.WithTimeout(mj.s.ctx, jobSendTimeout)
	defer cancel()
	if _, err := mj.s.request(ctx, to, msg); err != nil {
		mj.s.n.log.Debug("job assignment not delivered", "job", mj.id, "worker", to.ID.Short(), "err", err)
		mj.dropWorker(time.Now(), id)
	}
}

func (mj *managedJob) dropWorker(now time.Time, id sched.WorkerID) {
	mj.mu.Lock()
	defer mj.mu.Unlock()
	mj.dropWorkerLocked(now, id, now.Add(jobForgetWorker))
}

// dropWorkerLocked removes a worker until the time given; its leases end
// and their units go to others. mj.mu must be held.
func (mj *managedJob) dropWorkerLocked(now time.Time, id sched.WorkerID, until time.Time) {
	if mj.workers[id] == nil || mj.machine == nil {
		return
	}
	delete(mj.workers, id)
	mj.forgotten[id] = until
	mj.machine.RemoveWorker(now, id)
	mj.poke()
}

// refreshWorkers adds the peers that are not workers yet and pings the
// workers; one that misses jobDeadAfter pings in a row leaves.
func (mj *managedJob) refreshWorkers(now time.Time) {
	cands := mj.s.workerCandidates()
	mj.mu.Lock()
	defer mj.mu.Unlock()
	for _, c := range cands {
		id := sched.WorkerID(c.ID.String())
		if mj.workers[id] != nil || now.Before(mj.forgotten[id]) {
			continue
		}
		mj.workers[id] = &jobWorker{contact: c, joining: true}
	}
	for id, w := range mj.workers {
		if w.pinging {
			continue
		}
		w.pinging = true
		mj.s.goJob(func() { mj.ping(id, w) })
	}
}

func (mj *managedJob) ping(id sched.WorkerID, w *jobWorker) {
	ctx, cancel := context.WithTimeout(mj.s.ctx, jobPingTimeout)
	resp, err := mj.s.request(ctx, w.contact, &wire.JobPing{JobID: mj.id, Epoch: mj.currentEpoch()})
	cancel()
	now := time.Now()
	mj.mu.Lock()
	w.pinging = false
	if mj.workers[id] != w {
		mj.mu.Unlock()
		return
	}
	if err == nil {
		w.missed = 0
		mj.answeredLocked(now, id, w, resp)
		mj.mu.Unlock()
		return
	}
	w.missed++
	dead := w.missed >= jobDeadAfter
	mj.mu.Unlock()
	if dead {
		mj.s.n.log.Info("job worker lost; its units move", "job", mj.id, "worker", w.contact.ID.Short())
		mj.dropWorker(now, id)
	}
}

// replicate sends the snapshot and the aggregate of exactly its commits
// to the backup, when commits have not been sent yet. A backup that
// responds with a newer epoch has taken over, so this manager stops.
func (mj *managedJob) replicate() {
	mj.mu.Lock()
	if !mj.dirty || mj.peer == nil || mj.deposed {
		mj.mu.Unlock()
		return
	}
	peer, units := *mj.peer, mj.units
	msg, err := mj.replicaLocked()
	self := mj.s.self()
	msg.Peer = &self
	mj.dirty = false
	mj.mu.Unlock()
	if err != nil {
		mj.s.n.log.Error("job state does not encode", "job", mj.id, "err", err)
		return
	}

	// A backup picked after a takeover lacks the unit list, which then
	// goes out first.
	resp, err := mj.s.sendState(mj.s.ctx, peer, msg, units)
	mj.mu.Lock()
	defer mj.mu.Unlock()
	if err != nil {
		// Without a backup the job still finishes, but the manager's
		// loss would lose it.
		mj.s.n.log.Warn("job backup unreachable; continuing without it", "job", mj.id, "backup", peer.ID.Short(), "err", err)
		mj.peer = nil
		return
	}
	if ack, ok := resp.(*wire.JobAck); ok && ack.Epoch > mj.epoch {
		mj.s.n.log.Warn("job manager deposed by its backup", "job", mj.id, "epoch", mj.epoch, "newer", ack.Epoch)
		mj.deposed = true
		mj.machine.ObserveEpoch(ack.Epoch)
	}
}

// replicaLocked returns the job's state for its backup: the snapshot's
// state, the digest of its unit list and the aggregate of exactly its
// commits. mj.mu must be held.
func (mj *managedJob) replicaLocked() (*wire.JobState, error) {
	// The Machine marks a unit committed when its report arrives, before
	// step folds the result, so the snapshot and the aggregate match only
	// once pending commits are folded. Otherwise a backup that takes over
	// would count such a unit as done without its result.
	mj.foldCommitsLocked()
	state, err := mj.machine.Snapshot().EncodeState()
	var partial []byte
	if err == nil {
		partial, err = mj.encodeAggregate()
	}
	return &wire.JobState{JobID: mj.id, Epoch: mj.epoch, Role: wire.JobBackup, Spec: mj.specBytes,
		State: state, UnitList: mj.units.digest[:], Partial: partial, Done: mj.done, Canceled: mj.canceled, Submitter: mj.submitter,
		SumStore: mj.sumStore}, err
}

// runBackup pings the manager and takes the job over when it misses
// jobTakeOver pings in a row.
func (mj *managedJob) runBackup() {
	ticker := time.NewTicker(jobPingEvery)
	defer ticker.Stop()
	missed := 0
	for {
		select {
		case <-mj.s.ctx.Done():
			return
		case <-ticker.C:
		}
		mj.mu.Lock()
		if mj.role != wire.JobBackup || mj.done || mj.canceled || mj.peer == nil {
			mj.mu.Unlock()
			return
		}
		manager, epoch := *mj.peer, mj.epoch
		mj.mu.Unlock()

		ctx, cancel := context.WithTimeout(mj.s.ctx, jobPingTimeout)
		resp, err := mj.s.request(ctx, manager, &wire.JobPing{JobID: mj.id, Epoch: epoch})
		cancel()
		if ack, ok := resp.(*wire.JobAck); err == nil && ok && ack.Epoch >= epoch {
			missed = 0
			continue
		}
		missed++
		if missed < jobTakeOver {
			continue
		}
		mj.takeOver(manager)
		return
	}
}

// takeOver makes this backup the job's manager at the next epoch, with
// a new backup picked as the submitter picks one.
func (mj *managedJob) takeOver(lost wire.Contact) {
	mj.mu.Lock()
	defer mj.mu.Unlock()
	mj.peer = mj.s.nextBackup(mj.id, lost.ID)
	mj.s.n.log.Warn("job manager lost; taking over", "job", mj.id, "manager", lost.ID.Short(), "epoch", mj.epoch+1)
	if err := mj.becomeManagerLocked(time.Now(), &lost.ID); err != nil {
		mj.s.n.log.Error("job takeover failed", "job", mj.id, "err", err)
	}
}

// nextBackup returns the closest node to the job's hash other than this
// node and the lost manager, or nil.
func (s *jobService) nextBackup(id string, lost identity.NodeID) *wire.Contact {
	target := identity.NodeID(sha256.Sum256([]byte("yui job " + id)))
	var cands []wire.Contact
	for _, c := range s.candidates(&lost) {
		if c.ID != s.n.id.ID {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b wire.Contact) int { return compareDistance(a.ID, b.ID, target) })
	return &cands[0]
}

// handleReport feeds a worker's result to the job's Machine.
func (s *jobService) handleReport(from transport.Peer, m *wire.JobReport) wire.Message {
	s.mu.Lock()
	mj := s.managed[m.JobID]
	s.mu.Unlock()
	if mj == nil {
		return &wire.Error{Code: wire.CodeNotFound, Message: "no such job here"}
	}
	r := sched.Report{Worker: sched.WorkerID(from.ID.String()), Epoch: m.Epoch, Lease: m.Lease,
		Unit: sched.UnitID(m.Unit), Result: m.Result, Digest: m.Digest, Err: m.Err,
		Bytes: int64(min(m.Bytes, math.MaxInt64)), DataCluster: m.DataCluster}
	if m.Err == "" {
		if err := checkUnitResult(mj.spec, mj.sumStore != nil, from.ID, m); err != nil {
			r.Result, r.Digest, r.Err = nil, nil, err.Error()
		}
	}
	mj.mu.Lock()
	defer mj.mu.Unlock()
	if mj.machine == nil || mj.role != wire.JobManager {
		return &wire.JobAck{Epoch: mj.epoch}
	}
	now := time.Now()
	if err := mj.machine.HandleReport(now, r); errors.Is(err, sched.ErrDeposed) {
		mj.deposed = true
	}
	mj.learnClusterLocked(r.Unit, m.DataCluster)
	// A worker that fails units in a row, such as one whose reader has no
	// grant, would otherwise take each unit again at once and use up its
	// attempts, so it sits out for a while.
	if w := mj.workers[r.Worker]; w != nil && r.Epoch == mj.epoch {
		if r.Err == "" {
			w.failed = 0
		} else if w.failed++; w.failed >= jobFailuresInRow {
			s.n.log.Warn("job worker fails units in a row; leaving it out for a while", "job", mj.id,
				"worker", w.contact.ID.Short(), "for", jobBench, "err", r.Err)
			mj.dropWorkerLocked(now, r.Worker, now.Add(jobBench))
			if mj.leftOut == nil {
				mj.leftOut = make(map[sched.WorkerID]bool)
			}
			mj.leftOut[r.Worker], mj.leftOutErr = true, r.Err
		}
	}
	mj.poke()
	return &wire.JobAck{Epoch: mj.epoch}
}

// failedUnitError returns why the lowest failed unit with a known reason
// failed, for the job's status, or "" when none has one.
func failedUnitError(m *sched.Machine, failed []sched.UnitID) string {
	for _, id := range failed {
		if r := m.FailureReason(id); r != "" {
			return truncate(fmt.Sprintf("unit %d: %s", id, r), wire.MaxJobText)
		}
	}
	return ""
}

// handleStatus reports a job's progress, and cancels it on request.
func (s *jobService) handleStatus(m *wire.JobStatusRequest) wire.Message {
	s.mu.Lock()
	mj := s.managed[m.JobID]
	s.mu.Unlock()
	if mj == nil {
		return &wire.Error{Code: wire.CodeNotFound, Message: "no such job here"}
	}
	mj.mu.Lock()
	defer mj.mu.Unlock()
	if m.Cancel && !mj.done {
		mj.canceled, mj.dirty = true, true
		mj.poke()
	}
	snap := mj.snap
	if mj.machine != nil {
		snap = mj.machine.Snapshot()
	}
	st := &wire.JobStatus{JobID: mj.id, Epoch: mj.epoch, Manager: mj.role == wire.JobManager && !mj.deposed,
		Units: uint32(len(snap.Units)), Committed: uint32(len(snap.Committed)), Failed: uint32(len(snap.Failed)),
		Workers: uint32(len(mj.workers)), Done: mj.done, Canceled: mj.canceled,
		LeftOut: uint32(len(mj.leftOut)), LeftOutErr: mj.leftOutErr}
	if mj.machine != nil {
		st.FailedErr = failedUnitError(mj.machine, snap.Failed)
	}
	fillLocality(st, snap.Locality)
	if mj.done || mj.canceled {
		b, err := mj.encodeAggregate()
		if err != nil {
			st.Err = err.Error()
		}
		st.Partial = b
	}
	return st
}
