package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/storage/seal"
)

// jobPollEvery is how often 'yui job run' asks for progress.
const jobPollEvery = 500 * time.Millisecond

func newJobCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Run aggregations over a namespace's readings on many nodes",
		Long: `Run a job: the node you submit to cuts the matching stored segments into
units, a manager node hands them to worker nodes, each worker reads and
decrypts its units' segments and returns partial aggregates, and the
manager merges them, each unit exactly once. A backup node takes over if
the manager is lost.

Workers read the segments as their own node's "default" user (or the
user --reader names), so the namespace's owner must first grant that
user read access on every worker node: 'yui grant NS "" USER read --keys FILE'.

With --encrypted, the node you submit to encrypts the segments' sums under
your BGV key and workers read only those ciphertexts, so their users need
read access to the prefix "he/" alone: 'yui grant NS he/ USER read --keys FILE'.
After 'yui job seal NS', every later write to NS also stores each segment's
sums as a ciphertext, and encrypted jobs add those without reading any
plaintext, not even on the node you submit to.`,
	}
	cmd.AddCommand(newJobRunCommand(g), newJobStatusCommand(g), newJobLsCommand(g), newJobCancelCommand(g), newJobSealCommand(g))
	return cmd
}

type jobRunFlags struct {
	q        queryFlags
	agg      string
	by       string
	verify   int
	per      int
	reader   string
	wasm     string
	wasmArgs []string
	sealed   bool
	scale    int64
	hists    []string
	cellSize float64
	detach   bool
	asJSON   bool
	asCSV    bool
	deadline time.Duration
}

func newJobRunCommand(g *globalFlags) *cobra.Command {
	var f jobRunFlags
	cmd := &cobra.Command{
		Use:   "run NAMESPACE",
		Short: "Submit a job and wait for its result",
		Example: `  yui job run lab --agg count,mean --by sensor,hour
  yui job run lab --sensor 12 --from 2006-11-13 --to 2006-11-14 --agg min,max --verify 2
  yui job run air --agg count,mean,p50,p99 --histogram T=-10,0,10,20,30,40 --by day
  yui job run lab --agg count,mean --by cell,hour --cell-size 5
  yui job run lab --agg count,mean --by sensor,hour --encrypted --reader jobs`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("job run", "NAMESPACE", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJob(cmd, g, &f, args[0])
		},
	}
	f.q.sf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.q.sensor, "sensor", "", "keep readings of this source id")
	fl.StringVar(&f.q.from, "from", "", "keep readings at or after this time (RFC 3339 or date)")
	fl.StringVar(&f.q.to, "to", "", "keep readings before this time (RFC 3339 or date)")
	fl.StringArrayVar(&f.q.where, "where", nil, "keep readings whose field matches, such as temp>=20 (repeatable)")
	fl.StringVar(&f.agg, "agg", "count,mean", "aggregates to compute: a list of count, sum, min, max, mean, histogram and percentiles "+
		"such as p50 or p99.9 (nearest rank: the value of rank ceil(p/100 × count))")
	fl.StringVar(&f.by, "by", "", "group by a list of sensor, cell, and hour or day, such as sensor,hour or cell,day (default: one group)")
	fl.StringArrayVar(&f.hists, "histogram", nil, "bucket edges of the histogram aggregate, increasing: E1,E2,... for every numeric field or "+
		"FIELD=E1,E2,... for one (repeatable; adds histogram to --agg)")
	fl.Float64Var(&f.cellSize, "cell-size", 0, "side of a location cell for --by cell, in degrees for geo locations and metres for plane ones "+
		"(0 means 0.01 degrees and 10 metres)")
	fl.IntVar(&f.verify, "verify", 1, "run each unit on this many workers, 1 to 5, and keep it only when their results agree")
	fl.IntVar(&f.per, "segments-per-unit", 0, "stored segments (each at most an hour of one sensor) per unit (0 means the node's default, 4); "+
		"the segments of one sensor's hour stay in one unit")
	fl.StringVar(&f.reader, "reader", "", `user each worker node reads the segments as (default "default")`)
	fl.StringVar(&f.wasm, "wasm", "", "WebAssembly (WASI preview 1) map or filter step to run on each unit's readings; see docs/jobs.md")
	fl.StringArrayVar(&f.wasmArgs, "wasm-arg", nil, "argument of the --wasm step (repeatable)")
	fl.BoolVar(&f.sealed, "encrypted", false, "run over BGV ciphertexts so workers add values they cannot read (count, sum and mean); see docs/jobs.md")
	fl.Int64Var(&f.scale, "scale", 0, "fixed-point scale of --encrypted values: 100 keeps two decimals (0 means 100)")
	fl.BoolVar(&f.detach, "detach", false, "print the job's ID and return at once")
	fl.BoolVar(&f.asJSON, "json", false, "print the node's JSON result")
	fl.BoolVar(&f.asCSV, "csv", false, "print comma-separated values with a header line")
	fl.DurationVar(&f.deadline, "timeout", 30*time.Minute, "give up waiting after this long; the job keeps running")
	return cmd
}

