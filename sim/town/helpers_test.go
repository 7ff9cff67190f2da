package town

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// n1 returns the ULB neighbour file N1.txt from the shared data folder
// of this folder or a parent, or the copy of its first 700 lines under
// testdata when the shared data is absent.
func n1(t testing.TB) *ULBData {
	t.Helper()
	n1Once.Do(func() { n1Data, n1Err = loadN1(t) })
	if n1Err != nil {
		t.Fatal(n1Err)
	}
	return n1Data
}

// The tests share one parse of N1.txt, which takes half a second, and do
// not modify it.
var (
	n1Once sync.Once
	n1Data *ULBData
	n1Err  error
)

func loadN1(t testing.TB) (*ULBData, error) {
	path := filepath.Join("testdata", "n1-head.txt")
	if full, ok := findShared(filepath.Join("sensors", "ulb-library1", "N1.txt")); ok {
		path = full
	} else {
		t.Logf("shared data not found; using %s", path)
	}
	return LoadULB(path)
}

func findShared(rel string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		path := filepath.Join(dir, "shared", "data", rel)
		if _, err := os.Stat(path); err == nil {
			return path, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func mustFit(t testing.TB, d *ULBData) Fit {
	t.Helper()
	fit, err := FitULB(d)
	if err != nil {
		t.Fatal(err)
	}
	return fit
}

// yui returns package alert's flood with summaries every 10 seconds.
func yui(t testing.TB) Protocol {
	t.Helper()
	p, err := NewAlertCore(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func store() Protocol { return StoreForward{BeaconInterval: 10 * time.Second} }

func flood(hopLimit int) Protocol {
	return Flood{HopLimit: hopLimit, Retries: 3, AckTimeout: 100 * time.Millisecond}
}

// baseOptions are the options of most tests: 10 ms hops, 10 minutes.
func baseOptions(p Protocol, seed uint64) Options {
	return Options{Protocol: p, HopLatency: 10 * time.Millisecond, Duration: 10 * time.Minute, Seed: seed}
}

func mustRun(t testing.TB, g *Graph, opts Options) Result {
	t.Helper()
	r, err := Run(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lineGraph links relays 0, 1, ..., n-1 in a line with lossless links.
func lineGraph(n int) *Graph {
	g := &Graph{Nodes: make([]Node, n), Links: make([][]Link, n)}
	for k := range n - 1 {
		g.Links[k] = append(g.Links[k], Link{Receiver: int32(k + 1), Delivery: 1})
		g.Links[k+1] = append(g.Links[k+1], Link{Receiver: int32(k), Delivery: 1})
	}
	return g
}
