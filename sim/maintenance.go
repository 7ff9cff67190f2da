package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// MaintenanceOptions configures the maintenance scenario. The zero value
// of a field selects its default.
type MaintenanceOptions struct {
	// Build describes the network built first; its Nodes is also the
	// population the churn keeps on average.
	Build BuildOptions
	// Churn gives the session lengths. Default DefaultChurn.
	Churn Churn
	// Graceful is the share of departures that send the protocol's Leave
	// messages; the others fall silent. Default 0: measurement studies
	// see departures but not how they happen, and silent ones are the
	// harder case for the protocol.
	Graceful float64
	// Warmup is the time between the build and the measurement, during
	// which churn runs. Default 15 minutes, one bucket refresh interval.
	Warmup time.Duration
	// Window is the measured time. Default 30 minutes.
	Window time.Duration
	// Probes is the number of lookups spread over the window, in
	// ProbeBatches batches. Defaults 1,000 and 20.
	Probes, ProbeBatches int
}

func (o MaintenanceOptions) withDefaults() (MaintenanceOptions, error) {
	var err error
	if o.Build, err = o.Build.withDefaults(); err != nil {
		return o, err
	}
	if o.Churn.Shape == 0 {
		o.Churn = DefaultChurn()
	}
	if o.Graceful < 0 || o.Graceful > 1 {
		return o, fmt.Errorf("%w: graceful share %v outside [0, 1]", ErrConfig, o.Graceful)
	}
	if o.Warmup <= 0 {
		o.Warmup = 15 * time.Minute
	}
	if o.Window <= 0 {
		o.Window = 30 * time.Minute
	}
	if o.Probes <= 0 {
		o.Probes = 1000
	}
	if o.ProbeBatches <= 0 {
		o.ProbeBatches = 20
	}
	o.ProbeBatches = min(o.ProbeBatches, o.Probes)
	return o, nil
}

// MaintenanceResult is the outcome of the maintenance scenario.
type MaintenanceResult struct {
	Options MaintenanceOptions
	Mode    Mode
	// Build is the build scenario that made the network, before churn.
	Build BuildResult
	// Arrivals and Departures count the nodes that started and left
	// during the window.
	Arrivals, Departures int
	// NodeMinutes is the integral of the number of live nodes over the
	// window, which divides traffic into a per-node, per-minute rate.
	NodeMinutes float64
	// Traffic counts the messages sent during the window.
	Traffic Traffic
	// Probes are the lookups run during the window.
	Probes []Probe
	Stats  Stats
}

// MeanLive returns the average number of live nodes during the window.
func (r *MaintenanceResult) MeanLive() float64 {
	return r.NodeMinutes / r.Options.Window.Minutes()
}

// Maintenance builds a network as Build does, until it converges or the
// build times out, and then keeps it under churn. Nodes leave when their
// sessions end, and new ones arrive in a Poisson process whose rate keeps
// opts.Build.Nodes online on average. After Warmup it measures for
// Window what the network sends and how lookups fare.
//
// The nodes of the build are treated as already running when churn
// starts, so their remaining sessions are drawn from the residual
// distribution (Churn.Residual) and the population starts in its steady
// state. An arrival joins a uniformly chosen broadcast domain, so domains
// vary in size around Build.LANSize.
func Maintenance(n *Network, opts MaintenanceOptions) (MaintenanceResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return MaintenanceResult{}, err
	}
	res := MaintenanceResult{Options: opts, Mode: n.cfg.Mode}
	if res.Build, err = Build(n, opts.Build); err != nil {
		return res, err
	}

	c := &churner{n: n, opts: opts, rng: NewStream(n.cfg.Seed, StreamScenario+1)}
	c.windowStart = n.Now() + opts.Warmup
	c.end = c.windowStart + opts.Window
	c.lastChange = c.windowStart
	for _, i := range append([]int32(nil), n.live...) {
		c.scheduleDeparture(i, opts.Churn.Residual(c.rng))
	}
	c.scheduleArrival()

	n.RunUntil(c.windowStart)
	before := n.stats.Traffic
	c.measuring = true
	c.scheduleProbes(&res)
	n.RunUntil(c.end)
	c.account()

	res.Traffic = n.stats.Traffic.Sub(before)
	res.Arrivals, res.Departures = c.arrivals, c.departures
	res.NodeMinutes = c.nodeMinutes
	res.Stats = n.stats
	return res, nil
}

// churner drives arrivals and departures.
type churner struct {
	n    *Network
	opts MaintenanceOptions
	rng  *rand.Rand

	windowStart, end time.Duration
	measuring        bool
	// lastChange and nodeMinutes integrate the live population over the
	// window.
	lastChange           time.Duration
	nodeMinutes          float64
	arrivals, departures int
}

// account adds the live population since the last change to the
// integral.
func (c *churner) account() {
	if !c.measuring {
		return
	}
	now := c.n.Now()
	c.nodeMinutes += float64(c.n.Live()) * (now - c.lastChange).Minutes()
	c.lastChange = now
}

// scheduleDeparture makes node i leave after d, unless that is after the
// end of the run.
func (c *churner) scheduleDeparture(i int32, d time.Duration) {
	at := c.n.Now() + d
	if at > c.end {
		return
	}
	c.n.At(at, func() {
		c.account()
		c.n.Stop(i, c.rng.Float64() < c.opts.Graceful)
		if c.measuring {
			c.departures++
		}
	})
}

// scheduleArrival schedules the next arrival of the Poisson process.
func (c *churner) scheduleArrival() {
	at := c.n.Now() + c.opts.Churn.ArrivalGap(c.opts.Build.Nodes, c.rng)
	if at > c.end {
		return
	}
	c.n.At(at, func() {
		c.account()
		lan := int32(c.rng.IntN(c.n.LANs()))
		i, err := c.n.Start(lan, c.opts.Build.Bootstrap)
		if err == nil {
			c.scheduleDeparture(i, c.opts.Churn.Session(c.rng))
			if c.measuring {
				c.arrivals++
			}
		}
		c.scheduleArrival()
	})
}

// scheduleProbes spreads the window's lookups over it in batches.
func (c *churner) scheduleProbes(res *MaintenanceResult) {
	batches := c.opts.ProbeBatches
	gap := c.opts.Window / time.Duration(batches+1)
	for k := range batches {
		size := c.opts.Probes / batches
		if k < c.opts.Probes%batches {
			size++
		}
		c.n.At(c.windowStart+time.Duration(k+1)*gap, func() {
			c.n.startProbes(size, c.rng, func(b *probeBatch) {
				res.Probes = append(res.Probes, b.probes...)
			})
		})
	}
}
