package sim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/kademlia"
)

// planetLabPath is the measured RTT matrix, beside the project's folder.
const planetLabPath = "../../shared/data/latency/planetlab-490-rtt-ms.tsv"

// testLinks returns the PlanetLab link model, or a small synthetic one of
// four sites when the matrix is not there.
func testLinks(t testing.TB) *Links {
	t.Helper()
	m, err := LoadRTT(planetLabPath)
	if err != nil {
		m, err = ParseRTT(strings.NewReader("0\t20\t80\t150\n22\t0\t70\t160\n85\t75\t0\t90\n140\t150\t95\t0\n"))
		if err != nil {
			t.Fatal(err)
		}
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