func runJob(cmd *cobra.Command, g *globalFlags, f *jobRunFlags, namespace string) error {
	if err := seal.ValidateNamespace(namespace); err != nil {
		return err
	}
	if f.asJSON && f.asCSV {
		return fmt.Errorf("--json and --csv exclude each other; pick one")
	}
	q, err := f.q.request()
	if err != nil {
		return err
	}
	if err := checkJobNumbers(f.verify, f.per); err != nil {
		return err
	}
	grouping, err := job.ParseBy(f.by)
	if err != nil {
		return fmt.Errorf("invalid --by: %w", err)
	}
	if f.cellSize != 0 && !grouping.PerCell {
		return fmt.Errorf("--cell-size %v needs --by cell, such as --by cell or --by cell,hour", f.cellSize)
	}
	req := api.JobRequest{Query: q, By: f.by, Verify: f.verify, SegmentsPerUnit: f.per, Reader: f.reader,
		Encrypted: f.sealed, Scale: f.scale, CellSize: f.cellSize}
	if f.scale != 0 && !f.sealed {
		return fmt.Errorf("--scale needs --encrypted")
	}
	// The node rejects this pair too, but only after the CLI has stored
	// the module in the namespace.
	if f.sealed && f.wasm != "" {
		return fmt.Errorf("--encrypted cannot run a --wasm step, because workers never see the readings; drop one of them")
	}
	if req.Aggregates, err = parseAggregates(f.agg); err != nil {
		return err
	}
	for _, arg := range f.hists {
		h, err := parseHistogram(arg)
		if err != nil {
			return err
		}
		req.Histograms = append(req.Histograms, h)
	}
	if len(req.Histograms) > 0 && !slices.Contains(req.Aggregates, "histogram") {
		req.Aggregates = append(req.Aggregates, "histogram")
	}
	client, err := api.FindNode(g.dataDir)
	if err != nil {
		return err
	}
	// --timeout bounds the wait for the result, not the submission: a
	// job submitted keeps running whatever the client does.
	ctx := contextOrBackground(cmd.Context())
	if f.wasm != "" {
		if req.Module, err = uploadModule(ctx, client, f.q.sf.user, namespace, f.wasm); err != nil {
			return err
		}
		req.ModuleArgs = f.wasmArgs
	} else if len(f.wasmArgs) > 0 {
		return fmt.Errorf("--wasm-arg needs --wasm")
	}
	info, err := client.SubmitJob(ctx, f.q.sf.user, namespace, req)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if f.detach {
		fmt.Fprintln(w, info.ID)
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "job %s: manager %s, backup %s\n", info.ID, info.Manager, info.Backup)
	waitCtx, cancel := context.WithTimeout(ctx, f.deadline)
	defer cancel()
	st, err := waitJob(waitCtx, client, info.ID, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	// Standard error, like the progress, so that --csv output stays a
	// table.
	if line := localityLine(st.Locality); line != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), line)
	}
	return printJobResult(w, cmd.ErrOrStderr(), st, namespace, req.Aggregates, f.asJSON, f.asCSV)
}

// uploadModule stores a job's WebAssembly step in the namespace, where
// the workers read it, under a key named after its content.
func uploadModule(ctx context.Context, client *api.Client, user, namespace, path string) (string, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read --wasm: %w", err)
	}
	if !isWasm(wasm) {
		return "", fmt.Errorf("--wasm %s is not a WebAssembly module (no \\0asm version 1 header); build one with GOOS=wasip1 GOARCH=wasm go build", path)
	}
	sum := sha256.Sum256(wasm)
	key := "jobs/modules/" + hex.EncodeToString(sum[:16]) + ".wasm"
	if _, err := client.PutRecord(ctx, user, namespace, key, bytes.NewReader(wasm), int64(len(wasm)), "application/wasm"); err != nil {
		return "", fmt.Errorf("store --wasm %s as %s/%s: %w", path, namespace, key, err)
	}
	return key, nil
}

