package town

import (
	"fmt"
	"slices"
	"time"
)

// Experiment runs one scenario over several seeds. Seed k of Seeds uses
// FirstSeed + k for both the graph and the scenario, so every protocol
// and every failed share meets the same towns.
type Experiment struct {
	// Graph returns the town of a seed. It is called once per seed.
	Graph     func(seed uint64) (*Graph, error)
	Options   Options // Protocol and Seed are set per run
	Seeds     int
	FirstSeed uint64

	graphs map[uint64]*Graph
}

// Summary aggregates the runs of one protocol in one scenario.
type Summary struct {
	Protocol string
	Fail     float64
	Churn    float64
	Runs     int
	// Ratio and Limit are the means over runs of the delivery ratio and
	// of the connectivity limit; MinRatio is the worst run's ratio.
	Ratio, Limit, MinRatio float64
	// AtLimit counts the runs that delivered to every reachable receiver.
	AtLimit int
	// Latency percentiles pool the deliveries of all runs.
	LatencyP50, LatencyP90, LatencyMax time.Duration
	Delivered                          int
	DataFrames, ControlFrames          int
	// NodeMinutes sums, over the runs, the nodes up at some time of the
	// run times its minutes.
	NodeMinutes float64
}

// DataPerDelivery returns the alert transmissions per delivered receiver.
func (s Summary) DataPerDelivery() float64 {
	return float64(s.DataFrames) / float64(max(s.Delivered, 1))
}

// ControlPerNodeMinute returns the control transmissions, such as
// summaries and beacons, per minute of a node that was up at some time.
func (s Summary) ControlPerNodeMinute() float64 {
	if s.NodeMinutes == 0 {
		return 0
	}
	return float64(s.ControlFrames) / s.NodeMinutes
}

// Run runs every seed with protocol p.
func (e *Experiment) Run(p Protocol) (Summary, error) {
	if e.Seeds < 1 {
		return Summary{}, fmt.Errorf("%w: %d seeds; use at least 1", ErrInvalidOptions, e.Seeds)
	}
	results := make([]Result, 0, e.Seeds)
	for k := range e.Seeds {
		seed := e.FirstSeed + uint64(k)
		g, err := e.graph(seed)
		if err != nil {
			return Summary{}, err
		}
		opts := e.Options
		opts.Protocol, opts.Seed = p, seed
		r, err := Run(g, opts)
		if err != nil {
			return Summary{}, fmt.Errorf("town: seed %d: %w", seed, err)
		}
		results = append(results, r)
	}
	return Summarize(p.Name(), e.Options, results), nil
}

func (e *Experiment) graph(seed uint64) (*Graph, error) {
	if g, ok := e.graphs[seed]; ok {
		return g, nil
	}
	g, err := e.Graph(seed)
	if err != nil {
		return nil, err
	}
	if e.graphs == nil {
		e.graphs = map[uint64]*Graph{}
	}
	e.graphs[seed] = g
	return g, nil
}

// Sweep runs every protocol at every failed share.
func (e *Experiment) Sweep(shares []float64, protocols []Protocol) ([]Summary, error) {
	var out []Summary
	for _, share := range shares {
		for _, p := range protocols {
			run := *e
			run.Options.Fail = share
			s, err := run.Run(p)
			if err != nil {
				return out, err
			}
			e.graphs = run.graphs
			out = append(out, s)
		}
	}
	return out, nil
}

// Summarize aggregates the results of runs with the same options.
func Summarize(protocol string, opts Options, results []Result) Summary {
	s := Summary{Protocol: protocol, Fail: opts.Fail, Churn: opts.Churn, Runs: len(results), MinRatio: 1}
	var latencies []time.Duration
	for _, r := range results {
		s.Ratio += r.Ratio() / float64(len(results))
		s.Limit += r.Limit() / float64(len(results))
		s.MinRatio = min(s.MinRatio, r.Ratio())
		if r.Delivered == r.Reachable {
			s.AtLimit++
		}
		s.Delivered += r.Delivered
		s.DataFrames += r.DataFrames
		s.ControlFrames += r.ControlFrames
		s.NodeMinutes += float64(r.Nodes) * r.Duration.Minutes()
		latencies = append(latencies, r.Latencies...)
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		s.LatencyP50 = latencies[(n-1)/2]
		s.LatencyP90 = latencies[(n-1)*9/10]
		s.LatencyMax = latencies[n-1]
	}
	return s
}
