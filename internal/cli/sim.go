package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/sim"
)

// rttFileName is the PlanetLab RTT matrix the simulator looks for when
// --rtt is not given.
const rttFileName = "planetlab-490-rtt-ms.tsv"

// simFlags are the flags every sim scenario takes.
type simFlags struct {
	seed         uint64
	out          string
	format       string
	rtt          string
	k            int
	replacements int
	lanSize      int
	joinRate     float64
	loss         float64
	codec        bool
	cpuProfile   string
	memProfile   string
	decideEarly  bool
}

func newSimCommand() *cobra.Command {
	f := &simFlags{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the protocol on a simulated network of up to a million nodes",
		Long: `Run Yui's own routing code on a simulated network with virtual time.
Every node runs the same state machine as 'yui node'; only the network
is simulated, with link delays from measured PlanetLab round-trip times,
broadcast domains, message loss and churn. A run with the same flags and
--seed writes byte-identical tables.

Each scenario prints its tables and writes them, with SVG plots, into
--out. The *-perf tables hold wall time and memory, which vary between
runs. The simulated addresses (127.x.y.z) are never used on a socket.`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.Uint64Var(&f.seed, "seed", 1, "seed of every random choice of the run")
	pf.StringVar(&f.out, "out", "sim-out", "folder for tables and plots")
	pf.StringVar(&f.format, "format", "csv", "table file format: csv or json")
	pf.StringVar(&f.rtt, "rtt", "", "RTT matrix file (ms, tab-separated); default: "+rttFileName+" under shared/data/latency of this or a parent folder")
	pf.IntVar(&f.k, "k", 20, "Kademlia bucket size K of every node")
	pf.IntVar(&f.replacements, "replacements", 2, "replacement cache entries per bucket, kept small to save memory")
	pf.IntVar(&f.lanSize, "lan-size", 16, "nodes per broadcast domain")
	pf.Float64Var(&f.joinRate, "join-rate", 10_000, "nodes that start per simulated second while the network is built")
	pf.Float64Var(&f.loss, "loss", 0, "probability that a message is lost, at least 0 and below 1")
	pf.BoolVar(&f.codec, "codec", false, "encode and decode every message (exact bytes, several times slower)")
	pf.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file, and of a long run one more every 15 minutes to FILE.2, FILE.3 and so on")
	pf.StringVar(&f.memProfile, "memprofile", "", "write a heap profile at the end of the run to this file")

	cmd.AddCommand(newSimBuildCommand(f), newSimMaintenanceCommand(f), newSimLookupCommand(f),
		newSimTownCommand(f), newSimJobCommand(f))
	return cmd
}

func newSimBuildCommand(f *simFlags) *cobra.Command {
	var (
		nodes, probes int
		mode          string
		interval      time.Duration
		timeout       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Join nodes to an empty network and measure the time to converge",
		Long: `Start --nodes nodes at --join-rate per simulated second, filling one
broadcast domain of --lan-size after another; each node meets its LAN
neighbours and gets one random earlier node outside its LAN as a
bootstrap contact. From the last join on, every --probe-interval a check
runs --probes lookups for random keys from random nodes. The network has
converged when 99% of a check's lookups return the true closest node,
found by brute force over the nodes that have joined the global DHT (a
closer node still joining counts too).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := sim.ParseMode(mode)
			if err != nil {
				return err
			}
			planned := time.Duration(float64(nodes)/f.joinRate*float64(time.Second)) + 2*time.Second
			bar := newSimProgress(planned)
			opts := sim.BuildOptions{
				Nodes: nodes, LANSize: f.lanSize, JoinRate: f.joinRate,
				Probes: probes, ProbeInterval: interval, Timeout: timeout,
				CheckDecided: bar.checkDecided, DecideEarly: f.decideEarly,
			}
			return f.run(cmd, bar, func(progress func(*sim.Network)) (sim.Report, error) {
				n, err := f.network(m)
				if err != nil {
					return sim.Report{}, err
				}
				progress(n)
				perf := sim.StartPerf()
				perf.Watch(n)
				res, err := sim.Build(n, opts)
				perf.Stop()
				if err != nil {
					return sim.Report{}, err
				}
				return sim.BuildReport(res, n.Config().Kademlia.K, perf), nil
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nodes, "nodes", 1000, "number of nodes")
	fl.StringVar(&mode, "mode", "flat", "protocol: flat (one Kademlia DHT) or hier (groups and representatives)")
	fl.IntVar(&probes, "probes", 1000, "lookups per convergence check")
	fl.DurationVar(&interval, "probe-interval", 250*time.Millisecond, "simulated time between convergence checks")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "simulated time after the last join to wait for convergence")
	addDecideEarlyFlag(fl, f)
	return cmd
}

func newSimMaintenanceCommand(f *simFlags) *cobra.Command {
	var (
		nodes, probes   int
		mode            string
		warmup, window  time.Duration
		shape, graceful float64
		halfLife        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Measure maintenance traffic and lookups under churn",
		Long: `Build a network of --nodes nodes, then keep it under churn: sessions
last a Weibull-distributed time (shape --churn-shape, scale set so that
half the nodes online at a moment have left --churn-half-life later),
and new nodes arrive as a Poisson process that keeps --nodes online on
average. After --warmup, measure for --window the messages and bytes per
node-minute by type, and the success and latency of --probes lookups.
With --mode both, the flat and hierarchical protocols run on the same
seed and churn, side by side.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			modes, err := parseModes(mode)
			if err != nil {
				return err
			}
			churn, err := sim.ChurnWithHalfLife(shape, halfLife)
			if err != nil {
				return err
			}
			opts := sim.MaintenanceOptions{
				Build: sim.BuildOptions{Nodes: nodes, LANSize: f.lanSize, JoinRate: f.joinRate},
				Churn: churn, Graceful: graceful, Warmup: warmup, Window: window, Probes: probes,
			}
			planned := time.Duration(len(modes)) * (time.Duration(float64(nodes)/f.joinRate*float64(time.Second)) + warmup + window)
			return f.run(cmd, newSimProgress(planned), func(progress func(*sim.Network)) (sim.Report, error) {
				var (
					runs  []sim.MaintenanceResult
					perfs []*sim.Perf
				)
				for _, m := range modes {
					n, err := f.network(m)
					if err != nil {
						return sim.Report{}, err
					}
					progress(n)
					perf := sim.StartPerf()
					perf.Watch(n)
					res, err := sim.Maintenance(n, opts)
					perf.Stop()
					if err != nil {
						return sim.Report{}, err
					}
					runs, perfs = append(runs, res), append(perfs, perf)
				}
				return sim.MaintenanceReport(runs, perfs), nil
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nodes, "nodes", 1000, "number of nodes online on average")
	fl.StringVar(&mode, "mode", "flat", "protocol: flat, hier or both")
	fl.DurationVar(&warmup, "warmup", 15*time.Minute, "simulated time of churn before the measurement")
	fl.DurationVar(&window, "window", 30*time.Minute, "simulated time measured")
	fl.Float64Var(&shape, "churn-shape", 0.5, "Weibull shape of session lengths")
	fl.DurationVar(&halfLife, "churn-half-life", 2*time.Hour, "time by which half the nodes online at a moment have left")
	fl.Float64Var(&graceful, "graceful", 0, "share of departures that send Leave messages; the rest fall silent")
	fl.IntVar(&probes, "probes", 1000, "lookups spread over the window")
	return cmd
}

func newSimLookupCommand(f *simFlags) *cobra.Command {
	var (
		nodes, lookups int
		mode           string
	)
	cmd := &cobra.Command{
		Use:   "lookup",
		Short: "Measure lookup hop counts and latency on a converged network",
		Long: `Build a network as 'yui sim build' does, wait until it converges, then
run --lookups lookups for random keys from random nodes, 100 every 100
ms of simulated time, and report the distributions of their hop counts
and latencies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := sim.ParseMode(mode)
			if err != nil {
				return err
			}
			planned := time.Duration(float64(nodes)/f.joinRate*float64(time.Second)) +
				time.Duration(lookups/100)*100*time.Millisecond + 5*time.Second
			bar := newSimProgress(planned)
			opts := sim.LookupOptions{
				Build: sim.BuildOptions{
					Nodes: nodes, LANSize: f.lanSize, JoinRate: f.joinRate,
					CheckDecided: bar.checkDecided, DecideEarly: f.decideEarly,
				},
				Lookups: lookups,
			}
			return f.run(cmd, bar, func(progress func(*sim.Network)) (sim.Report, error) {
				n, err := f.network(m)
				if err != nil {
					return sim.Report{}, err
				}
				progress(n)
				perf := sim.StartPerf()
				perf.Watch(n)
				res, err := sim.Lookups(n, opts)
				perf.Stop()
				if err != nil {
					return sim.Report{}, err
				}
				return sim.LookupReport(res, n.Config().Kademlia.K, perf), nil
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nodes, "nodes", 1000, "number of nodes")
	fl.IntVar(&lookups, "lookups", 10_000, "number of lookups measured")
	fl.StringVar(&mode, "mode", "flat", "protocol: flat or hier")
	addDecideEarlyFlag(fl, f)
	return cmd
}

// addDecideEarlyFlag adds --decide-early to a command that builds a
// network and waits for it to converge.
func addDecideEarlyFlag(fl *pflag.FlagSet, f *simFlags) {
	fl.BoolVar(&f.decideEarly, "decide-early", true,
		"decide a convergence check once its running lookups cannot change the outcome, instead of waiting for the slowest")
}

// parseModes parses flat, hier or both.
func parseModes(s string) ([]sim.Mode, error) {
	if s == "both" {
		return []sim.Mode{sim.Flat, sim.Hier}, nil
	}
	m, err := sim.ParseMode(s)
	if err != nil {
		return nil, fmt.Errorf("%w, or both", err)
	}
	return []sim.Mode{m}, nil
}

// network builds an empty simulated network from the flags.
func (f *simFlags) network(mode sim.Mode) (*sim.Network, error) {
	path, err := f.rttPath()
	if err != nil {
		return nil, err
	}
	m, err := sim.LoadRTT(path)
	if err != nil {
		return nil, err
	}
	return sim.NewNetwork(sim.Config{
		Seed:     f.seed,
		Mode:     mode,
		Kademlia: kademlia.Config{K: f.k, ReplacementCache: f.replacements},
		Links:    sim.NewLinks(m, sim.LinkOptions{}),
		Loss:     f.loss,
		Codec:    f.codec,
	})
}

// errNoRTT reports that no RTT matrix was found.
var errNoRTT = errors.New("no RTT matrix found")

// rttPath returns --rtt, or the PlanetLab matrix under shared/data/latency
// in the working folder or one of its parents.
func (f *simFlags) rttPath() (string, error) {
	if f.rtt != "" {
		return f.rtt, nil
	}
	path, err := findShared(filepath.Join("latency", rttFileName))
	if err != nil {
		return "", fmt.Errorf("%w: %v; pass --rtt FILE", errNoRTT, err)
	}
	return path, nil
}

// run runs a scenario with profiling, progress reports on stderr and the
// memory limit set, then writes its report.
func (f *simFlags) run(cmd *cobra.Command, bar *simProgress, scenario func(progress func(*sim.Network)) (sim.Report, error)) error {
	format, err := sim.ParseFormat(f.format)
	if err != nil {
		return err
	}
	setMemoryLimit()
	stopProfile, err := f.startCPUProfile()
	if err != nil {
		return err
	}

	rep, err := scenario(bar.attach)
	bar.finish()
	stopProfile()
	if err != nil {
		return err
	}
	if err := f.writeHeapProfile(); err != nil {
		return err
	}

	out := cmd.OutOrStdout()
	paths, err := rep.Write(f.out, format, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %d files to %s\n", len(paths), f.out)
	return nil
}

// setMemoryLimit makes the garbage collector keep the heap within 90% of
// the machine's memory, unless GOMEMLIMIT sets a limit already. A large run
// holds most of its heap live, and the default rule of collecting when the
// heap doubles would exceed the machine's memory long before the live
// heap does.
func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if total := memTotal(); total > 0 {
		debug.SetMemoryLimit(int64(total / 10 * 9))
	}
}

// cpuProfileSegment is the wall time one CPU profile file covers. A run
// of hours writes its profile in parts, FILE, FILE.2, FILE.3 and so on,
// so that a run stopped before its end still leaves a profile of most of
// it. `go tool pprof FILE FILE.2 …` merges them.
const cpuProfileSegment = 15 * time.Minute

func (f *simFlags) startCPUProfile() (stop func(), err error) {
	if f.cpuProfile == "" {
		return func() {}, nil
	}
	var file *os.File
	start := func(part int) error {
		name := f.cpuProfile
		if part > 1 {
			name = fmt.Sprintf("%s.%d", f.cpuProfile, part)
		}
		var err error
		if file, err = os.Create(name); err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(file); err != nil {
			file.Close()
			return fmt.Errorf("start CPU profile: %w", err)
		}
		return nil
	}
	if err := start(1); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		ticker := time.NewTicker(cpuProfileSegment)
		defer ticker.Stop()
		for part := 2; ; part++ {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			mu.Lock()
			pprof.StopCPUProfile()
			file.Close()
			if err := start(part); err != nil {
				fmt.Fprintln(os.Stderr, err)
				file = nil
				mu.Unlock()
				return
			}
			mu.Unlock()
		}
	}()
	return func() {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		if file != nil {
			pprof.StopCPUProfile()
			file.Close()
		}
	}, nil
}

func (f *simFlags) writeHeapProfile() error {
	if f.memProfile == "" {
		return nil
	}
	file, err := os.Create(f.memProfile)
	if err != nil {
		return fmt.Errorf("create heap profile: %w", err)
	}
	defer file.Close()
	if err := pprof.WriteHeapProfile(file); err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	return nil
}

// simProgress shows the simulated time of a run on stderr: as a bar
// while stderr is a terminal, and otherwise as a line every
// progressLogEvery of wall time, for runs whose stderr goes to a file.
type simProgress struct {
	bar     *progressbar.ProgressBar // nil when stderr is no terminal
	planned int64                    // milliseconds
	offset  int64                    // milliseconds done by earlier networks of the run
	last    int64
	started time.Time
	logged  time.Time
	stats   *sim.Stats
}

// progressLogEvery is the wall time between two progress lines when
// stderr is no terminal.
const progressLogEvery = time.Minute

func newSimProgress(planned time.Duration) *simProgress {
	p := &simProgress{planned: max(planned.Milliseconds(), 1), started: time.Now()}
	p.logged = p.started
	if !isTerminal(os.Stderr) {
		return p
	}
	p.bar = progressbar.NewOptions64(p.planned,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("simulated ms"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return p
}

// attach reports the progress of network n, which follows the networks
// attached before it.
func (p *simProgress) attach(n *sim.Network) {
	p.offset = p.last
	p.stats = n.Stats()
	n.Progress = func(now time.Duration) {
		p.last = p.offset + now.Milliseconds()
		if p.bar != nil {
			// The planned time is an estimate, so the bar stays short of
			// the end until the run really ends.
			_ = p.bar.Set64(min(p.last, p.planned-1))
			return
		}
		if t := time.Now(); t.Sub(p.logged) >= progressLogEvery {
			p.logged = t
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(os.Stderr, "%s wall %v: simulated %.3f s, %d events, %d queued, heap %d MiB\n",
				t.UTC().Format(time.TimeOnly), t.Sub(p.started).Round(time.Second), float64(p.last)/1000,
				p.stats.Events, n.Queued(), ms.HeapAlloc>>20)
		}
	}
}

// checkDecided reports a convergence check whose verdict is known.
func (p *simProgress) checkDecided(c sim.Check, now time.Duration) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	t := time.Now()
	fmt.Fprintf(os.Stderr, "%s wall %v: check at %.3f s decided at %.3f s: %d of %d lookups correct (%.2f%%), %d ended, %d correct counting joining nodes\n",
		t.UTC().Format(time.TimeOnly), t.Sub(p.started).Round(time.Second), c.At.Seconds(), now.Seconds(),
		c.Correct, c.Lookups, 100*c.Success(), c.Ended, c.CorrectWithJoining)
}

func (p *simProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// isTerminal reports whether f is a character device, such as a terminal.
func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// memTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kib uint64
	if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err != nil {
		return 0
	}
	return kib << 10
}