// isWasm reports whether b starts like a WebAssembly binary module: the
// magic bytes \0asm and version 1. Checking here fails a job at once that
// every worker would otherwise retry and reject.
func isWasm(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00})
}

// waitJob polls a job until it ends, printing a progress line to w each
// time it changes.
func waitJob(ctx context.Context, client *api.Client, id string, w io.Writer) (*api.JobStatus, error) {
	var last string
	for {
		st, err := client.Job(ctx, id)
		if err == nil {
			line := progressLine(st)
			if line != last {
				fmt.Fprintln(w, line)
				last = line
			}
			if st.Done || st.Canceled {
				return st, nil
			}
		} else if ctx.Err() == nil {
			// Say once why no progress comes, such as a node that stopped;
			// the job itself runs on without it.
			line := fmt.Sprintf("status not available, retrying: %v", err)
			if line != last {
				fmt.Fprintln(w, line)
				last = line
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("job %s still runs; check it with 'yui job status %s': %w", id, id, ctx.Err())
		case <-time.After(jobPollEvery):
		}
	}
}

func progressLine(st *api.JobStatus) string {
	state := "running"
	switch {
	case st.Canceled:
		state = "canceled"
	case st.Done:
		state = "done"
	}
	line := fmt.Sprintf("%s: %d/%d units done, %s working, epoch %d", state, st.Committed, st.Units, counted(st.Workers, "node"), st.Epoch)
	if st.Failed > 0 {
		line += fmt.Sprintf(", %d failed", st.Failed)
	}
	if st.LeftOut > 0 {
		line += fmt.Sprintf(", %s left out", counted(st.LeftOut, "node"))
	}
	if st.LeftOut > 0 && st.Workers == 0 && !st.Done && !st.Canceled && st.LeftOutError != "" {
		// The job waits for a worker that can read its data, such as
		// one that restarts or gets a grant, so the line shows the
		// last error meanwhile.
		line += "; no node can run units, the last error: " + st.LeftOutError
	}
	return line
}

// printJobResult prints a job's result on out and its warnings on
// errOut, so that --csv output stays a table. namespace names the job's
// namespace in the grant hint, or is empty when unknown. It returns an
// error after printing when units failed, so that the exit status marks
// the result as incomplete.
func printJobResult(out, errOut io.Writer, st *api.JobStatus, namespace string, aggs []string, asJSON, asCSV bool) error {
	var err error
	if asJSON {
		err = printJSON(out, st)
	} else {
		err = printJobText(out, errOut, st, namespace, aggs, asCSV)
	}
	if err == nil && st.Failed > 0 {
		err = fmt.Errorf("job %s is incomplete: %d of %d units failed, so the result leaves their readings out", st.ID, st.Failed, st.Units)
		if st.FailedError != "" {
			err = fmt.Errorf("%w; %s", err, st.FailedError)
		}
	}
	return err
}

func printJobText(out, errOut io.Writer, st *api.JobStatus, namespace string, aggs []string, asCSV bool) error {
	if st.Error != "" {
		fmt.Fprintf(errOut, "warning: %s\n", st.Error)
	}
	if st.LeftOut > 0 {
		fmt.Fprintf(errOut, "warning: %s left out of the job for failing units in a row; the last error: %s\n", counted(st.LeftOut, "worker"), st.LeftOutError)
		if strings.Contains(st.LeftOutError, "permission denied") {
			fmt.Fprintf(errOut, "  the job's reader needs read access on every worker node: %s (see yui job --help);\n"+
				"  if you granted it and 'yui grant' did not report it done, run the grant again: it re-wraps only what the reader cannot read yet\n",
				grantHint(namespace, st.LeftOutError))
		}
	}
	return printGroups(out, st.Groups, aggs, asCSV)
}

// grantHint returns the grant command that gives a job's reader access,
// for the namespace or "NS" when it is unknown. A worker that failed to
// read a ciphertext under "he/" runs an encrypted job, whose reader needs
// that prefix alone.
func grantHint(namespace, workerErr string) string {
	if namespace == "" {
		namespace = "NS"
	}
	prefix := `""`
	if strings.Contains(workerErr, `read ciphertext "he/`) {
		prefix = "he/"
	}
	return fmt.Sprintf("yui grant %s %s USER read --keys FILE", namespace, prefix)
}

func newJobStatusCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Print a job's progress, and its result once done",
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("job status", "ID", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.FindNode(g.dataDir)
			if err != nil {
				return err
			}
			st, err := client.Job(contextOrBackground(cmd.Context()), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, st)
			}
			fmt.Fprintln(w, progressLine(st))
			if line := localityLine(st.Locality); line != "" {
				fmt.Fprintln(w, line)
			}
			if st.Done {
				return printJobResult(w, cmd.ErrOrStderr(), st, "", resultAggregates(st.Groups), false, false)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the node's JSON result")
	return cmd
}

func newJobLsCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the jobs submitted through this node",
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("job ls", "", 0, 0, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.FindNode(g.dataDir)
			if err != nil {
				return err
			}
			jobs, incomplete, err := client.JobList(contextOrBackground(cmd.Context()))
			if err != nil {
				return err
			}
			if incomplete != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s; run 'yui job ls' again once 'yui status' shows peers\n", incomplete)
			}
			if asJSON {
				if jobs == nil {
					jobs = []api.JobInfo{}
				}
				return printJSON(cmd.OutOrStdout(), jobs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAMESPACE\tUSER\tSTATE\tCREATED\tMANAGER\tBACKUP")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Namespace, j.User, j.State,
					j.Created.UTC().Format(time.RFC3339), j.Manager, j.Backup)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newJobCancelCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Stop a job",
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("job cancel", "ID", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.FindNode(g.dataDir)
			if err != nil {
				return err
			}
			st, err := client.CancelJob(contextOrBackground(cmd.Context()), args[0])
			if err != nil {
				return err
			}
			if st.Done && !st.Canceled {
				fmt.Fprintf(cmd.OutOrStdout(), "job %s had already finished, so nothing was canceled; 'yui job status %s' shows its result\n", args[0], args[0])
			}
			fmt.Fprintln(cmd.OutOrStdout(), progressLine(st))
			return nil
		},
	}
}

