package cli

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/yuinet/yui/api"
)

// TestJobRunRejectsBadNumbers checks that job flags the node would
// otherwise replace by its defaults fail before any node is contacted,
// with an error that names the value.
func TestJobRunRejectsBadNumbers(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--verify", "0"}, "invalid --verify 0"},
		{[]string{"--verify", "6"}, "invalid --verify 6"},
		{[]string{"--segments-per-unit", "-5"}, "invalid --segments-per-unit -5"},
		{[]string{"--agg", "count,median"}, `"median" is not one of`},
		{[]string{"--by", "week"}, `invalid --by: job: invalid: grouping "week" is unknown`},
		{[]string{"--by", "hour,day"}, `grouping "hour,day" names both hour and day; pick one`},
		{[]string{"--cell-size", "5"}, "--cell-size 5 needs --by cell"},
		{[]string{"--encrypted", "--wasm", "step.wasm"}, "--encrypted cannot run a --wasm step"},
		{[]string{"--cell-size", "5", "--by", "sensor,day"}, "--cell-size 5 needs --by cell"},
		{[]string{"--histogram", "0,10,5"}, "edges must increase, but 5 follows 10"},
		{[]string{"--histogram", "=1,2"}, "no field name before '='"},
		{[]string{"--histogram", "T=1,x"}, `edge "x" is not a finite number`},
	} {
		args := append([]string{"job", "run", "lab", "--data-dir", dir}, c.args...)
		_, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

func TestParseHistogram(t *testing.T) {
	h, err := parseHistogram("PT08.S1(CO)=-200, 0,1000.5")
	if err != nil {
		t.Fatal(err)
	}
	if h.Field != "PT08.S1(CO)" || !slices.Equal(h.Edges, []float64{-200, 0, 1000.5}) {
		t.Errorf("parseHistogram = %+v", h)
	}
	all, err := parseHistogram("1,2")
	if err != nil || all.Field != "" || len(all.Edges) != 2 {
		t.Errorf("parseHistogram(1,2) = %+v, %v", all, err)
	}
}

func TestResultAggregatesOrder(t *testing.T) {
	one, ten := 1.0, 10.0
	groups := []api.AggregateGroup{{Fields: map[string]api.FieldStats{
		"t": {Min: &one, Mean: &ten, Percentiles: map[string]float64{"p99.9": 1, "p5": 1, "p50": 1},
			Histogram: &api.Histogram{Edges: []float64{0}, Counts: []int64{0, 1}}},
	}}}
	got := resultAggregates(groups)
	want := []string{"count", "min", "mean", "histogram", "p5", "p50", "p99.9"}
	if !slices.Equal(got, want) {
		t.Errorf("resultAggregates = %v, want %v", got, want)
	}
}

func TestHistogramText(t *testing.T) {
	got := histogramText(&api.Histogram{Edges: []float64{0, 10}, Counts: []int64{1, 2, 3}})
	if want := "<0:1 0:2 10:3"; got != want {
		t.Errorf("histogramText = %q, want %q", got, want)
	}
}

func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		st   api.JobStatus
		want string
	}{
		{api.JobStatus{Units: 160, Committed: 41, Workers: 1, Epoch: 2}, "running: 41/160 units done, 1 node working, epoch 2"},
		{api.JobStatus{Units: 160, Committed: 0, Workers: 3, Epoch: 2}, "running: 0/160 units done, 3 nodes working, epoch 2"},
		{api.JobStatus{Units: 4, Committed: 4, Workers: 0, Epoch: 3, Done: true, Failed: 1}, "done: 4/4 units done, 0 nodes working, epoch 3, 1 failed"},
		{api.JobStatus{Units: 173, Workers: 0, Epoch: 2, Failed: 4, LeftOut: 1, LeftOutError: "store: not enough holders reachable"},
			"running: 0/173 units done, 0 nodes working, epoch 2, 4 failed, 1 node left out; no node can run units, the last error: store: not enough holders reachable"},
		{api.JobStatus{Units: 173, Workers: 2, Epoch: 2, LeftOut: 1, LeftOutError: "store: not enough holders reachable"},
			"running: 0/173 units done, 2 nodes working, epoch 2, 1 node left out"},
	} {
		if got := progressLine(&c.st); got != c.want {
			t.Errorf("progressLine(%+v) = %q, want %q", c.st, got, c.want)
		}
	}
}

