package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/job/sandbox"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// Timing of jobs. A killed worker is noticed by its missed pings, so its
// units move within about jobDeadAfter ping periods. The lease is the
// backstop for a worker that responds to pings but never reports.
const (
	jobTick         = 200 * time.Millisecond
	jobPingEvery    = time.Second
	jobPingTimeout  = 1500 * time.Millisecond
	jobDeadAfter    = 2 // missed pings in a row
	jobTakeOver     = 3 // missed manager pings before the backup takes over
	jobLease        = 20 * time.Second
	jobSendTimeout  = 5 * time.Second
	jobUnitTimeout  = 2 * time.Minute
	jobForgetWorker = 10 * time.Second
	// jobLocalityWait is how long a unit waits for a worker that stores
	// its data or is in its cluster (sched.Config.LocalityWait). The
	// manager's tick of jobTick ends a wait on time.
	jobLocalityWait = sched.DefaultLocalityWait
	// jobReplicateEvery is the minimum time between two replicas of a
	// job's state sent to its backup.
	jobReplicateEvery = 250 * time.Millisecond
	// jobFailuresInRow failed units make a worker sit out for jobBench.
	jobFailuresInRow = 2
	jobBench         = time.Minute
	// jobMaxAttempts is the runs a unit gets before it fails. A benched
	// worker uses at most jobFailuresInRow of them.
	jobMaxAttempts = 5
	// jobSegmentsPerUnit is how many stored segments one unit reads by
	// default: each is at most an hour of one sensor.
	jobSegmentsPerUnit = 4
)

// ErrUnknownJob reports a job ID this node has no record of.
var ErrUnknownJob = errors.New("node: unknown job")

// jobService runs the node's part of distributed jobs: the jobs it
// submitted, the jobs it manages or backs up, and the units it runs as a
// worker.
type jobService struct {
	n *Node

	mu sync.Mutex
	// submitted are the jobs submitted through this node, by ID.
	submitted map[string]*submittedJob
	// managed are the jobs this node manages or backs up, by ID.
	managed map[string]*managedJob
	// fences keep each job's newest manager epoch this worker has seen.
	fences map[string]*workerFence
	// place is the node's compute tier and cluster; set at start.
	place *nodePlace
	// unitLists are the unit lists received for jobs that have not
	// started here yet.
	unitLists *unitLists

	// recordsMu guards recordsLoaded, set once the stored job records
	// have been read back after a start (job_records.go).
	recordsMu     sync.Mutex
	recordsLoaded bool

	// modMu guards runtime and modules: the WebAssembly runtime and the
	// compiled job steps by SHA-256, made on first use.
	modMu   sync.Mutex
	runtime *sandbox.Runtime
	modules map[string]*sandbox.Module

	// keyMu serializes the creation of users' BGV key files.
	keyMu sync.Mutex
	// inputsGrace is the time, as a time.Duration, that the records an
	// encrypted job kept in its namespace stay after it ended:
	// jobUnitTimeout, which tests lower.
	inputsGrace atomic.Int64
	// alterSum, set by tests before any job runs, returns what the worker
	// stores in place of the encoded page sum index of a unit, after it
	// took the digest: a faulty worker.
	alterSum func(unit uint32, index int, sum []byte) []byte

	ctx    context.Context
	cancel context.CancelFunc
	group  goroutines
}

// submittedJob is the submitter's record of a job, to find it again.
type submittedJob struct {
	id        string
	namespace string
	user      string
	spec      *job.Spec
	created   time.Time
	manager   wire.Contact
	backup    *wire.Contact
	// sealed is the slot layout of an encrypted job, nil for others.
	sealed *sealedJob
	// final is the job's status once it ended, guarded by jobService.mu;
	// restored is set for a job read back from its stored record.
	final    *wire.JobStatus
	restored bool
	// opened is the decrypted result of a sealed job whose page sums were
	// stored as records, once read; guarded by jobService.mu.
	opened []api.AggregateGroup
	// cleaned is set once the records an encrypted job kept in its
	// namespace are deleted; guarded by jobService.mu.
	cleaned bool
}

