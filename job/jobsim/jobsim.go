// Package jobsim runs job/sched's Machine on virtual time against
// simulated workers that take time to run units, leave and join, to
// measure how long a job takes and how much work churn wastes.
//
// It models what the daemon does (see node/job*.go). The manager learns
// that a worker left after DetectAfter, which stands for the missed
// pings. Every message takes Latency, and a unit takes UnitTime times a
// uniform factor in [0.5, 1.5). The network and storage reads are not
// modelled beyond that.
package jobsim

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/yuinet/yui/job/sched"
)

// Config describes one simulated job.
type Config struct {
	// Workers is the number of workers at the start.
	Workers int
	// Units is the number of units of the job.
	Units int
	// UnitTime is the mean run time of a unit; default 1 s.
	UnitTime time.Duration
	// Latency is the one-way delay of a message; default 10 ms.
	Latency time.Duration
	// DetectAfter is how long the manager takes to notice that a worker
	// left; default 2 s, the daemon's two missed pings.
	DetectAfter time.Duration
	// ChurnPerMinute is the rate at which a worker leaves and a new one
	// joins in its place, as a Poisson process.
	ChurnPerMinute float64
	// Add workers join at AddAt.
	Add   int
	AddAt time.Duration
	// Verify is sched.Config.Verify.
	Verify int
	// Seed makes the run reproducible.
	Seed uint64
}

// Result is the outcome of a simulated job.
type Result struct {
	// Completion is the virtual time from the start to the last commit.
	Completion time.Duration
	// Runs counts the unit runs workers started; Wasted those whose
	// result did not commit (a left worker, a revoked or duplicate copy).
	Runs, Wasted int
	// Committed and Failed count units.
	Committed, Failed int
	// Left and Joined count workers.
	Left, Joined int
}

// ErrStuck reports a job that stopped making progress, such as one left
// with no worker.
var ErrStuck = errors.New("jobsim: job made no progress")

// maxVirtual bounds a run's virtual time.
const maxVirtual = 24 * time.Hour

type eventKind int

const (
	evAssign eventKind = iota // an assignment reaches a worker
	evReport                  // a report reaches the manager
	evLeave                   // a worker leaves (churn)
	evDetect                  // the manager notices a worker left
	evJoin                    // new workers join
	evTick                    // heartbeats and the Machine's deadlines
)

type event struct {
	at     time.Duration
	seq    int
	kind   eventKind
	worker int
	assign sched.Assignment
	report sched.Report
}

type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type sim struct {
	cfg    Config
	rng    *rand.Rand
	start  time.Time
	m      *sched.Machine
	q      queue
	seq    int
	alive  []bool
	res    Result
	now    time.Duration
	closed bool
}

func (c *Config) setDefaults() error {
	if c.Workers < 1 || c.Units < 1 {
		return fmt.Errorf("jobsim: %d workers and %d units; want at least 1 of each", c.Workers, c.Units)
	}
	if c.UnitTime <= 0 {
		c.UnitTime = time.Second
	}
	if c.Latency <= 0 {
		c.Latency = 10 * time.Millisecond
	}
	if c.DetectAfter <= 0 {
		c.DetectAfter = 2 * time.Second
	}
	if c.ChurnPerMinute < 0 || math.IsNaN(c.ChurnPerMinute) || math.IsInf(c.ChurnPerMinute, 0) {
		return fmt.Errorf("jobsim: churn %v per minute; want a finite number, 0 or more", c.ChurnPerMinute)
	}
	return nil
}

