package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNotConverged reports a network whose lookups never reached the target
// share of correct results.
var ErrNotConverged = errors.New("sim: network did not converge")

// BuildOptions configures the build scenario. The zero value of a field
// selects its default.
type BuildOptions struct {
	// Nodes is the number of nodes that join. Required.
	Nodes int
	// LANSize is the number of nodes per broadcast domain. Default 16.
	LANSize int
	// Bootstrap is the number of contacts outside its broadcast domain a
	// node starts with. Default 1.
	Bootstrap int
	// JoinRate is the number of nodes that start per virtual second.
	// Default 10,000.
	JoinRate float64
	// Probes is the number of lookups in one convergence check, and
	// ProbeInterval the time between the starts of two checks. Defaults
	// 1,000 and 250 ms.
	Probes        int
	ProbeInterval time.Duration
	// Target is the share of correct lookups that counts as converged.
	// Default 0.99.
	Target float64
	// Timeout is how long after the last join the scenario waits for
	// convergence. Default 2 minutes.
	Timeout time.Duration
	// DecideEarly decides a check as soon as the lookups still running
	// cannot change whether it reaches the target, instead of when the
	// last one ends (see judgeCheck). The verdicts and the convergence
	// time are the same either way. The run ends sooner, because the
	// slowest lookups of a check take seconds longer than the rest.
	DecideEarly bool
	// CheckDecided, if set, is called when a check's verdict is known,
	// with the check and the virtual time then, for progress reports.
	// Checks are decided in any order.
	CheckDecided func(c Check, now time.Duration)
}