func (n *Node) startJobs() {
	ctx, cancel := context.WithCancel(context.Background())
	n.jobs = &jobService{
		n:         n,
		submitted: make(map[string]*submittedJob),
		managed:   make(map[string]*managedJob),
		fences:    make(map[string]*workerFence),
		unitLists: newUnitLists(jobUnitListBudget),
		modules:   make(map[string]*sandbox.Module),
		ctx:       ctx,
		cancel:    cancel,
	}
	n.jobs.inputsGrace.Store(int64(jobUnitTimeout))
	n.jobs.startPlace()
	n.jobs.goJob(n.jobs.sweepLoop)
}

func (n *Node) closeJobs() {
	if n.jobs != nil {
		n.jobs.cancel()
		n.jobs.group.stop()
		n.jobs.closeModules()
	}
}

func (s *jobService) self() wire.Contact {
	return s.n.self
}

// request sends msg to a peer, or serves it here when the peer is this
// node, since the manager is often one of its own workers.
func (s *jobService) request(ctx context.Context, to wire.Contact, msg wire.Message) (wire.Message, error) {
	if to.ID == s.n.id.ID {
		resp := s.handle(ctx, transport.Peer{ID: to.ID, Addr: to.Addr}, msg)
		if e, ok := resp.(*wire.Error); ok {
			return nil, &jobPeerError{msg: fmt.Sprintf("node: job %v: %s", msg.Type(), e.Message), code: e.Code}
		}
		return resp, nil
	}
	resp, err := s.n.tr.Request(ctx, to, msg)
	if err != nil {
		return nil, err
	}
	if e, ok := resp.(*wire.Error); ok {
		return nil, &jobPeerError{msg: fmt.Sprintf("node: job %v to %s: %s", msg.Type(), to.ID.Short(), e.Message), code: e.Code}
	}
	return resp, nil
}

// jobPeerError is an error response to a job message, with its code.
type jobPeerError struct {
	msg  string
	code wire.ErrorCode
}

func (e *jobPeerError) Error() string { return e.msg }

// Is matches errUnitsMissing to the code that rejects a job state
// whose unit list the peer lacks.
func (e *jobPeerError) Is(target error) bool {
	return target == errUnitsMissing && e.code == wire.CodeJobUnitsMissing
}

// handleJob serves a job message from a peer.
func (n *Node) handleJob(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	if !isRequest {
		return nil
	}
	if n.jobs == nil {
		return &wire.Error{Code: wire.CodeOverloaded, Message: "jobs are not running yet"}
	}
	return n.jobs.handle(ctx, from, msg)
}

func (s *jobService) handle(ctx context.Context, from transport.Peer, msg wire.Message) wire.Message {
	switch m := msg.(type) {
	case *wire.JobState:
		return s.handleState(from, m)
	case *wire.JobAssign:
		return s.handleAssign(from, m)
	case *wire.JobReport:
		return s.handleReport(from, m)
	case *wire.JobPing:
		return s.handlePing(m)
	case *wire.JobStatusRequest:
		return s.handleStatus(m)
	case *wire.JobSum:
		return s.handleSum(ctx, from, m)
	case *wire.JobUnits:
		return s.handleUnits(m)
	}
	return &wire.Error{Code: wire.CodeUnsupported, Message: "unsupported job message " + msg.Type().String()}
}

// handlePing acknowledges a ping to a worker (always) and to a manager
// or backup of the job (with its epoch).
func (s *jobService) handlePing(m *wire.JobPing) wire.Message {
	s.mu.Lock()
	mj := s.managed[m.JobID]
	s.mu.Unlock()
	if mj == nil {
		return s.workerAck(0)
	}
	return s.workerAck(mj.currentEpoch())
}

// SubmitOptions are a job's settings beyond its spec.
type SubmitOptions struct {
	// SegmentsPerUnit is how many segments one unit reads, 1 to 256; 0
	// means 4. The segments of one source and hour stay together, so a
	// unit may read more.
	SegmentsPerUnit int
	// ScaleGiven is set when the request named the spec's Scale, which
	// must then match a sealed namespace's scale.
	ScaleGiven bool
}

