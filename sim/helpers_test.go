package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/yuinet/yui/network/kademlia"
)

// planetLabFile is the measured RTT matrix under shared/data.
const planetLabFile = "shared/data/latency/planetlab-490-rtt-ms.tsv"

// planetLabPath returns the path of the measured RTT matrix in the
// nearest folder above the package that has it. The tests' figures
// depend on it, so a missing matrix fails the test instead of falling
// back to a made-up one.
func planetLabPath(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, planetLabFile)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("%s not found in any folder above the package", planetLabFile)
		}
		dir = parent
	}
}

// testLinks returns the PlanetLab link model.
func testLinks(t testing.TB) *Links {
	t.Helper()
	m, err := LoadRTT(planetLabPath(t))
	if err != nil {
		t.Fatal(err)
	}
	return NewLinks(m, LinkOptions{})
}

// newTestNetwork returns an empty network with the sim's memory-saving
// Kademlia settings.
func newTestNetwork(t testing.TB, cfg Config) *Network {
	t.Helper()
	if cfg.Links == nil {
		cfg.Links = testLinks(t)
	}
	if cfg.Kademlia == (kademlia.Config{}) {
		cfg.Kademlia = kademlia.Config{ReplacementCache: 2}
	}
	n, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// renderTables writes every table of a report, other than the perf one,
// as CSV into one buffer.
func renderTables(t testing.TB, rep Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, tab := range rep.Tables {
		buf.WriteString("# " + tab.Name + "\n")
		if err := tab.Write(&buf, CSV); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
