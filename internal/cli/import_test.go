package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/node"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// sensorData returns the path of a public dataset file, from the data
// folder beside the repository or beside the folder of worktrees.
func sensorData(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "data", "sensors", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("dataset %s not found in shared/data/sensors above the repository", rel)
	return ""
}

// recordingNode decodes what an import sends, as the node would, and
// keeps the readings.
type recordingNode struct {
	mu       sync.Mutex
	readings []sensor.Reading
	requests int
	// reject, when set, makes the node reject the reading at that index
	// of every request, counted from 0.
	reject int
}

func (rn *recordingNode) send(_ context.Context, body []byte) (*api.IngestResult, error) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.requests++
	res := &api.IngestResult{}
	jr := sensor.NewJSONReader(bytes.NewReader(body), sensor.JSONOptions{MaxBodyBytes: api.MaxIngestBody})
	for i := 0; ; i++ {
		r, line, err := jr.Next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		if i == rn.reject-1 {
			res.Rejected++
			res.Rejections = append(res.Rejections, api.RejectedLine{Line: line, Error: "test rejection"})
			continue
		}
		rn.readings = append(rn.readings, r)
		res.Stored++
	}
}

func newTestImport(t *testing.T, opts importer.Options) (*importRun, *recordingNode, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := &cobra.Command{}
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	rn := &recordingNode{}
	opts.Logger = discardLogger()
	return &importRun{cmd: cmd, opts: opts, send: rn.send}, rn, &out, &errOut
}

func TestImportULBLibrary(t *testing.T) {
	run, rn, out, _ := newTestImport(t, importer.Options{})
	path := sensorData(t, "ulb-library1/R1.txt")
	if err := run.files(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}

	if run.totals.stored != 7563 || len(rn.readings) != 7563 {
		t.Errorf("stored %d (node got %d), want 7563 readings", run.totals.stored, len(rn.readings))
	}
	if run.totals.rows != run.totals.stored+run.totals.rejected {
		t.Errorf("rows %d != stored %d + rejected %d", run.totals.rows, run.totals.stored, run.totals.rejected)
	}
	if rn.requests < 2 {
		t.Errorf("sent %d requests, want batches of at most %d readings", rn.requests, importBatchReadings)
	}
	want := "R1.txt: 7563 rows read, 7563 stored, 0 rejected"
	if run.totals.rejected != 0 {
		want = "R1.txt: "
	}
	if !strings.Contains(out.String(), want) {
		t.Errorf("summary %q, want %q", out.String(), want)
	}
	if first := rn.readings[0]; first.Source != "20" || len(first.Fields) != 7 {
		t.Errorf("first reading %+v, want node 20 with 7 fields", first)
	}
}

func TestImportKnownMapNamesFields(t *testing.T) {
	m, err := importMap("ulb")
	if err != nil {
		t.Fatal(err)
	}
	run, rn, _, _ := newTestImport(t, importer.Options{Map: m})
	if err := run.files(context.Background(), []string{sensorData(t, "ulb-library1/R1.txt")}); err != nil {
		t.Fatal(err)
	}

	first := rn.readings[0]
	if v, ok := first.Get("temperature"); !ok || v.String() != "22.08" {
		t.Errorf("first reading's temperature = %v (%v), want 22.08", v, ok)
	}
	if v, ok := first.Get("humidity"); !ok || v.String() != "51.53" {
		t.Errorf("first reading's humidity = %v (%v), want 51.53", v, ok)
	}
	if _, err := importMap("time=0:nosuchformat"); err == nil || !strings.Contains(err.Error(), "--map") {
		t.Errorf("bad map: error %v, want one naming --map", err)
	}
	if _, err := importMap("ulbx"); err == nil || !strings.Contains(err.Error(), "known map: ulb, ulb-links") {
		t.Errorf("misspelt map name: error %v, want one listing the known maps", err)
	}
}