// SubmitJob computes the job's units from the search index on behalf of
// user, picks a manager and a backup, and hands the job to them. It
// returns the job's ID.
func (n *Node) SubmitJob(ctx context.Context, user string, spec job.Spec, opts SubmitOptions) (string, error) {
	if n.jobs == nil || n.search == nil || n.search.querier == nil {
		return "", fmt.Errorf("node: jobs are not running yet; retry in a moment")
	}
	spec.ID = newJobID()
	if spec.Reader == "" {
		spec.Reader = defaultReader
	}
	if spec.Module != "" {
		hash, err := n.moduleHash(ctx, user, spec.Namespace, spec.Module)
		if err != nil {
			return "", err
		}
		spec.ModuleHash = hash
	}
	if err := spec.Validate(); err != nil {
		return "", err
	}
	q, err := spec.Query()
	if err != nil {
		return "", err
	}
	per, err := checkSegmentsPerUnit(opts.SegmentsPerUnit)
	if err != nil {
		return "", err
	}
	keys, err := n.search.querier.SegmentKeys(ctx, user, q)
	if err != nil {
		return "", err
	}
	var sealed *sealedJob
	var storeSums bool
	if spec.Encrypted {
		var cfg *he.SealConfig
		if cfg, err = n.sealedNamespace(ctx, user, &spec, opts); err != nil {
			return "", err
		}
		if cfg != nil {
			keys, storeSums, err = n.pagedKeys(ctx, user, &spec, cfg, keys)
		} else {
			keys, sealed, err = n.sealSegments(ctx, user, &spec, q, keys)
		}
	}
	if err != nil {
		return "", err
	}
	if spec.Sealed {
		// A sealed job's reader needs the he/ grant alone, which the error
		// names.
		err = n.checkSealedReader(ctx, &spec, keys)
	} else {
		err = n.checkReader(ctx, spec.Reader, q, keys)
	}
	if err != nil {
		return "", err
	}
	units, err := jobUnits(keys, per)
	if err != nil {
		return "", err
	}
	if limit := maxStoredSumUnits(spec.Verify); storeSums && len(units) > limit {
		return "", fmt.Errorf("%w: %w: %d units, but a job whose page sums are stored takes at most %d at --verify %d, with a reference per unit and verifying worker in the result; raise the segments per unit or select less",
			job.ErrInvalid, ErrSealedLayout, len(units), limit, max(spec.Verify, 1))
	}
	n.setUnitHolders(ctx, user, spec.Namespace, units)
	return n.startJob(ctx, user, &spec, units, sealed, storeSums)
}

// startJob picks a manager and a backup for a job whose units are cut,
// hands the job to them and returns its ID. Each of the two receives the
// unit list in parts, then the scheduler's state.
func (n *Node) startJob(ctx context.Context, user string, spec *job.Spec, units []sched.Unit, sealed *sealedJob,
	storeSums bool) (string, error) {
	s := n.jobs
	m, err := sched.New(jobConfig(spec.Verify), 1, units)
	if err != nil {
		return "", err
	}
	list, err := newUnitList(units)
	if err != nil {
		return "", err
	}
	state, err := m.Snapshot().EncodeState()
	if err != nil {
		return "", err
	}
	specBytes, err := spec.Encode()
	if err != nil {
		return "", err
	}

	manager, backup, err := s.pickManagers(ctx, spec.ID)
	if err != nil {
		return "", err
	}
	sj := &submittedJob{id: spec.ID, namespace: spec.Namespace, user: user, spec: spec, created: time.Now(), manager: manager, backup: backup,
		sealed: sealed}
	var sumStore *wire.Contact
	if storeSums {
		self := s.self()
		sumStore = &self
	}
	start := func(to wire.Contact, role uint8, peer *wire.Contact) error {
		if err := s.sendUnitList(ctx, to, spec.ID, list); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, jobSendTimeout)
		defer cancel()
		_, err := s.request(sctx, to, &wire.JobState{JobID: spec.ID, Role: role, Peer: peer, Spec: specBytes,
			State: state, UnitList: list.digest[:], Submitter: n.id.ID.Short(), SumStore: sumStore})
		return err
	}
	if backup != nil {
		if err := start(*backup, wire.JobBackup, &manager); err != nil {
			n.log.Warn("job backup did not take the job; running without one", "job", spec.ID, "backup", backup.ID.Short(), "err", err)
			sj.backup, backup = nil, nil
		}
	}
	if err := start(manager, wire.JobManager, backup); err != nil {
		s.abandon(spec.ID, manager, backup)
		return "", fmt.Errorf("node: hand job %s to manager %s: %w", spec.ID, manager.ID.Short(), err)
	}
	s.mu.Lock()
	s.submitted[spec.ID] = sj
	s.mu.Unlock()
	s.goJob(func() { s.watchJob(sj) })
	segments := 0
	for _, u := range units {
		segments += len(u.Segments)
	}
	n.log.Info("submitted job", "job", spec.ID, "units", len(units), "segments", segments, "unit_list_bytes", len(list.bytes),
		"manager", manager.ID.Short(), "backup", backupName(backup))
	return spec.ID, nil
}

