package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/job/jobsim"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/sim"
)

// simJobFlags are the flags of yui sim job beyond jobsim.Config.
type simJobFlags struct {
	nodes     string
	tiers     string
	placement string
	churnPct  float64
	addPct    float64
	verify    int
	unitTime  time.Duration
	wait      time.Duration
}

func newSimJobCommand(f *simFlags) *cobra.Command {
	var (
		jf  simJobFlags
		cfg jobsim.Config
	)
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Run a job's scheduler on simulated workers and report completion time",
		Long: `Run the manager's scheduler (job/sched) on virtual time with simulated
workers. A worker's compute speed is drawn from the --tiers mix and
measured into its tier as the daemon measures it; a unit takes about
--unit-time on a middle-tier worker, a quarter of that on an upper-tier
one and five times that on a lower-tier one, which gets no unit while a
stronger worker is in the job. Workers and data sit in location
clusters of about --nodes-per-cluster workers, and each unit's data is
held by three workers chosen by --placement. A unit waits up to
--locality-wait for a worker that holds its data or is in its cluster
before any worker may take it. Workers leave at --churn
per minute (each replaced by a new worker), and --add workers join at
--add-at or once the share --add-when of the units has committed. A departure is noticed after two seconds, as the daemon's
missed pings notice it.

For each node count of --nodes the command runs the job without added
workers and, when --add or --add-pct is set, again with them. It prints
the virtual completion time, the unit runs started and those wasted
(lost with a departed worker, or duplicate copies), and the share of
input bytes read inside their cluster. It writes the table and a plot
of completion time against node count into --out as job.csv (or .json)
and job.svg. A seed gives the same table every time.`,
		Example: `  yui sim job --nodes 10,100,1000 --units 10000
  yui sim job --nodes 100,1000,10000,100000 --units 100000 --churn-pct 10 --add-pct 50 --add-when 0.5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			counts, err := parseNodeCounts(jf.nodes)
			if err != nil {
				return err
			}
			if cfg.TierMix, err = parseTierMix(jf.tiers); err != nil {
				return err
			}
			format, err := sim.ParseFormat(f.format)
			if err != nil {
				return err
			}
			cfg.Seed, cfg.Verify, cfg.UnitTime = f.seed, jf.verify, jf.unitTime
			cfg.Placement = jobsim.Placement(jf.placement)
			cfg.LocalityWait = jf.wait
			if jf.wait <= 0 {
				cfg.LocalityWait = -1
			}
			points, err := runJobSims(cfg, jf, counts)
			if err != nil {
				return err
			}
			return writeJobSims(cmd, f, format, cfg, points)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&jf.nodes, "nodes", "10,100,1000", "comma-separated worker counts to run the job on")
	fl.IntVar(&cfg.Units, "units", 5000, "units of the job")
	fl.DurationVar(&jf.unitTime, "unit-time", time.Second, "mean run time of a unit on a middle-tier worker")
	fl.DurationVar(&cfg.Latency, "latency", 10*time.Millisecond, "one-way message delay")
	fl.Float64Var(&cfg.ChurnPerMinute, "churn", 0, "workers per minute that leave, each replaced by a new one")
	fl.Float64Var(&jf.churnPct, "churn-pct", 0, "workers per minute that leave, in percent of the node count; replaces --churn when set")
	fl.IntVar(&cfg.Add, "add", 0, "workers that join mid-job, at --add-at")
	fl.Float64Var(&jf.addPct, "add-pct", 0, "workers that join mid-job, in percent of the node count; replaces --add when set")
	fl.DurationVar(&cfg.AddAt, "add-at", 30*time.Second, "virtual time at which the added workers join")
	fl.Float64Var(&cfg.AddWhenDone, "add-when", 0, "share of the units committed, 0 to 1, at which the added workers join; replaces --add-at when above 0")
	fl.IntVar(&jf.verify, "verify", 1, "distinct workers whose results must agree per unit")
	fl.StringVar(&jf.tiers, "tiers", "20,50,30", "percent of workers with the speed of the upper, middle and lower compute tier")
	fl.IntVar(&cfg.NodesPerCluster, "nodes-per-cluster", 50, "mean workers per location cluster")
	fl.StringVar(&jf.placement, "placement", string(jobsim.PlaceAnywhere),
		"where the three replicas of a unit's data live: anywhere (as XOR placement puts them) or cluster (in the data's cluster)")
	fl.DurationVar(&jf.wait, "locality-wait", sched.DefaultLocalityWait,
		"how long a unit waits for a worker holding its data or in its cluster before any worker may take it; 0 turns the wait off")
	return cmd
}

// runJobSims runs the job on each node count, without and then with the
// added workers.
func runJobSims(cfg jobsim.Config, jf simJobFlags, counts []int) ([]jobsim.Point, error) {
	var points []jobsim.Point
	for _, n := range counts {
		c := cfg
		c.Workers = n
		if jf.churnPct > 0 {
			c.ChurnPerMinute = jf.churnPct / 100 * float64(n)
		}
		if jf.addPct > 0 {
			c.Add = int(jf.addPct / 100 * float64(n))
		}
		adds := []int{0}
		if c.Add > 0 {
			adds = append(adds, c.Add)
		}
		for _, add := range adds {
			c.Add = add
			res, err := jobsim.Run(c)
			if err != nil {
				return nil, fmt.Errorf("sim job on %d nodes: %w", n, err)
			}
			points = append(points, jobsim.Point{Workers: n, Added: add > 0, AddedWorkers: add,
				ChurnPerMinute: c.ChurnPerMinute, Result: res})
		}
	}
	return points, nil
}

// writeJobSims prints the table and writes it with its plot into --out.
func writeJobSims(cmd *cobra.Command, f *simFlags, format sim.Format, cfg jobsim.Config, points []jobsim.Point) error {
	t := sim.NewTable("job", fmt.Sprintf("Simulated job of %d units, placement %s, seed %d", cfg.Units, cfg.Placement, cfg.Seed),
		"NODES", "ADDED", "CHURN/MIN", "COMPLETION", "RUNS", "WASTED", "LEFT", "JOINED", "FAILED",
		"IN-CLUSTER%", "HELD%", "UPPER/MIDDLE/LOWER")
	for _, p := range points {
		r := p.Result
		t.Add(strconv.Itoa(p.Workers), strconv.Itoa(p.AddedWorkers), strconv.FormatFloat(p.ChurnPerMinute, 'f', 1, 64),
			r.Completion.Round(time.Millisecond).String(), strconv.Itoa(r.Runs), strconv.Itoa(r.Wasted),
			strconv.Itoa(r.Left), strconv.Itoa(r.Joined), strconv.Itoa(r.Failed),
			strconv.FormatFloat(100*r.Locality.Share(), 'f', 1, 64), heldPercent(r),
			fmt.Sprintf("%d/%d/%d", r.Tiers[0], r.Tiers[1], r.Tiers[2]))
	}
	out := cmd.OutOrStdout()
	if err := t.WriteText(out); err != nil {
		return err
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	tablePath := filepath.Join(f.out, "job."+string(format))
	if err := t.WriteFile(tablePath, format); err != nil {
		return err
	}
	plotPath := filepath.Join(f.out, "job.svg")
	if err := jobsim.Plot(plotPath, t.Title, points); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s and %s\n", tablePath, plotPath)
	return nil
}

func heldPercent(r jobsim.Result) string {
	total := r.Locality.Total()
	if total == 0 {
		return "0.0"
	}
	return strconv.FormatFloat(100*float64(r.Locality.Held)/float64(total), 'f', 1, 64)
}

func parseNodeCounts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("invalid --nodes %q: want worker counts of 1 or more, such as 10,100,1000", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseTierMix reads "U,M,L" percentages.
func parseTierMix(s string) ([3]float64, error) {
	var mix [3]float64
	parts := strings.Split(s, ",")
	bad := fmt.Errorf("invalid --tiers %q: want three percentages for the upper, middle and lower tier, such as 20,50,30", s)
	if len(parts) != 3 {
		return mix, bad
	}
	sum := 0.0
	for i, part := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || !(v >= 0 && v <= 100) {
			return mix, bad
		}
		mix[i] = v / 100
		sum += v
	}
	if sum == 0 {
		return mix, bad
	}
	return mix, nil
}
