package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
)

// progressThreshold is the transfer size from which a progress bar is
// shown, when stderr is a terminal.
const progressThreshold = 1 << 20

// listTimeout bounds a list or batch write, which may touch every
// directory shard of a namespace.
const listTimeout = 5 * time.Minute

// Batch requests that 'yui put --batch' sends stay below these, so that
// one request does not hold a node's memory for long.
const (
	batchRequestBytes   = 8 << 20
	batchRequestRecords = api.MaxBatchRecords
)

// storeFlags are the flags every store command takes.
type storeFlags struct {
	user string
}

func (s *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.user, "user", api.DefaultUser, "local user the command runs as (env YUI_USER)")
}

func newPutCommand(g *globalFlags) *cobra.Command {
	var (
		sf          storeFlags
		contentType string
		batch       bool
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "put NAMESPACE KEY [FILE|-]\n  yui put NAMESPACE --batch [FILE|-]",
		Short: "Write a record's value from a file or standard input",
		Long: `Write a record. The value is read from FILE, or from standard input
when FILE is "-" or missing, and streamed to the node, which encrypts,
codes and spreads it. The command exits 0 only once the network has
stored the record durably. A namespace that does not exist is created
with the user as its owner.

With --batch, the input holds many small records, one JSON object per
line: {"key": K, "value": TEXT} or {"key": K, "value_base64": B64},
each with an optional "content_type", and values of at most 64 KiB.
They are sent in requests of at most 8 MiB or 4096 records, and the
node packs them into shared segments.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if batch {
				return rangeArgs("put --batch", "NAMESPACE [FILE|-]", 1, 2, args)
			}
			return rangeArgs("put", "NAMESPACE KEY [FILE|-]", 2, 3, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			if batch {
				return runPutBatch(ctx, cmd, g, sf.user, args, asJSON)
			}
			return runPut(ctx, cmd, g, sf.user, args, contentType, asJSON)
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&contentType, "content-type", "", "MIME type stored with the value, such as text/csv (default none)")
	f.BoolVar(&batch, "batch", false, "read JSON lines of small records instead of one value")
	f.BoolVar(&asJSON, "json", false, "print the stored records as JSON")
	return cmd
}

func runPut(ctx context.Context, cmd *cobra.Command, g *globalFlags, user string, args []string, contentType string, asJSON bool) error {
	namespace, key := args[0], args[1]
	if err := checkRecordName(namespace, key); err != nil {
		return err
	}
	in, size, err := openInput(cmd, args[2:])
	if err != nil {
		return err
	}
	defer in.Close()
	client, err := api.FindNode(g.dataDir)
	if err != nil {
		return err
	}

	value, done := withProgress(cmd, in, size, "put "+key)
	rec, err := client.PutRecord(ctx, user, namespace, key, value, size, contentType)
	done(err == nil)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), rec)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stored %s/%s: %s, version %d\n", namespace, key, formatBytes(rec.Size), rec.Version)
	return nil
}

func runPutBatch(ctx context.Context, cmd *cobra.Command, g *globalFlags, user string, args []string, asJSON bool) error {
	namespace := args[0]
	in, client, err := openBatch(cmd, g, namespace, args[1:])
	if err != nil {
		return err
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()

	var stored []api.Record
	err = readBatches(in, func(lines []api.BatchLine) error {
		recs, err := client.PutBatch(ctx, user, namespace, lines)
		stored = append(stored, recs...)
		return err
	})
	if err != nil {
		return fmt.Errorf("%w (%d records stored before the failed request, whose records may be stored too, with fewer copies; run the same command again to store them fully)", err, len(stored))
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), stored)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stored %d records in %s\n", len(stored), namespace)
	return nil
}

// openBatch checks the namespace of a batch command, opens its input
// (a file, or standard input for "-" or none) and finds the running node.
func openBatch(cmd *cobra.Command, g *globalFlags, namespace string, args []string) (io.ReadCloser, *api.Client, error) {
	if err := seal.ValidateNamespace(namespace); err != nil {
		return nil, nil, err
	}
	in, _, err := openInput(cmd, args)
	if err != nil {
		return nil, nil, err
	}
	client, err := api.FindNode(g.dataDir)
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	return in, client, nil
}

// readBatches reads JSON lines of api.BatchLine from r and calls send
// with groups that stay under the batch request limits. An error names
// the input line.
func readBatches(r io.Reader, send func([]api.BatchLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), api.MaxBatchLine)
	var (
		group      []api.BatchLine
		groupBytes int
	)
	for line := 1; sc.Scan(); line++ {
		text := sc.Bytes()
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var l api.BatchLine
		if err := decodeStrict(text, &l); err != nil {
			return fmt.Errorf("batch input line %d: %v", line, err)
		}
		if _, err := l.Bytes(); err != nil {
			return fmt.Errorf("batch input line %d: %v", line, err)
		}
		if len(group) == batchRequestRecords || groupBytes+len(text) > batchRequestBytes {
			if err := send(group); err != nil {
				return err
			}
			group, groupBytes = nil, 0
		}
		group = append(group, l)
		groupBytes += len(text) + 1
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("batch input has a line over %d bytes; write large values with 'yui put NAMESPACE KEY FILE'", api.MaxBatchLine)
		}
		return fmt.Errorf("read batch input: %w", err)
	}
	if len(group) == 0 {
		return nil
	}
	return send(group)
}

func decodeStrict(text []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func newGetCommand(g *globalFlags) *cobra.Command {
	var (
		sf     storeFlags
		output string
		batch  bool
	)
	cmd := &cobra.Command{
		Use:   "get NAMESPACE KEY\n  yui get NAMESPACE --batch [FILE|-]",
		Short: "Read a record's value to standard output or a file",
		Long: `Read a record's value. The node fetches and verifies the record and its
chunks from the network, decrypts them and streams the value. With -o,
the value goes to a temporary file beside FILE that replaces FILE only
once the whole value has arrived.

With --batch, the input holds one key per line, and the values are read
in requests of at most 512 keys and printed as JSON lines in the format
'yui put --batch' reads: {"key": K, "value": TEXT} or
{"key": K, "value_base64": B64}, with "content_type" when set. Only
values of at most 64 KiB are read this way. A key that cannot be read is
named on standard error, and the command then exits 1 after the rest.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if batch {
				return rangeArgs("get --batch", "NAMESPACE [FILE|-]", 1, 2, args)
			}
			return rangeArgs("get", "NAMESPACE KEY", 2, 2, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			if batch {
				if output != "" {
					return fmt.Errorf("get --batch prints to standard output; redirect it instead of passing -o %s", output)
				}
				return runGetBatch(ctx, cmd, g, sf.user, args)
			}
			return runGet(ctx, cmd, g, sf.user, args[0], args[1], output)
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the value to FILE instead of standard output")
	cmd.Flags().BoolVar(&batch, "batch", false, "read keys, one per line, and print JSON lines of small records")
	return cmd
}

// batchReadKeys is how many keys one batched read requests: the most a
// directory holder returns in one message.
const batchReadKeys = 512

func runGetBatch(ctx context.Context, cmd *cobra.Command, g *globalFlags, user string, args []string) error {
	namespace := args[0]
	in, client, err := openBatch(cmd, g, namespace, args[1:])
	if err != nil {
		return err
	}
	defer in.Close()

	out := json.NewEncoder(cmd.OutOrStdout())
	read, failed := 0, 0
	err = readKeys(in, batchReadKeys, func(keys []string) error {
		values, err := client.GetBatch(ctx, user, namespace, keys)
		if err != nil {
			return fmt.Errorf("%w (%d records read before the failure)", err, read)
		}
		for i := range values {
			v := &values[i]
			if err := v.Err(); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				failed++
				continue
			}
			if err := out.Encode(api.NewBatchLine(v.Key, v.Value, v.Record.ContentType)); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			read++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d records of %s could not be read; the errors above name them", failed, read+failed, namespace)
	}
	return nil
}

// readKeys reads record keys, one per line, from r and calls send with
// groups of at most size. Blank lines are skipped, and an invalid key is
// an error that names its line.
func readKeys(r io.Reader, size int, send func([]string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4<<10), 64<<10)
	var group []string
	for line := 1; sc.Scan(); line++ {
		key := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(key) == "" {
			continue
		}
		if err := seal.ValidateKey(key); err != nil {
			return fmt.Errorf("key input line %d: %w", line, err)
		}
		if len(group) == size {
			if err := send(group); err != nil {
				return err
			}
			group = nil
		}
		group = append(group, key)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("key input has a line over 64 KiB, far longer than any valid key; give one key per line")
		}
		return fmt.Errorf("read key input: %w", err)
	}
	if len(group) == 0 {
		return nil
	}
	return send(group)
}

func runGet(ctx context.Context, cmd *cobra.Command, g *globalFlags, user, namespace, key, output string) error {
	if err := checkRecordName(namespace, key); err != nil {
		return err
	}
	client, err := api.FindNode(g.dataDir)
	if err != nil {
		return err
	}
	if output == "" {
		w, done := writerWithProgress(cmd, cmd.OutOrStdout(), "get "+key)
		_, err := client.GetRecord(ctx, user, namespace, key, w)
		done(err == nil)
		return err
	}

	f, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".part-*")
	if err != nil {
		return fmt.Errorf("create output file beside %s: %w", output, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed

	w, done := writerWithProgress(cmd, f, "get "+key)
	_, err = client.GetRecord(ctx, user, namespace, key, w)
	done(err == nil)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", f.Name(), cerr)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), output); err != nil {
		return fmt.Errorf("install %s: %w", output, err)
	}
	return nil
}

func newRmCommand(g *globalFlags) *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "rm NAMESPACE KEY",
		Short: "Delete a record",
		Long: `Delete a record by writing a signed tombstone in its place. Holders drop
tombstones after a grace period of 7 days.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("rm", "NAMESPACE KEY", 2, 2, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			namespace, key := args[0], args[1]
			if err := checkRecordName(namespace, key); err != nil {
				return err
			}
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			if err := client.DeleteRecord(ctx, sf.user, namespace, key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s/%s\n", namespace, key)
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}

func newLsCommand(g *globalFlags) *cobra.Command {
	var (
		sf     storeFlags
		prefix string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ls NAMESPACE",
		Short: "List the records of a namespace",
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("ls", "NAMESPACE", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := seal.ValidateNamespace(args[0]); err != nil {
				return err
			}
			client, err := api.FindNode(g.dataDir)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(contextOrBackground(cmd.Context()), listTimeout)
			defer cancel()
			records, err := client.ListRecords(ctx, sf.user, args[0], prefix)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), records)
			}
			printRecords(cmd.OutOrStdout(), records)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&prefix, "prefix", "", "list only keys that start with this text")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRecords(w io.Writer, records []api.Record) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSIZE\tTYPE\tMODIFIED\tWRITER")
	for _, r := range records {
		ct := r.ContentType
		if ct == "" {
			ct = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Key, formatBytes(r.Size), ct,
			r.Modified.Local().Format(time.DateTime), shorten(r.Writer, 16))
	}
	tw.Flush()
	fmt.Fprintln(w, counted(len(records), "record"))
}

// checkRecordName checks a namespace and key before any request, so that
// a typo fails at once and with the rule it breaks.
func checkRecordName(namespace, key string) error {
	if err := seal.ValidateNamespace(namespace); err != nil {
		return err
	}
	return seal.ValidateKey(key)
}

// rangeArgs checks the number of positional arguments and names the
// usage when it is wrong.
func rangeArgs(command, usage string, least, most int, args []string) error {
	if len(args) < least || len(args) > most {
		noun := "arguments"
		if len(args) == 1 {
			noun = "argument"
		}
		return fmt.Errorf("%s takes %s, got %d %s; usage: yui %s %s", command, usage, len(args), noun, command, usage)
	}
	return nil
}

// openInput opens the value's source: the file named in args, or
// standard input for "-" or no argument. Size is -1 when unknown.
func openInput(cmd *cobra.Command, args []string) (io.ReadCloser, int64, error) {
	if len(args) == 0 || args[0] == "-" {
		return io.NopCloser(cmd.InOrStdin()), -1, nil
	}
	f, err := os.Open(args[0])
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !info.Mode().IsRegular() {
		return f, -1, nil
	}
	return f, info.Size(), nil
}

// interruptible returns a context that SIGINT and SIGTERM cancel, so an
// interrupted transfer stops the request and removes partial files.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(contextOrBackground(ctx), os.Interrupt, syscall.SIGTERM)
}

func contextOrBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// showsProgress reports whether the command's error stream is a terminal.
func showsProgress(cmd *cobra.Command) bool {
	f, ok := cmd.ErrOrStderr().(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// withProgress wraps a value being uploaded with a progress bar on
// stderr, when stderr is a terminal and the value is large or of unknown
// size. Call done when the transfer ends.
func withProgress(cmd *cobra.Command, r io.Reader, size int64, what string) (io.Reader, func(ok bool)) {
	if !showsProgress(cmd) || (size >= 0 && size < progressThreshold) {
		return r, func(bool) {}
	}
	p := &progress{cmd: cmd, size: size, what: what}
	return io.TeeReader(r, p), p.finish
}

// writerWithProgress is withProgress for a value being downloaded, whose
// size is unknown until it has arrived.
func writerWithProgress(cmd *cobra.Command, w io.Writer, what string) (io.Writer, func(ok bool)) {
	if !showsProgress(cmd) {
		return w, func(bool) {}
	}
	p := &progress{cmd: cmd, size: -1, what: what}
	return io.MultiWriter(w, p), p.finish
}

// progress counts transferred bytes and shows a bar once they pass
// progressThreshold, so small transfers print nothing.
type progress struct {
	cmd  *cobra.Command
	size int64 // -1 if unknown, which shows a spinner
	what string
	done int64
	bar  *progressbar.ProgressBar
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.bar == nil && (p.size >= 0 || p.done >= progressThreshold) {
		p.bar = progressbar.NewOptions64(p.size,
			progressbar.OptionSetWriter(p.cmd.ErrOrStderr()),
			progressbar.OptionSetDescription(p.what),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionClearOnFinish(),
		)
		p.bar.Set64(p.done - int64(len(b)))
	}
	if p.bar != nil {
		p.bar.Add64(int64(len(b)))
	}
	return len(b), nil
}

func (p *progress) finish(ok bool) {
	if p.bar == nil {
		return
	}
	if ok {
		p.bar.Finish()
	}
	p.bar.Exit()
	fmt.Fprintln(p.cmd.ErrOrStderr())
}

// formatBytes prints a byte count in binary units.
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