// Run simulates one job.
func Run(cfg Config) (Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return Result{}, err
	}
	segs := make([]sched.Segment, cfg.Units)
	for i := range segs {
		segs[i] = sched.Segment{Key: fmt.Sprint(i), Readings: 1}
	}
	units, err := sched.Split(segs, 1)
	if err != nil {
		return Result{}, err
	}
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6a6f6273)), start: time.Unix(0, 0)}
	s.m, err = sched.New(sched.Config{LeaseDuration: 20 * time.Second, StragglerAfter: 40 * time.Second,
		Verify: cfg.Verify, MaxAttempts: 5}, 1, units)
	if err != nil {
		return Result{}, err
	}
	for range cfg.Workers {
		s.join()
	}
	if cfg.Add > 0 {
		s.push(&event{at: cfg.AddAt, kind: evJoin, worker: cfg.Add})
	}
	s.scheduleChurn()
	s.push(&event{at: time.Second, kind: evTick})
	s.flush()

	for !s.m.Done() {
		if len(s.q) == 0 || s.now > maxVirtual {
			return s.res, fmt.Errorf("%w after %v: %d of %d units committed", ErrStuck, s.now, s.res.Committed, cfg.Units)
		}
		e := heap.Pop(&s.q).(*event)
		s.now = e.at
		s.handle(e)
		s.flush()
	}
	s.res.Completion = s.now
	s.res.Failed = len(s.m.Failed())
	s.res.Wasted = s.res.Runs - s.res.Committed*max(cfg.Verify, 1)
	return s.res, nil
}

func (s *sim) at() time.Time { return s.start.Add(s.now) }

func (s *sim) push(e *event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

func workerID(i int) sched.WorkerID { return sched.WorkerID(fmt.Sprintf("w%d", i)) }

// join adds a new worker now.
func (s *sim) join() {
	i := len(s.alive)
	s.alive = append(s.alive, true)
	s.m.AddWorker(s.at(), workerID(i), sched.TierUpper)
	if s.now > 0 {
		s.res.Joined++
	}
}

// scheduleChurn draws the next departure of the Poisson process.
func (s *sim) scheduleChurn() {
	if s.cfg.ChurnPerMinute <= 0 {
		return
	}
	gap := time.Duration(s.rng.ExpFloat64() / s.cfg.ChurnPerMinute * float64(time.Minute))
	s.push(&event{at: s.now + gap, kind: evLeave})
}

func (s *sim) handle(e *event) {
	switch e.kind {
	case evAssign:
		if !s.alive[e.worker] {
			return
		}
		s.res.Runs++
		run := time.Duration(float64(s.cfg.UnitTime) * (0.5 + s.rng.Float64()))
		a := e.assign
		s.push(&event{at: s.now + run + s.cfg.Latency, kind: evReport, worker: e.worker,
			report: sched.Report{Worker: a.Worker, Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID, Result: []byte("ok")}})
	case evReport:
		// A worker that left before its report went out sends nothing.
		if !s.alive[e.worker] {
			return
		}
		s.m.HandleReport(s.at(), e.report)
	case evLeave:
		s.leaveRandom()
		s.join()
		s.scheduleChurn()
	case evDetect:
		s.m.RemoveWorker(s.at(), workerID(e.worker))
	case evJoin:
		for range e.worker {
			s.join()
		}
	case evTick:
		for i, ok := range s.alive {
			if ok {
				s.m.Heartbeat(s.at(), workerID(i))
			}
		}
		s.m.Tick(s.at())
		s.push(&event{at: s.now + time.Second, kind: evTick})
	}
}

// leaveRandom makes a random live worker leave; the manager notices
// after DetectAfter.
func (s *sim) leaveRandom() {
	var live []int
	for i, ok := range s.alive {
		if ok {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return
	}
	w := live[s.rng.IntN(len(live))]
	s.alive[w] = false
	s.res.Left++
	s.push(&event{at: s.now + s.cfg.DetectAfter, kind: evDetect, worker: w})
}

// flush delivers the Machine's assignments after Latency and counts its
// commits. Revocations are not sent, as in the daemon.
func (s *sim) flush() {
	assigns, _ := s.m.Outbox()
	for _, a := range assigns {
		var w int
		fmt.Sscanf(string(a.Worker), "w%d", &w)
		s.push(&event{at: s.now + s.cfg.Latency, kind: evAssign, worker: w, assign: a})
	}
	s.res.Committed += len(s.m.Commits())
}