// abandon cancels a job whose submission failed on its manager and its
// backup. The backup would otherwise take the job over and run it, while
// the submitter reported a failure and keeps no record of the job. The
// manager may have taken the job although its acknowledgement was lost.
func (s *jobService) abandon(id string, manager wire.Contact, backup *wire.Contact) {
	for _, to := range append([]wire.Contact{manager}, optional(backup)...) {
		ctx, cancel := context.WithTimeout(s.ctx, jobPingTimeout)
		_, err := s.request(ctx, to, &wire.JobStatusRequest{JobID: id, Cancel: true})
		cancel()
		switch {
		case err == nil:
			s.n.log.Info("job canceled after a failed submission", "job", id, "peer", to.ID.Short())
		case to.ID == manager.ID:
			// Most often the manager never took the job.
			s.n.log.Debug("job not canceled on its manager after a failed submission", "job", id, "peer", to.ID.Short(), "err", err)
		default:
			s.n.log.Warn("job not canceled on its backup after a failed submission; it may run unlisted",
				"job", id, "peer", to.ID.Short(), "err", err)
		}
	}
}

func backupName(c *wire.Contact) string {
	if c == nil {
		return "none"
	}
	return c.ID.Short()
}

// defaultReader is the local user a worker reads segments as, unless the
// job names another.
const defaultReader = "default"

func newJobID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// jobConfig is the scheduler's configuration for a job. A unit's
// Readings count its segments here, so lower-tier nodes take units of
// one segment while a stronger node is in the job.
func jobConfig(verify int) sched.Config {
	return sched.Config{LeaseDuration: jobLease, Verify: verify, StragglerAfter: 2 * jobLease, MaxAttempts: jobMaxAttempts,
		LowerTierMaxReadings: 1, LocalityWait: jobLocalityWait}
}

// pickManagers returns the two upper-tier nodes closest to the hash of
// the job's ID that respond to a ping: the first manages the job, the
// second backs it up. The candidates are this node and the contacts of
// its routing table, which in hierarchical mode contains only upper-tier
// nodes. The routing table may still list a node that died, hence the
// ping.
func (s *jobService) pickManagers(ctx context.Context, id string) (wire.Contact, *wire.Contact, error) {
	cands := s.candidates(nil)
	target := identity.NodeID(sha256.Sum256([]byte("yui job " + id)))
	slices.SortFunc(cands, func(a, b wire.Contact) int {
		return compareDistance(a.ID, b.ID, target)
	})
	var live []wire.Contact
	for _, c := range cands {
		pctx, cancel := context.WithTimeout(ctx, jobPingTimeout)
		_, err := s.request(pctx, c, &wire.JobPing{JobID: id})
		cancel()
		if err != nil {
			s.n.log.Debug("job manager candidate unreachable", "job", id, "node", c.ID.Short(), "err", err)
			continue
		}
		if live = append(live, c); len(live) == 2 {
			return live[0], &live[1], nil
		}
	}
	if len(live) == 0 {
		return wire.Contact{}, nil, fmt.Errorf("node: no node responded to be the manager of job %s; retry later", id)
	}
	return live[0], nil, nil
}

// candidates returns this node and its routing table's contacts, except
// skip.
func (s *jobService) candidates(skip *identity.NodeID) []wire.Contact {
	cands := []wire.Contact{s.self()}
	for _, p := range s.n.Peers() {
		if p.Bucket >= 0 && (skip == nil || p.ID != *skip) {
			cands = append(cands, p.Contact)
		}
	}
	return cands
}

// compareDistance orders a and b by XOR distance to target.
func compareDistance(a, b, target identity.NodeID) int {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}

