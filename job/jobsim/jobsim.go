// Package jobsim runs job/sched's Machine on virtual time against
// simulated workers that take time to run units, leave and join, to
// measure how long a job takes, how much work churn wastes and how much
// of the input stays inside its geographic cluster.
//
// It models what the daemon does (see node/job*.go). The manager learns
// that a worker left after DetectAfter, which stands for the missed
// pings. Every message takes Latency. Each worker has a compute speed
// drawn from TierMix, which a compute.Meter turns into its tier, as the
// daemon's calibration does. A unit takes UnitTime on a middle-tier
// worker, scaled by the worker's speed and by a uniform factor in
// [0.5, 1.5). Workers and data sit in location clusters, and each unit's
// data is held by Replicas workers that Placement chooses. The network
// and storage reads are not modelled beyond that.
package jobsim

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/yuinet/yui/job/sched"
)

// Placement chooses the workers that hold each unit's data.
type Placement string

const (
	// PlaceAnywhere puts the replicas on random workers, as placement by
	// XOR distance to a chunk's ID does.
	PlaceAnywhere Placement = "anywhere"
	// PlaceInCluster puts them on random workers of the data's cluster,
	// and elsewhere only when the cluster has too few workers.
	PlaceInCluster Placement = "cluster"
)

// Config describes one simulated job.
type Config struct {
	// Workers is the number of workers at the start.
	Workers int
	// Units is the number of units of the job.
	Units int
	// UnitTime is the mean run time of a unit on a middle-tier worker;
	// default 1 s.
	UnitTime time.Duration
	// Latency is the one-way delay of a message; default 10 ms.
	Latency time.Duration
	// DetectAfter is how long the manager takes to notice that a worker
	// left; default 2 s, the daemon's two missed pings.
	DetectAfter time.Duration
	// ChurnPerMinute is the rate at which a worker leaves and a new one
	// joins in its place, as a Poisson process.
	ChurnPerMinute float64
	// Add workers join at AddAt, or once the share AddWhenDone of the
	// units has committed when that is above 0.
	Add         int
	AddAt       time.Duration
	AddWhenDone float64
	// Verify is sched.Config.Verify.
	Verify int
	// TierMix is the share of workers whose speed is that of the upper,
	// middle and lower tier. All zero takes 20 %, 50 % and 30 %.
	TierMix [3]float64
	// NodesPerCluster is the mean number of workers per location
	// cluster at the start; default 50. Data is spread evenly over the
	// clusters.
	NodesPerCluster int
	// Replicas is how many workers hold each unit's data; default 3.
	Replicas int
	// Placement places the replicas; default PlaceAnywhere.
	Placement Placement
	// LocalityWait is sched.Config.LocalityWait: 0 takes the scheduler's
	// default, a negative value turns the wait off.
	LocalityWait time.Duration
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
	// RunsByTier counts the runs by the tier of their worker.
	RunsByTier [3]int
	// Committed and Failed count units.
	Committed, Failed int
	// Left and Joined count workers.
	Left, Joined int
	// Tiers counts the workers of each tier at the end, by sched.Tier,
	// left workers included; TierChanges counts the moves between tiers.
	Tiers       [3]int
	TierChanges int
	// Locality counts the committed units' input bytes by place.
	Locality sched.Locality
}

// ErrStuck reports a job that stopped making progress, such as one left
// with no worker.
var ErrStuck = errors.New("jobsim: job made no progress")

// ErrInvalid reports a Config that cannot run.
var ErrInvalid = errors.New("jobsim: invalid config")

// maxVirtual bounds a run's virtual time.
const maxVirtual = 24 * time.Hour

// Model constants. A unit holds unitReadings readings, about four
// hourly segments of a sensor reporting once a minute, and each reading
// is bytesPerReading bytes stored. The speeds are readings per second
// inside compute.Config's default thresholds for each tier.
const (
	unitReadings    = 240
	bytesPerReading = 40
)

