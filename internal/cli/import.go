package cli

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// Requests that 'yui import' sends stay below these, well inside the
// node's limits, so that one request holds little of the node's memory
// and a failed one costs little to resend.
const (
	importBatchBytes    = 4 << 20
	importBatchReadings = 5000
)

// maxPrintedRejections bounds the rejected rows printed per file; every
// one is counted in the summary.
const maxPrintedRejections = 100

func newImportCommand(g *globalFlags) *cobra.Command {
	var (
		sf        storeFlags
		namespace string
		mapSpec   string
		strict    bool
		locations string
		layout    layoutFlags
	)
	cmd := &cobra.Command{
		Use:   "import FILE... --ns NAMESPACE",
		Short: "Load sensor readings from CSV, TSV or text files",
		Long: `Load sensor readings from delimited text files, such as data loggers
and public datasets write them, into a namespace. The layout of each
file (delimiter, header, decimal comma, missing-value markers, time and
source columns) is detected from its first lines, and the command logs it
as "layout detected", with columns numbered from 0 as --map numbers them.
--map overrides what detection gets wrong.

Readings go to the node in batches and are stored once the command
reports them. A row that does not give a valid reading is printed with
its file, line number and reason, counted and skipped, and a file that
cannot be read as a table is reported and skipped. With --strict the
first of either ends the import, and the batches sent before it stay
stored. On a terminal a progress bar shows each file's progress.

--map takes comma-separated ROLE=COLUMN items. A column is a 0-based
index, a range A-B (field and ignore only) or a header cell. Roles: time,
date, source (or source=@NAME for one fixed source id), lat, lon, x, y,
field, ignore; any other key names a field. time and date take a format
after a colon: unix_s, unix_ms, unix_us, unix_ns, iso, dmy or mdy.

Times without an offset are read in --time-zone, UTC unless given; epoch
numbers are always UTC.`,
		Example: `  yui import R1.txt R2.txt R3.txt --ns library --map ulb
  yui import AirQualityUCI.csv --ns air --map 'date=Date,time=Time,source=@turin'
  yui import readings.txt --ns lab --map 'time=0:unix_ms,source=1,ignore=2,temperature=3'
  yui import data.txt --ns lab --locations mote_locs.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("import", "FILE... --ns NAMESPACE", 1, math.MaxInt, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if namespace == "" {
				return errors.New("import needs a namespace: pass --ns NAMESPACE")
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			run, err := newImportRun(cmd, g, sf.user, namespace, mapSpec, locations, strict)
			if err != nil {
				return err
			}
			if err := layout.apply(&run.opts); err != nil {
				return err
			}
			return run.files(ctx, args)
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&namespace, "ns", "", "namespace to store the readings in (env YUI_NS)")
	f.StringVar(&mapSpec, "map", "", "column map overriding detection, such as 'time=0:unix_ms,source=1,ignore=2,temperature=3', or a known dataset: ulb (ULB library readings), ulb-links (ULB neighbour files) (env YUI_MAP)")
	f.BoolVar(&strict, "strict", false, "stop at the first rejected row (env YUI_STRICT)")
	f.StringVar(&locations, "locations", "", "file of source positions, one row per source such as 'moteid x y', for readings without location columns (env YUI_LOCATIONS)")
	f.StringVar(&layout.delimiter, "delimiter", "auto", "cell delimiter: auto, comma, semicolon, tab, pipe or whitespace (env YUI_DELIMITER)")
	f.StringVar(&layout.timeZone, "time-zone", "UTC", "zone of times written without an offset, such as Europe/Rome (env YUI_TIME_ZONE)")
	f.BoolVar(&layout.keepSentinels, "keep-sentinels", false, "keep numbers such as -200 or -9999 that detection would read as missing values (env YUI_KEEP_SENTINELS)")
	return cmd
}

// layoutFlags are the flags that fix parts of a file's layout in place of
// detection.
type layoutFlags struct {
	delimiter     string
	timeZone      string
	keepSentinels bool
}

func (l layoutFlags) apply(opts *importer.Options) error {
	d, err := importer.ParseDelimiter(l.delimiter)
	if err != nil {
		return fmt.Errorf("--delimiter: %w", err)
	}
	zone, err := time.LoadLocation(l.timeZone)
	if err != nil {
		return fmt.Errorf("--time-zone %q: want an IANA zone name such as Europe/Rome, or UTC: %w", l.timeZone, err)
	}
	opts.Delimiter, opts.TimeZone, opts.KeepSentinels = d, zone, l.keepSentinels
	return nil
}

// knownMaps are the column maps of public datasets, by the name --map
// accepts for them. Their files have no header, so detection cannot name
// the fields.
var knownMaps = map[string]string{
	"ulb":       importer.ULBReadingsMap,
	"ulb-links": importer.ULBLinksMap,
}

// importMap parses --map, which is a column map or the name of one of
// knownMaps; "" gives the empty map, which leaves detection alone.
func importMap(spec string) (importer.Map, error) {
	if known, ok := knownMaps[spec]; ok {
		spec = known
	}
	if spec == "" {
		return importer.Map{}, nil
	}
	m, err := importer.ParseMap(spec)
	if err != nil {
		return importer.Map{}, fmt.Errorf("--map: %w; or name a known map: %s", err, strings.Join(slices.Sorted(maps.Keys(knownMaps)), ", "))
	}
	return m, nil
}

// importRun imports files one after the other and keeps the counts.
type importRun struct {
	cmd    *cobra.Command
	opts   importer.Options
	send   sendFunc
	totals importCounts
	// seen contains a hash of every reading sent, up to maxTrackedReadings,
	// to count the readings that repeat an earlier one exactly.
	seen map[[16]byte]struct{}
}

// maxTrackedReadings bounds the hashes an import keeps to find repeated
// readings, an estimated 60 MB at the bound. Repeats of readings past
// it are not counted.
const maxTrackedReadings = 1_000_000

// sendFunc stores a batch of readings, encoded as JSON lines.
type sendFunc func(ctx context.Context, body []byte) (*api.IngestResult, error)

// importCounts are the counts the summary reports for a file or all.
type importCounts struct {
	rows, stored, rejected int
	// repeated counts the readings equal to one sent earlier in the
	// run, which the node stores but queries count once.
	repeated int
}

func newImportRun(cmd *cobra.Command, g *globalFlags, user, namespace, mapSpec, locations string, strict bool) (*importRun, error) {
	log, err := g.newLogger(cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	opts := importer.Options{Strict: strict, Logger: log}
	if opts.Map, err = importMap(mapSpec); err != nil {
		return nil, err
	}
	if locations != "" {
		if opts.Locations, err = loadLocations(locations, log); err != nil {
			return nil, err
		}
	}
	client, err := api.FindNode(g.dataDir)
	if err != nil {
		return nil, err
	}
	send := func(ctx context.Context, body []byte) (*api.IngestResult, error) {
		return client.PostReadings(ctx, user, namespace, body)
	}
	return &importRun{cmd: cmd, opts: opts, send: send}, nil
}

// loadLocations reads a location table and rejects one with bad rows,
// since a wrong position would silently follow every reading of its
// source.
func loadLocations(path string, log *slog.Logger) (importer.Locations, error) {
	locs, sum, err := importer.LoadLocationsFile(path, importer.Options{Strict: true, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--locations: %w", err)
	}
	log.Info("locations loaded", "file", path, "sources", len(locs), "lines", sum.Lines)
	return locs, nil
}

// files imports each file and prints the summary, also after a failure.
// A file that cannot be read as a table is reported and skipped, unless
// --strict is set; any other error ends the import.
func (run *importRun) files(ctx context.Context, paths []string) error {
	var skipped []string
	for _, path := range paths {
		err := run.file(ctx, path)
		if err != nil && !run.opts.Strict && isFileError(err) {
			fmt.Fprintf(run.cmd.ErrOrStderr(), "%v; skipping the file\n", err)
			skipped = append(skipped, path)
			continue
		}
		if err != nil {
			run.printTotal(paths)
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return fmt.Errorf("import interrupted in %s after %d readings stored, and the node may still store the last batch sent; "+
					"run the same command again to finish: queries count a reading stored twice once, but an encrypted job over a sealed namespace counts it twice",
					path, run.totals.stored)
			}
			return err
		}
	}
	run.printTotal(paths)
	if len(skipped) > 0 {
		return fmt.Errorf("import: %d of %d files skipped: %s", len(skipped), len(paths), strings.Join(skipped, ", "))
	}
	return nil
}

func (run *importRun) printTotal(paths []string) {
	if len(paths) > 1 {
		run.printCounts("total", run.totals)
	}
}

// isFileError reports an error that concerns one file alone, such as a
// missing file or one whose layout cannot be detected.
func isFileError(err error) bool {
	for _, target := range []error{fs.ErrNotExist, fs.ErrPermission, importer.ErrEmpty,
		importer.ErrBinary, importer.ErrNoData, importer.ErrLayout} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// file imports one file.
func (run *importRun) file(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()

	fi := &fileImport{run: run, path: path}
	opts := run.opts
	if !opts.Strict {
		// With --strict the rejection ends the import and is reported
		// as its error instead.
		opts.OnReject = fi.printRejection
	}
	// The bar starts once detection has logged the layout, so that the
	// log line does not break into it.
	fi.newBar = func() { fi.bar = run.newBar(f, path) }
	opts.Progress = func(n int64) {
		if fi.bar != nil {
			fi.bar.Set64(n)
		}
	}
	err = fi.read(ctx, f, opts)
	if fi.bar != nil {
		fi.bar.Finish()
	}
	run.totals.rows += fi.counts.rows
	run.totals.stored += fi.counts.stored
	run.totals.rejected += fi.counts.rejected
	run.totals.repeated += fi.counts.repeated
	run.printCounts(path, fi.counts)
	if fi.unprinted > 0 {
		fmt.Fprintf(run.cmd.ErrOrStderr(), "%s: %d more rejected rows not shown\n", path, fi.unprinted)
	}
	return err
}

func (run *importRun) newBar(f *os.File, path string) *progressbar.ProgressBar {
	info, err := f.Stat()
	if err != nil || !showsProgress(run.cmd) {
		return nil
	}
	return progressbar.NewOptions64(info.Size(),
		progressbar.OptionSetWriter(run.cmd.ErrOrStderr()),
		progressbar.OptionSetDescription(filepath.Base(path)),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (run *importRun) printCounts(what string, c importCounts) {
	fmt.Fprintf(run.cmd.OutOrStdout(), "%s: %d rows read, %d stored, %d rejected\n", what, c.rows, c.stored, c.rejected)
	if c.repeated > 0 {
		verb := "repeat"
		if c.repeated == 1 {
			verb = "repeats"
		}
		fmt.Fprintf(run.cmd.OutOrStdout(), "%s: %s %s an earlier one exactly; queries and jobs count each once\n", what, counted(c.repeated, "reading"), verb)
	}
}

// fileImport is the state of one file's import.
type fileImport struct {
	run       *importRun
	path      string
	bar       *progressbar.ProgressBar // nil when stderr is no terminal
	newBar    func()
	counts    importCounts
	printed   int
	unprinted int

	// body holds the batch being built as JSON lines, and lines the file
	// line of each of its readings, to name rows the node rejects.
	body  []byte
	lines []int
}

// read streams the file's readings to the node in batches.
func (fi *fileImport) read(ctx context.Context, f io.Reader, opts importer.Options) error {
	rd, err := importer.NewReader(f, fi.path, opts)
	if err != nil {
		return err
	}
	fi.newBar()
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fi.countRows(rd)
			return fi.stop(err)
		}
		if err := fi.add(ctx, &r, rd.Line()); err != nil {
			fi.countRows(rd)
			return err
		}
	}
	fi.countRows(rd)
	return fi.flush(ctx)
}

// stop ends an import at a strict rejection or a read error.
func (fi *fileImport) stop(err error) error {
	if errors.Is(err, importer.ErrRejected) {
		return fmt.Errorf("import stopped at the first rejected row (--strict): %w", err)
	}
	return err
}

func (fi *fileImport) countRows(rd *importer.Reader) {
	sum := rd.Summary()
	fi.counts.rows = sum.Rows
	fi.counts.rejected += sum.Rejected
}

// add appends a reading to the batch and sends the batch when full.
func (fi *fileImport) add(ctx context.Context, r *sensor.Reading, line int) error {
	var err error
	start := len(fi.body)
	fi.body, err = sensor.AppendJSON(fi.body, r)
	if err != nil {
		return fmt.Errorf("import: %s:%d: %w", fi.path, line, err)
	}
	fi.countRepeat(fi.body[start:])
	fi.body = append(fi.body, '\n')
	fi.lines = append(fi.lines, line)
	if len(fi.lines) < importBatchReadings && len(fi.body) < importBatchBytes {
		return nil
	}
	return fi.flush(ctx)
}

// countRepeat counts line, one reading in JSON, if an equal line was
// sent before in the run. Readings that differ only in the order of
// their fields are not caught, which only lowers the count.
func (fi *fileImport) countRepeat(line []byte) {
	run := fi.run
	if run.seen == nil {
		run.seen = make(map[[16]byte]struct{})
	}
	sum := sha256.Sum256(line)
	key := [16]byte(sum[:16])
	if _, ok := run.seen[key]; ok {
		fi.counts.repeated++
		return
	}
	if len(run.seen) < maxTrackedReadings {
		run.seen[key] = struct{}{}
	}
}

// flush sends the batch and counts what the node stored and rejected.
func (fi *fileImport) flush(ctx context.Context) error {
	if len(fi.lines) == 0 {
		return nil
	}
	res, err := fi.run.send(ctx, fi.body)
	if err != nil {
		return fmt.Errorf("import: send %d readings of %s: %w", len(fi.lines), fi.path, err)
	}
	fi.counts.stored += res.Stored
	fi.counts.rejected += res.Rejected
	for _, rej := range res.Rejections {
		line := 0
		if rej.Line >= 1 && rej.Line <= len(fi.lines) {
			line = fi.lines[rej.Line-1]
		}
		fi.printLine(fmt.Sprintf("%s:%d: rejected by the node: %s", fi.path, line, rej.Error))
	}
	fi.body, fi.lines = fi.body[:0], fi.lines[:0]
	if res.Rejected > 0 && fi.run.opts.Strict {
		return fmt.Errorf("import stopped: the node rejected %d readings of %s (--strict)", res.Rejected, fi.path)
	}
	return nil
}

func (fi *fileImport) printRejection(e *importer.RowError) {
	fi.printLine(e.Error())
}

// printLine prints a rejected row above the progress bar, up to
// maxPrintedRejections per file.
func (fi *fileImport) printLine(s string) {
	if fi.printed == maxPrintedRejections {
		fi.unprinted++
		return
	}
	fi.printed++
	if fi.bar != nil {
		fi.bar.Clear()
	}
	fmt.Fprintln(fi.run.cmd.ErrOrStderr(), s)
}