// JobStatus asks the job's manager, then its backup, for the job's
// progress, and returns the answer with the job's readings' aggregate
// once done.
func (n *Node) JobStatus(ctx context.Context, id string, cancel bool) (*wire.JobStatus, error) {
	if n.jobs == nil {
		return nil, fmt.Errorf("node: jobs are not running yet; retry in a moment")
	}
	s := n.jobs
	sj := s.submittedJob(ctx, id)
	if sj == nil {
		return nil, fmt.Errorf("%w %q: it was not submitted through this node", ErrUnknownJob, id)
	}
	if st := s.finalStatus(sj); st != nil && !cancel {
		return st, nil
	}
	var errs []error
	var best *wire.JobStatus
	for _, to := range append([]wire.Contact{sj.manager}, optional(sj.backup)...) {
		ctx, cancelReq := context.WithTimeout(ctx, jobPingTimeout*2)
		resp, err := s.request(ctx, to, &wire.JobStatusRequest{JobID: id, Cancel: cancel})
		cancelReq()
		st, ok := resp.(*wire.JobStatus)
		if err != nil || !ok {
			errs = append(errs, fmt.Errorf("%s: %v", to.ID.Short(), err))
			continue
		}
		if best == nil || st.Epoch > best.Epoch || (st.Epoch == best.Epoch && st.Manager && !best.Manager) {
			best = st
		}
	}
	if best == nil && sj.restored {
		return nil, fmt.Errorf("node: job %s was running when this node restarted, and neither its manager nor its backup runs it now; submit it again: %w",
			id, errors.Join(errs...))
	}
	if best == nil {
		return nil, fmt.Errorf("node: neither manager nor backup of job %s responded: %w", id, errors.Join(errs...))
	}
	s.noteFinal(sj, best)
	return best, nil
}

func optional(c *wire.Contact) []wire.Contact {
	if c == nil {
		return nil
	}
	return []wire.Contact{*c}
}

// jobSummary is the submitter's record of a job, for listings.
type jobSummary struct {
	ID, Namespace, User string
	Created             time.Time
	Manager, Backup     string
	State               string
}

// Jobs returns the jobs submitted through this node, oldest first.
func (n *Node) Jobs() []jobSummary {
	if n.jobs == nil {
		return nil
	}
	n.jobs.mu.Lock()
	defer n.jobs.mu.Unlock()
	var out []jobSummary
	for _, sj := range n.jobs.submitted {
		out = append(out, jobSummary{ID: sj.id, Namespace: sj.namespace, User: sj.user, Created: sj.created,
			Manager: sj.manager.ID.Short(), Backup: backupName(sj.backup), State: jobState(sj)})
	}
	slices.SortFunc(out, func(a, b jobSummary) int { return a.Created.Compare(b.Created) })
	return out
}

// jobState names a submitted job's state from its final status. The
// caller holds jobService.mu.
func jobState(sj *submittedJob) string {
	switch {
	case sj.final != nil && sj.final.Canceled:
		return "canceled"
	case sj.final != nil:
		return "done"
	case sj.restored:
		// Only its manager can tell whether it still runs.
		return "unknown"
	}
	return "running"
}

// runUnit reads a unit's segments as the job's reader and aggregates
// the readings that match the job's query.
func (s *jobService) runUnit(ctx context.Context, spec *job.Spec, m *wire.JobAssign, stats *unitStats) ([]byte, error) {
	segments := m.Segments
	if spec.Encrypted && spec.Sealed {
		return s.runPagedUnit(ctx, spec, m, stats)
	}
	if spec.Encrypted {
		return s.runSealedUnit(ctx, spec, segments)
	}
	if s.n.search == nil || s.n.search.querier == nil {
		return nil, fmt.Errorf("node: search is not running yet; the unit goes to another worker")
	}
	q, err := spec.Query()
	if err != nil {
		return nil, err
	}
	// The unit holds every segment of its sources' hours, and Segments
	// reads those together, so a reading stored twice counts once.
	readings, err := s.n.search.querier.Segments(ctx, spec.Reader, q, segments)
	if err != nil {
		return nil, err
	}
	stats.read(readings)
	if spec.Module != "" {
		mod, err := s.module(ctx, spec)
		if err != nil {
			return nil, err
		}
		if readings, err = mod.Run(ctx, spec.Args, readings); err != nil {
			return nil, err
		}
	}
	agg := spec.Aggregation()
	p := job.NewPartial()
	start := time.Now()
	for i := range readings {
		p.Add(&readings[i], agg)
	}
	s.place.observe(len(readings), time.Since(start))
	return p.Encode()
}