func (o BuildOptions) withDefaults() (BuildOptions, error) {
	if o.Nodes < 1 {
		return o, fmt.Errorf("%w: %d nodes; want at least 1", ErrConfig, o.Nodes)
	}
	if o.LANSize <= 0 {
		o.LANSize = 16
	}
	if o.Bootstrap <= 0 {
		o.Bootstrap = 1
	}
	if o.JoinRate <= 0 {
		o.JoinRate = 10_000
	}
	if o.Probes <= 0 {
		o.Probes = 1000
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 250 * time.Millisecond
	}
	if o.Target <= 0 || o.Target > 1 {
		o.Target = 0.99
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	return o, nil
}

// Check is one convergence check: a batch of lookups started at one time.
type Check struct {
	// At is when the lookups started, since the start of the run.
	At time.Duration
	// ProbeSummary counts the lookups as they stood when the check's
	// verdict was known, a lookup still running as not correct.
	ProbeSummary
	// Ended is how many of the lookups had ended then.
	Ended int
}

// checkRun is a check in progress.
type checkRun struct {
	Check
	verdict checkVerdict
	// probes are the lookups, set once the verdict is known. Those
	// still running are zero.
	probes []Probe
}

type checkVerdict uint8

const (
	checkOpen checkVerdict = iota
	checkPassed
	checkFailed
)

// judgeCheck returns the verdict of a check whose lookups, ended of them
// so far, add up to s. Once every lookup has ended, the check passes if
// their success reaches the target. With DecideEarly it is decided as soon
// as the lookups still running cannot change that outcome. It then passes
// when the success reaches the target even if they all fail, and fails
// when it stays below the target even if they all succeed.
func judgeCheck(s ProbeSummary, ended int, opts BuildOptions) checkVerdict {
	running := s.Lookups - ended
	switch {
	case running > 0 && !opts.DecideEarly:
		return checkOpen
	case s.Success() >= opts.Target:
		// A running lookup counts as not correct, and the success only
		// grows as running lookups succeed or their target turns out
		// to have left, which takes them out of the count.
		return checkPassed
	case running == 0:
		return checkFailed
	}
	// The best case: every running lookup finds the true closest node.
	judged := s.Lookups - s.TargetLeft
	if float64(s.Correct+running) < opts.Target*float64(judged) {
		return checkFailed
	}
	return checkOpen
}

// BuildResult is the outcome of the build scenario.
type BuildResult struct {
	Options BuildOptions
	Mode    Mode
	LANs    int
	// LastJoin is when the last node started.
	LastJoin time.Duration
	// Converged reports whether a check reached the target share of
	// correct lookups, and ConvergedAt when that check started.
	Converged   bool
	ConvergedAt time.Duration
	// End is the virtual time when the scenario stopped.
	End    time.Duration
	Checks []Check
	// ConvergedProbes are the lookups of the check that reached the
	// target: lookups on the converged network, for their hops and
	// latency.
	ConvergedProbes []Probe
	// Contacts is the total number of contacts the nodes hold at the end,
	// and Participants the number of nodes in the global DHT.
	Contacts, Participants int
	Stats                  Stats
}

// Build joins opts.Nodes nodes to an empty network, at opts.JoinRate per
// virtual second, and then checks every ProbeInterval whether lookups
// for random keys find the true closest node, until a check reaches the
// target or Timeout passes.
//
// Node i starts at i/JoinRate in broadcast domain i/LANSize (so the
// domains fill one after another), meets its LAN neighbours that started
// before it and gets Bootstrap random earlier nodes outside its LAN as
// contacts.
func Build(n *Network, opts BuildOptions) (BuildResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return BuildResult{}, err
	}
	res := BuildResult{Options: opts, Mode: n.cfg.Mode}
	if err := joinAll(n, opts.Nodes, opts.LANSize, opts.Bootstrap, opts.JoinRate); err != nil {
		return res, err
	}
	res.LastJoin = n.Now()
	res.LANs = n.LANs()

	rng := NewStream(n.cfg.Seed, StreamScenario)
	deadline := res.LastJoin + opts.Timeout
	// checks[k] is the k-th check started. Checks end in any order, and
	// the network converged at the first check to reach the target among
	// those started before it, so a check counts only once every earlier
	// one has a verdict.
	var checks []*checkRun
	decide := func() {
		for _, c := range checks {
			switch c.verdict {
			case checkOpen:
				return
			case checkPassed:
				res.Converged, res.ConvergedAt = true, c.At
				res.ConvergedProbes = c.probes
				return
			}
		}
	}
	var launch func()
	launch = func() {
		if res.Converged || n.Now() > deadline {
			return
		}
		c := &checkRun{}
		checks = append(checks, c)
		update := func(b *probeBatch) {
			if c.verdict != checkOpen {
				return
			}
			c.Check = Check{At: b.started, ProbeSummary: summarize(b.probes), Ended: len(b.probes) - b.pending}
			c.verdict = judgeCheck(c.ProbeSummary, c.Ended, opts)
			if c.verdict == checkOpen {
				return
			}
			// The lookups still running go on after the verdict, so
			// the copy keeps them as they stood.
			c.probes = slices.Clone(b.probes)
			if opts.CheckDecided != nil {
				opts.CheckDecided(c.Check, n.Now())
			}
			if !res.Converged {
				decide()
			}
		}
		n.startProbesEach(opts.Probes, rng, update, update)
		n.At(n.Now()+opts.ProbeInterval, launch)
	}
	launch()
	// Checks started before the deadline may take a few request timeouts
	// to end.
	for !res.Converged && n.Now() <= deadline+30*time.Second {
		n.RunUntil(n.Now() + opts.ProbeInterval)
	}

	for _, c := range checks {
		if c.verdict != checkOpen {
			res.Checks = append(res.Checks, c.Check)
		}
	}
	res.End = n.Now()
	res.Contacts, res.Participants = n.census()
	res.Stats = n.stats
	return res, nil
}

// joinAll starts count nodes, one every 1/rate virtual seconds, filling
// broadcast domains of lanSize one after another, and runs the network
// until the last has started.
func joinAll(n *Network, count, lanSize, bootstrap int, rate float64) error {
	gap := time.Duration(float64(time.Second) / rate)
	start := n.Now()
	var joinErr error
	// Each join schedules the next, so the queue holds one join at a
	// time however many nodes there are.
	var join func(k int)
	join = func(k int) {
		if k%lanSize == 0 {
			n.AddLAN()
		}
		if _, err := n.Start(int32(n.LANs()-1), bootstrap); err != nil {
			joinErr = err
			return
		}
		if k+1 < count {
			n.At(start+time.Duration(k+1)*gap, func() { join(k + 1) })
		}
	}
	n.At(start, func() { join(0) })
	n.RunUntil(start + time.Duration(count-1)*gap)
	return joinErr
}

// census counts the contacts held by live nodes and the live nodes in the
// global DHT.
func (n *Network) census() (contacts, participants int) {
	for _, i := range n.live {
		contacts += n.nodes[i].member.Len()
		if n.inDHT(i) {
			participants++
		}
	}
	return contacts, participants
}