func TestImportAirQuality(t *testing.T) {
	run, rn, out, _ := newTestImport(t, importer.Options{})
	path := sensorData(t, "air-quality/AirQualityUCI.csv")
	if err := run.files(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	if run.totals.stored != 9357 || len(rn.readings) != 9357 {
		t.Errorf("stored %d (node got %d), want 9357 readings", run.totals.stored, len(rn.readings))
	}
	if !strings.Contains(out.String(), "AirQualityUCI.csv: 9357 rows read, 9357 stored, 0 rejected") {
		t.Errorf("summary %q, want 9357 rows read and stored", out.String())
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// smallTable has 12 rows, and line 4 holds a bad number.
const smallTable = `time,node,temperature
2004-03-10 18:00:00,1,21.5
2004-03-10 18:01:00,2,21.7
2004-03-10 18:02:00,3,not-a-number
2004-03-10 18:03:00,1,21.9
2004-03-10 18:04:00,2,22.0
2004-03-10 18:05:00,3,22.1
2004-03-10 18:06:00,1,22.2
2004-03-10 18:07:00,2,22.3
2004-03-10 18:08:00,3,22.4
2004-03-10 18:09:00,1,22.5
2004-03-10 18:10:00,2,22.6
2004-03-10 18:11:00,3,22.7
`

func TestImportPrintsRejectedRows(t *testing.T) {
	run, rn, out, errOut := newTestImport(t, importer.Options{})
	path := writeTemp(t, "lab.csv", smallTable)
	if err := run.files(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	if len(rn.readings) != 11 {
		t.Errorf("node got %d readings, want 11", len(rn.readings))
	}
	if !strings.Contains(errOut.String(), path+":4: invalid number") || !strings.Contains(errOut.String(), "not-a-number") {
		t.Errorf("stderr %q does not name line 4 and its value", errOut.String())
	}
	if !strings.Contains(out.String(), "12 rows read, 11 stored, 1 rejected") {
		t.Errorf("summary %q, want 12 rows, 11 stored, 1 rejected", out.String())
	}
}

func TestImportStrictStops(t *testing.T) {
	run, rn, _, _ := newTestImport(t, importer.Options{Strict: true})
	path := writeTemp(t, "lab.csv", smallTable)
	err := run.files(context.Background(), []string{path})
	if !errors.Is(err, importer.ErrRejected) || !strings.Contains(err.Error(), path+":4") {
		t.Fatalf("error = %v, want the rejection of line 4", err)
	}
	if len(rn.readings) != 0 {
		t.Errorf("node got %d readings of an import stopped before its first batch", len(rn.readings))
	}
}

func TestImportNodeRejectionNamesFileLine(t *testing.T) {
	run, rn, out, errOut := newTestImport(t, importer.Options{})
	rn.reject = 2
	path := writeTemp(t, "lab.csv", smallTable)
	if err := run.files(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	// The second reading sent is the one of file line 3.
	if !strings.Contains(errOut.String(), path+":3: rejected by the node: test rejection") {
		t.Errorf("stderr %q, want the node's rejection at line 3", errOut.String())
	}
	if !strings.Contains(out.String(), "12 rows read, 10 stored, 2 rejected") {
		t.Errorf("summary %q, want 10 stored and 2 rejected", out.String())
	}
}

func TestImportLocations(t *testing.T) {
	locs, err := loadLocations(sensorData(t, "intel-lab/mote_locs.txt"), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	run, rn, _, _ := newTestImport(t, importer.Options{Locations: locs})
	path := writeTemp(t, "lab.csv", smallTable)
	if err := run.files(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rn.readings {
		want, ok := locs[r.Source]
		if !ok {
			t.Fatalf("mote_locs.txt has no mote %q", r.Source)
		}
		if r.Location == nil || *r.Location != want {
			t.Errorf("reading of mote %s at %+v, want %+v", r.Source, r.Location, want)
		}
	}
}

func TestImportSkipsUnreadableFiles(t *testing.T) {
	run, rn, out, errOut := newTestImport(t, importer.Options{})
	empty := writeTemp(t, "empty.csv", "")
	good := writeTemp(t, "lab.csv", smallTable)
	err := run.files(context.Background(), []string{empty, "/no/such/file.csv", good})

	if err == nil || !strings.Contains(err.Error(), "2 of 3 files skipped") {
		t.Fatalf("error = %v, want 2 of 3 files skipped", err)
	}
	if len(rn.readings) != 11 {
		t.Errorf("node got %d readings, want the 11 of the good file", len(rn.readings))
	}
	if !strings.Contains(errOut.String(), "empty.csv has no bytes; skipping the file") {
		t.Errorf("stderr %q does not report the empty file", errOut.String())
	}
	if !strings.Contains(out.String(), "total: 12 rows read, 11 stored, 1 rejected") {
		t.Errorf("summary %q, want the total of the good file", out.String())
	}

	run, _, _, _ = newTestImport(t, importer.Options{Strict: true})
	if err := run.files(context.Background(), []string{empty, good}); !errors.Is(err, importer.ErrEmpty) {
		t.Errorf("strict import of an empty file: %v, want importer.ErrEmpty", err)
	}
}

func TestImportCommandErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "import", "--data-dir", dir, "x.csv"); err == nil || !strings.Contains(err.Error(), "--ns") {
		t.Errorf("import without --ns: %v, want an error naming --ns", err)
	}
	if _, err := run(t, "import", "--data-dir", dir, "--ns", "lab", "--map", "nonsense", "x.csv"); !errors.Is(err, importer.ErrMap) {
		t.Errorf("import with a bad map: %v, want importer.ErrMap", err)
	}
	if _, err := run(t, "import", "--data-dir", dir, "--ns", "lab", "x.csv"); !errors.Is(err, api.ErrNoNode) {
		t.Errorf("import without a node: %v, want api.ErrNoNode", err)
	}
}

// TestImportIntoNode runs the command against a real node, whose search
// layer stores the readings: the summary counts them as stored.
func TestImportIntoNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	n, err := node.Start(context.Background(), node.Config{
		DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0",
		DiscoveryPort: -1, MQTT: node.MQTTOff, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	path := writeTemp(t, "lab.csv", smallTable)
	out, err := run(t, "import", "--data-dir", dir, "--ns", "lab", path)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "12 rows read, 11 stored, 1 rejected") {
		t.Errorf("output %q, want a summary with 11 readings stored", out)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestImportLayoutFlags(t *testing.T) {
	var opts importer.Options
	flags := layoutFlags{delimiter: "semicolon", timeZone: "Europe/Rome", keepSentinels: true}
	if err := flags.apply(&opts); err != nil {
		t.Fatal(err)
	}
	if opts.Delimiter != importer.Semicolon || opts.TimeZone.String() != "Europe/Rome" || !opts.KeepSentinels {
		t.Errorf("options %v %v %v, want semicolon, Europe/Rome and kept sentinels", opts.Delimiter, opts.TimeZone, opts.KeepSentinels)
	}

	for _, tc := range []struct {
		flags layoutFlags
		want  string
	}{
		{layoutFlags{delimiter: "colon", timeZone: "UTC"}, `--delimiter: unknown delimiter "colon"`},
		{layoutFlags{delimiter: "auto", timeZone: "Mars/Olympus"}, `--time-zone "Mars/Olympus"`},
	} {
		err := tc.flags.apply(&importer.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.flags, err, tc.want)
		}
	}
}

func TestImportTimeZone(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	run, rn, _, _ := newTestImport(t, importer.Options{TimeZone: rome})
	path := writeTemp(t, "rome.csv", smallTable)
	if err := run.files(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	// 18:00 in Rome in March is 17:00 UTC.
	want := time.Date(2004, 3, 10, 17, 0, 0, 0, time.UTC)
	if len(rn.readings) == 0 {
		t.Fatal("no reading imported")
	}
	if got := rn.readings[0].Time; !got.Equal(want) {
		t.Errorf("first reading at %v, want %v", got, want)
	}
}

func TestImportInterruptedSaysHowToFinish(t *testing.T) {
	run, rn, _, _ := newTestImport(t, importer.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first batch is stored, then the user presses Ctrl-C.
	run.send = func(ctx context.Context, body []byte) (*api.IngestResult, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("api: POST readings: %w", err)
		}
		res, err := rn.send(ctx, body)
		cancel()
		return res, err
	}
	path := sensorData(t, "ulb-library1/R1.txt")

	err := run.files(ctx, []string{path})
	if err == nil {
		t.Fatal("interrupted import returned no error")
	}
	for _, want := range []string{"interrupted", "R1.txt", fmt.Sprintf("%d readings stored", len(rn.readings)), "may still store the last batch", "run the same command again", "sealed namespace counts it twice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestImportCountsRepeatedReadings imports a file, then one that repeats
// two of its rows and one of its own, and checks that the summary counts
// the three repeats per file and in the total.
func TestImportCountsRepeatedReadings(t *testing.T) {
	run, rn, out, _ := newTestImport(t, importer.Options{})
	first := writeTemp(t, "first.csv", smallTable)
	second := writeTemp(t, "second.csv", "time,node,temperature\n"+
		"2004-03-10 18:00:00,1,21.5\n"+
		"2004-03-10 18:01:00,2,21.7\n"+
		"2004-03-10 19:00:00,1,20.0\n"+
		"2004-03-10 19:00:00,1,20.0\n"+
		"2004-03-10 18:03:00,1,21.8\n")
	if err := run.files(context.Background(), []string{first, second}); err != nil {
		t.Fatal(err)
	}

	if len(rn.readings) != 16 {
		t.Errorf("node got %d readings, want all 16, repeats included", len(rn.readings))
	}
	for _, want := range []string{
		"second.csv: 5 rows read, 5 stored, 0 rejected\n",
		"second.csv: 3 readings repeat an earlier one exactly",
		"total: 3 readings repeat an earlier one exactly",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary %q lacks %q", out.String(), want)
		}
	}
	if n := strings.Count(out.String(), "an earlier one"); n != 2 {
		t.Errorf("summary %q counts repeats in first.csv, which has none", out.String())
	}
}
