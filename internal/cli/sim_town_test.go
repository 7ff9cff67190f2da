package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// townLinks is the copy of the first 700 lines of the ULB N1.txt that
// package town's tests use.
const townLinks = "../../sim/town/testdata/n1-head.txt"

func TestSimTownTable(t *testing.T) {
	out, err := run(t, "sim", "town", "--links", townLinks, "--seeds", "2", "--duration", "1m")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Alert delivery on the ULB library graph", "yui", "flood"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSimTownJSON(t *testing.T) {
	out, err := run(t, "sim", "town", "--links", townLinks, "--seeds", "1", "--duration", "1m",
		"--protocol", "flood", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Columns []string
		Rows    [][]string
	}
	if err := json.Unmarshal([]byte(out), &table); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(table.Rows) != 1 || table.Rows[0][0] != "flood" {
		t.Errorf("rows = %v, want one flood row", table.Rows)
	}
}

func TestSimTownSweepWritesFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := run(t, "sim", "--out", dir, "town", "--links", townLinks, "--seeds", "1",
		"--duration", "30s", "--sweep", "--protocol", "flood")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"town-sweep-ulb.csv", "town-sweep-ulb.svg", "town-sweep-ulb-latency.svg"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
		} else if info.Size() == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

func TestSimTownRejectsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--graph", "grid"},
		{"--protocol", "gossip"},
		{"--fail", "2"},
		{"--graph", "ulb", "--people", "3"},
	} {
		full := append([]string{"sim", "town", "--links", townLinks, "--seeds", "1", "--duration", "10s"}, args...)
		if _, err := run(t, full...); err == nil {
			t.Errorf("yui %s: no error", strings.Join(full, " "))
		}
	}
}
