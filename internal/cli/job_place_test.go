package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuinet/yui/api"
)

func TestLocalityLine(t *testing.T) {
	if got := localityLine(nil); got != "" {
		t.Errorf("line without locality %q, want none", got)
	}
	l := &api.JobLocality{Cluster: 600, Remote: 300, Unknown: 100, Held: 250, InClusterShare: 0.6}
	got := localityLine(l)
	for _, want := range []string{"1000 bytes", "own area (0.5° cell): 60.0%", "another area: 30.0%", "area unknown: 10.0%", "storing them: 25.0%"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
}

func TestParseTierMix(t *testing.T) {
	mix, err := parseTierMix("20, 50,30")
	if err != nil || mix != [3]float64{0.2, 0.5, 0.3} {
		t.Fatalf("parseTierMix = %v, %v; want [0.2 0.5 0.3]", mix, err)
	}
	for _, bad := range []string{"", "20,50", "20,50,30,1", "a,b,c", "-1,50,50", "0,0,0", "101,0,0"} {
		if _, err := parseTierMix(bad); err == nil {
			t.Errorf("parseTierMix(%q) succeeded", bad)
		}
	}
}

func TestSimJobWritesTableAndPlot(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "sim", "--out", dir, "job", "--nodes", "10,20", "--units", "200", "--add-pct", "50",
		"--add-when", "0.5", "--placement", "cluster", "--nodes-per-cluster", "5")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "IN-CLUSTER%") {
		t.Errorf("output lacks the in-cluster column:\n%s", out)
	}
	table, err := os.ReadFile(filepath.Join(dir, "job.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// A header and, for each node count, a run without and one with the
	// added workers.
	if lines := strings.Count(string(table), "\n"); lines != 5 {
		t.Errorf("job.csv has %d lines, want 5:\n%s", lines, table)
	}
	if info, err := os.Stat(filepath.Join(dir, "job.svg")); err != nil || info.Size() == 0 {
		t.Errorf("job.svg missing or empty: %v", err)
	}
}

func TestSimJobRejectsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--tiers", "1,2"},
		{"--placement", "moon"},
		{"--nodes", "0"},
		{"--add-when", "1.5", "--add", "3"},
	} {
		if _, err := run(t, append([]string{"sim", "--out", t.TempDir(), "job", "--units", "10"}, args...)...); err == nil {
			t.Errorf("sim job %v succeeded", args)
		}
	}
}