var tierSpeed = [3]float64{200_000, 50_000, 10_000}

func (c *Config) setDefaults() error {
	if c.Workers < 1 || c.Units < 1 {
		return fmt.Errorf("%w: %d workers and %d units; want at least 1 of each", ErrInvalid, c.Workers, c.Units)
	}
	if c.Units > sched.MaxUnits {
		return fmt.Errorf("%w: %d units, limit %d", ErrInvalid, c.Units, sched.MaxUnits)
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
	if !(c.AddWhenDone >= 0 && c.AddWhenDone < 1) {
		return fmt.Errorf("%w: add when %v of the units are done; want 0 to 1, below 1", ErrInvalid, c.AddWhenDone)
	}
	if c.ChurnPerMinute < 0 || math.IsNaN(c.ChurnPerMinute) || math.IsInf(c.ChurnPerMinute, 0) {
		return fmt.Errorf("%w: churn %v per minute; want a finite number, 0 or more", ErrInvalid, c.ChurnPerMinute)
	}
	if c.TierMix == [3]float64{} {
		c.TierMix = [3]float64{0.2, 0.5, 0.3}
	}
	for _, share := range c.TierMix {
		if !(share >= 0 && share <= 1) {
			return fmt.Errorf("%w: tier mix %v; want shares from 0 to 1", ErrInvalid, c.TierMix)
		}
	}
	if c.NodesPerCluster <= 0 {
		c.NodesPerCluster = 50
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	switch c.Placement {
	case "":
		c.Placement = PlaceAnywhere
	case PlaceAnywhere, PlaceInCluster:
	default:
		return fmt.Errorf("%w: placement %q; want %q or %q", ErrInvalid, c.Placement, PlaceAnywhere, PlaceInCluster)
	}
	return nil
}

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
	cfg      Config
	rng      *rand.Rand
	start    time.Time
	m        *sched.Machine
	q        queue
	seq      int
	workers  []*worker
	live     []int // indexes of live workers, for picking one to leave
	clusters int
	res      Result
	now      time.Duration
	added    bool // the AddWhenDone workers were scheduled to join
}

// Run simulates one job.
func Run(cfg Config) (Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return Result{}, err
	}
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6a6f6273)), start: time.Unix(0, 0)}
	s.clusters = max(1, (cfg.Workers+cfg.NodesPerCluster-1)/cfg.NodesPerCluster)
	for range cfg.Workers {
		s.newWorker()
	}
	var err error
	s.m, err = sched.New(sched.Config{LeaseDuration: 20 * time.Second, StragglerAfter: 40 * time.Second,
		Verify: cfg.Verify, MaxAttempts: 5, LocalityWait: cfg.LocalityWait}, 1, s.units())
	if err != nil {
		return Result{}, err
	}
	for i := range s.workers {
		s.join(i)
	}
	if cfg.Add > 0 && cfg.AddWhenDone == 0 {
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
	s.finish()
	return s.res, nil
}

func (s *sim) finish() {
	s.res.Completion = s.now
	s.res.Failed = len(s.m.Failed())
	s.res.Wasted = s.res.Runs - s.res.Committed*max(s.cfg.Verify, 1)
	s.res.Locality = s.m.Locality()
	for _, w := range s.workers {
		s.res.Tiers[w.meter.Tier()]++
	}
}

// units cuts the job into units of one segment each, in a random
// cluster, held by Replicas of the workers there at the start.
func (s *sim) units() []sched.Unit {
	byCluster := make([][]int, s.clusters)
	for i, w := range s.workers {
		byCluster[w.cluster] = append(byCluster[w.cluster], i)
	}
	units := make([]sched.Unit, s.cfg.Units)
	for i := range units {
		c := s.rng.IntN(s.clusters)
		seg := sched.Segment{Key: strconv.Itoa(i), Readings: unitReadings, Holders: s.holders(byCluster[c])}
		units[i] = sched.Unit{ID: sched.UnitID(i), Segments: []sched.Segment{seg}, Readings: unitReadings,
			Cluster: clusterName(c)}
	}
	return units
}