// TestJobResultWarningsOnStderr checks that a job's warnings go to
// standard error, so that --csv output parses as CSV, and that the grant
// hint names the job's namespace and, for a worker that failed to read a
// ciphertext, the "he/" prefix that an encrypted job's reader needs.
func TestJobResultWarningsOnStderr(t *testing.T) {
	mean := 21.5
	st := &api.JobStatus{Units: 4, Committed: 4, Done: true, Failed: 1, LeftOut: 2,
		Error:        "3 sensor-hours of the input were written in more than one request",
		LeftOutError: `node: read ciphertext "he/seg/2006-11-13T21/ab": store: permission denied: user has no access to namespace "lab"`,
		Groups: []api.AggregateGroup{{Sensor: "12", Count: 3,
			Fields: map[string]api.FieldStats{"temperature": {Count: 3, Mean: &mean}}}}}
	var out, errOut strings.Builder
	err := printJobResult(&out, &errOut, st, "lab", []string{"count", "mean"}, false, true)
	if err == nil || !strings.Contains(err.Error(), "1 of 4 units failed") {
		t.Errorf("printJobResult error = %v, want one that says 1 of 4 units failed", err)
	}
	records, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatalf("--csv output does not parse: %v\n%s", err, out.String())
	}
	if len(records) != 2 || records[0][0] != "group" || records[1][0] != "12" {
		t.Errorf("--csv output = %q, want a header and one row for sensor 12", records)
	}
	for _, want := range []string{"sensor-hours", "2 workers left out", "yui grant lab he/ USER read"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("standard error lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestJobResultNamesFailedUnit(t *testing.T) {
	reason := "unit 2: results disagree: workers a and b gave different results, and 3 attempts found no 2 workers whose results agree"
	st := &api.JobStatus{ID: "j1", Units: 4, Committed: 3, Failed: 1, Done: true, FailedError: reason}
	var out, errOut strings.Builder
	err := printJobResult(&out, &errOut, st, "lab", []string{"count"}, false, false)
	if err == nil {
		t.Fatal("printJobResult returned no error for a job with a failed unit")
	}
	if !strings.Contains(err.Error(), "1 of 4 units failed") {
		t.Errorf("printJobResult error = %v, want one that says 1 of 4 units failed", err)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("printJobResult error = %v, want one that contains the failure reason", err)
	}
}

func TestGrantHint(t *testing.T) {
	for _, c := range []struct{ namespace, err, want string }{
		{"lab", `node: read ciphertext "he/seg/x": store: permission denied`, "yui grant lab he/ USER read --keys FILE"},
		{"lab", `node: read segment "seg/x": store: permission denied`, `yui grant lab "" USER read --keys FILE`},
		{"", `store: permission denied`, `yui grant NS "" USER read --keys FILE`},
	} {
		if got := grantHint(c.namespace, c.err); got != c.want {
			t.Errorf("grantHint(%q, %q) = %q, want %q", c.namespace, c.err, got, c.want)
		}
	}
}

// TestJobResultFailsWhenUnitsFailed checks that a job whose units failed
// ends the command with an error in every output format, after the result
// is printed. A script then cannot take the result for a complete one.
func TestJobResultFailsWhenUnitsFailed(t *testing.T) {
	mean := 21.5
	groups := []api.AggregateGroup{{Sensor: "12", Count: 3,
		Fields: map[string]api.FieldStats{"temperature": {Count: 3, Mean: &mean}}}}
	for _, format := range []struct {
		name          string
		asJSON, asCSV bool
	}{{"table", false, false}, {"csv", false, true}, {"json", true, false}} {
		var out, errOut strings.Builder
		st := &api.JobStatus{Units: 4, Committed: 0, Done: true, Failed: 4}
		err := printJobResult(&out, &errOut, st, "lab", []string{"count"}, format.asJSON, format.asCSV)
		if err == nil || !strings.Contains(err.Error(), "4 of 4 units failed") {
			t.Errorf("%s, every unit failed: error %v, want one that says 4 of 4 units failed", format.name, err)
		}
		if out.Len() == 0 {
			t.Errorf("%s, every unit failed: nothing printed, want the result before the error", format.name)
		}

		out.Reset()
		st = &api.JobStatus{Units: 4, Committed: 4, Done: true, Groups: groups}
		if err := printJobResult(&out, &errOut, st, "lab", []string{"count", "mean"}, format.asJSON, format.asCSV); err != nil {
			t.Errorf("%s, every unit committed: error %v, want none", format.name, err)
		}
		if !strings.Contains(out.String(), "12") {
			t.Errorf("%s, every unit committed: output lacks sensor 12:\n%s", format.name, out.String())
		}
	}
}

// TestJobSealRejectsBadNumbers checks that 'yui job seal' names the flag
// of a scale or bound out of range before any node is contacted.
func TestJobSealRejectsBadNumbers(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max", "-5"}, "invalid --max -5: use 1 to 1000000000"},
		{[]string{"--max", "2000000000"}, "invalid --max 2000000000: use 1 to 1000000000"},
		{[]string{"--scale", "-1"}, "invalid --scale -1: use 1 to 1000000000"},
		{[]string{"--scale", "0"}, "invalid --scale 0: use 1 to 1000000000"},
		{[]string{"--max", "0"}, "invalid --max 0: use 1 to 1000000000"},
	} {
		args := append([]string{"job", "seal", "lab", "--data-dir", dir}, c.args...)
		_, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
