package sim

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// LookupOptions configures the lookup scenario. The zero value of a field
// selects its default.
type LookupOptions struct {
	// Build describes the network built first, which is run until it
	// converges.
	Build BuildOptions
	// Lookups is the number of lookups measured, started in batches of
	// Batch every Interval. Defaults 10,000, 100 and 100 ms.
	Lookups, Batch int
	Interval       time.Duration
}

func (o LookupOptions) withDefaults() (LookupOptions, error) {
	var err error
	if o.Build, err = o.Build.withDefaults(); err != nil {
		return o, err
	}
	if o.Lookups <= 0 {
		o.Lookups = 10_000
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	return o, nil
}

// LookupResultSet is the outcome of the lookup scenario.
type LookupResultSet struct {
	Options LookupOptions
	Build   BuildResult
	Probes  []Probe
	Stats   Stats
}

// Lookups builds a network, waits for it to converge (see Build) and then
// runs opts.Lookups lookups for random keys from random nodes, recording
// their hops, latency and correctness.
func Lookups(n *Network, opts LookupOptions) (LookupResultSet, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return LookupResultSet{}, err
	}
	res := LookupResultSet{Options: opts}
	if res.Build, err = Build(n, opts.Build); err != nil {
		return res, err
	}
	if !res.Build.Converged {
		return res, fmt.Errorf("%w: the network of %d nodes did not converge within %v of the last join",
			ErrNotConverged, opts.Build.Nodes, opts.Build.Timeout)
	}

	rng := NewStream(n.cfg.Seed, StreamScenario+2)
	pending := 0
	for started := 0; started < opts.Lookups; started += opts.Batch {
		size := min(opts.Batch, opts.Lookups-started)
		pending++
		n.At(n.Now()+time.Duration(started/opts.Batch)*opts.Interval, func() {
			n.startProbes(size, rng, func(b *probeBatch) {
				res.Probes = append(res.Probes, b.probes...)
				pending--
			})
		})
	}
	for pending > 0 && n.queue.len() > 0 {
		n.RunUntil(n.Now() + time.Second)
	}
	res.Stats = n.stats
	return res, nil
}

// Percentiles returns the p-th percentiles (0 to 100) of values, by the
// nearest-rank method, or zeros if values is empty. It sorts values.
func Percentiles[T int | time.Duration](values []T, ps ...float64) []T {
	out := make([]T, len(ps))
	if len(values) == 0 {
		return out
	}
	slices.Sort(values)
	for k, p := range ps {
		rank := int(math.Ceil(p / 100 * float64(len(values))))
		out[k] = values[min(max(rank, 1), len(values))-1]
	}
	return out
}
