package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/job/jobsim"
)

func newSimJobCommand(f *simFlags) *cobra.Command {
	var (
		nodes    string
		cfg      jobsim.Config
		verify   int
		unitTime time.Duration
	)
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Run a job's scheduler on simulated workers and report completion time",
		Long: `Run the manager's scheduler (job/sched) on virtual time with simulated
workers that take about --unit-time per unit, leave at --churn per minute
(each replaced by a new worker), and grow by --add workers at --add-at.
A worker's departure is noticed after two seconds, as the daemon's missed
pings notice it. For each node count of --nodes the command prints the
virtual completion time, the unit runs started and those wasted (lost
with a departed worker, or duplicate copies).`,
		Example: `  yui sim job --nodes 10,100,1000 --units 10000
  yui sim job --nodes 100 --units 5000 --churn 20 --add 50 --add-at 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			counts, err := parseNodeCounts(nodes)
			if err != nil {
				return err
			}
			cfg.Seed, cfg.Verify, cfg.UnitTime = f.seed, verify, unitTime
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NODES\tUNITS\tCOMPLETION\tRUNS\tWASTED\tLEFT\tJOINED\tFAILED")
			for _, n := range counts {
				c := cfg
				c.Workers = n
				res, err := jobsim.Run(c)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "%d\t%d\t%v\t%d\t%d\t%d\t%d\t%d\n", n, c.Units, res.Completion.Round(time.Millisecond),
					res.Runs, res.Wasted, res.Left, res.Joined, res.Failed)
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&nodes, "nodes", "10,100,1000", "comma-separated worker counts to run the job on")
	fl.IntVar(&cfg.Units, "units", 5000, "units of the job")
	fl.DurationVar(&unitTime, "unit-time", time.Second, "mean run time of a unit")
	fl.DurationVar(&cfg.Latency, "latency", 10*time.Millisecond, "one-way message delay")
	fl.Float64Var(&cfg.ChurnPerMinute, "churn", 0, "workers per minute that leave, each replaced by a new one")
	fl.IntVar(&cfg.Add, "add", 0, "workers that join mid-job, at --add-at")
	fl.DurationVar(&cfg.AddAt, "add-at", 30*time.Second, "virtual time at which the --add workers join")
	fl.IntVar(&verify, "verify", 1, "distinct workers whose results must agree per unit")
	return cmd
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