func newJobSealCommand(g *globalFlags) *cobra.Command {
	var (
		sf     storeFlags
		req    api.SealRequest
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "seal NAMESPACE",
		Short: "Store numeric fields also as BGV ciphertexts at ingest, for encrypted jobs",
		Long: `Seal a namespace: from now on, every write to it also stores each segment's
reading count and per-field sums as one BGV ciphertext under your BGV public
key (created and published at he/keys/USER if missing). 'yui job run NS
--encrypted' then adds those ciphertexts on workers and never reads a
plaintext segment; only the node holding your BGV key decrypts the result.

Values are stored in fixed point, round(value × scale). A write with a value
that the scale does not hold exactly, or whose magnitude exceeds --max, is
rejected as a whole and nothing of it is stored. Readings written before
sealing have no ciphertexts, and an encrypted job that selects them fails.
Scale and max cannot change later; seal another namespace for other values.`,
		Example: `  yui job seal lab
  yui job seal lab --scale 1000 --max 100000`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("job seal", "NAMESPACE", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := seal.ValidateNamespace(args[0]); err != nil {
				return err
			}
			// Over HTTP 0 leaves the node's default, but the flags have
			// defaults of their own, so a 0 here was typed.
			if req.Scale < 1 || req.Scale > he.MaxScale {
				return fmt.Errorf("invalid --scale %d: use 1 to %d, such as 100 to keep two decimals", req.Scale, he.MaxScale)
			}
			if req.Max < 1 || req.Max > he.MaxBound {
				return fmt.Errorf("invalid --max %d: use 1 to %d, the largest magnitude a value may have", req.Max, he.MaxBound)
			}
			client, err := api.FindNode(g.dataDir)
			if err != nil {
				return err
			}
			info, err := client.SealNamespace(contextOrBackground(cmd.Context()), sf.user, args[0], req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sealed %s for %s: scale %d, values up to ±%d\n", info.Namespace, info.Owner, info.Scale, info.Max)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().Int64Var(&req.Scale, "scale", 100, "fixed-point scale: values are stored as round(value × scale), so 100 keeps two decimals")
	cmd.Flags().Int64Var(&req.Max, "max", 10000, "largest magnitude a value may have, in the values' unit; larger ones are rejected at ingest")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
