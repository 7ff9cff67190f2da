package sim

import (
	"bytes"
	"testing"
	"time"
)

// buildTables runs the build scenario on a fresh network and returns its
// tables as bytes.
func buildTables(t *testing.T, cfg Config, nodes int) []byte {
	t.Helper()
	n := newTestNetwork(t, cfg)
	res, err := Build(n, BuildOptions{Nodes: nodes, Probes: 100, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return renderTables(t, BuildReport(res, 20, nil))
}

func TestBuildDeterministic(t *testing.T) {
	first := buildTables(t, Config{Seed: 42}, 150)
	second := buildTables(t, Config{Seed: 42}, 150)
	if !bytes.Equal(first, second) {
		t.Errorf("two runs with seed 42 differ:\n%s\n---\n%s", first, second)
	}
	if other := buildTables(t, Config{Seed: 43}, 150); bytes.Equal(first, other) {
		t.Error("runs with seeds 42 and 43 produced identical tables")
	}
}

func TestMaintenanceDeterministic(t *testing.T) {
	run := func() []byte {
		var runs []MaintenanceResult
		for _, mode := range []Mode{Flat, Hier} {
			n := newTestNetwork(t, Config{Seed: 7, Mode: mode, Loss: 0.01})
			res, err := Maintenance(n, MaintenanceOptions{
				Build:  BuildOptions{Nodes: 150, Probes: 100, Timeout: 2 * time.Second},
				Warmup: 2 * time.Minute, Window: 4 * time.Minute, Probes: 50,
			})
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, res)
		}
		return renderTables(t, MaintenanceReport(runs, nil))
	}
	first, second := run(), run()
	if !bytes.Equal(first, second) {
		t.Errorf("two runs with seed 7 differ:\n%s\n---\n%s", first, second)
	}
}

// TestCodecMatchesComputedSizes runs one build with every message encoded
// and decoded and one with sizes computed: the tables must agree to the
// byte, so the computed sizes are exact and no Machine relies on getting a
// private copy of a message.
func TestCodecMatchesComputedSizes(t *testing.T) {
	for _, mode := range []Mode{Flat, Hier} {
		computed := buildTables(t, Config{Seed: 8, Mode: mode}, 100)
		encoded := buildTables(t, Config{Seed: 8, Mode: mode, Codec: true}, 100)
		if !bytes.Equal(computed, encoded) {
			t.Errorf("%v: tables differ with the codec:\n%s\n---\n%s", mode, computed, encoded)
		}
	}
}