// holders picks the distinct workers that hold a unit's data.
func (s *sim) holders(inCluster []int) []sched.WorkerID {
	n := min(s.cfg.Replicas, len(s.workers))
	picked := make(map[int]bool, n)
	var out []sched.WorkerID
	pick := func(i int) {
		if !picked[i] && len(out) < n {
			picked[i] = true
			out = append(out, s.workers[i].id)
		}
	}
	if s.cfg.Placement == PlaceInCluster {
		for _, k := range s.rng.Perm(len(inCluster))[:min(n, len(inCluster))] {
			pick(inCluster[k])
		}
	}
	for len(out) < n {
		pick(s.rng.IntN(len(s.workers)))
	}
	return out
}

func clusterName(c int) string { return "c" + strconv.Itoa(c) }

func (s *sim) at() time.Time { return s.start.Add(s.now) }

func (s *sim) push(e *event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
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
		s.run(e)
	case evReport:
		// A worker that left before its report went out sends nothing.
		if s.workers[e.worker].alive {
			s.m.HandleReport(s.at(), e.report)
		}
	case evLeave:
		s.leaveRandom()
		s.join(s.newWorker())
		s.scheduleChurn()
	case evDetect:
		s.m.RemoveWorker(s.at(), s.workers[e.worker].id)
	case evJoin:
		for range e.worker {
			s.join(s.newWorker())
		}
	case evTick:
		for _, i := range s.live {
			s.m.Heartbeat(s.at(), s.workers[i].id)
		}
		s.m.Tick(s.at())
		s.push(&event{at: s.now + time.Second, kind: evTick})
	}
}

// run starts an assigned unit on its worker, which reports after the
// run time and updates its tier from the time the computing took.
func (s *sim) run(e *event) {
	w := s.workers[e.worker]
	if !w.alive {
		return
	}
	s.res.Runs++
	s.res.RunsByTier[w.meter.Tier()]++
	factor := 0.5 + s.rng.Float64()
	run := time.Duration(float64(s.cfg.UnitTime) * tierSpeed[sched.TierMiddle] / w.speed * factor)
	a := e.assign
	s.push(&event{at: s.now + run + s.cfg.Latency, kind: evReport, worker: e.worker,
		report: sched.Report{Worker: a.Worker, Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID, Result: []byte("ok"),
			Bytes: int64(a.Unit.Readings) * bytesPerReading}})
	s.observe(e.worker, a.Unit.Readings, time.Duration(float64(a.Unit.Readings)/w.speed*factor*float64(time.Second)))
}

// leaveRandom makes a random live worker leave; the manager notices
// after DetectAfter.
func (s *sim) leaveRandom() {
	if len(s.live) == 0 {
		return
	}
	k := s.rng.IntN(len(s.live))
	i := s.live[k]
	s.live[k] = s.live[len(s.live)-1]
	s.live = s.live[:len(s.live)-1]
	s.workers[i].alive = false
	s.res.Left++
	s.push(&event{at: s.now + s.cfg.DetectAfter, kind: evDetect, worker: i})
}

// flush delivers the Machine's assignments after Latency and counts its
// commits. Revocations are not sent, as in the daemon.
func (s *sim) flush() {
	assigns, _ := s.m.Outbox()
	for _, a := range assigns {
		i, _ := strconv.Atoi(string(a.Worker[1:]))
		s.push(&event{at: s.now + s.cfg.Latency, kind: evAssign, worker: i, assign: a})
	}
	s.res.Committed += len(s.m.Commits())
	if s.cfg.Add > 0 && s.cfg.AddWhenDone > 0 && !s.added &&
		float64(s.res.Committed) >= s.cfg.AddWhenDone*float64(s.cfg.Units) {
		s.added = true
		s.push(&event{at: s.now, kind: evJoin, worker: s.cfg.Add})
	}
}
