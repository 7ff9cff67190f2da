package tag

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/yuinet/yui/sensor/importer"
)

// dataPath returns the path of a file under shared/data/sensors in the
// package's folder or the nearest parent that has one, skipping the test
// when there is none: the data sits beside the repository, and a git
// worktree may be nested deeper than a clone.
func dataPath(t testing.TB, rel string) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data", "sensors", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("no shared/data/sensors/%s above the package folder", rel)
		}
		dir = parent
	}
}

func intelSites(t testing.TB) []Point {
	t.Helper()
	locs, _, err := importer.LoadLocationsFile(dataPath(t, "intel-lab/mote_locs.txt"), importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Sort by mote id, so that InferLayout sees the same order each run.
	ids := make([]int, 0, len(locs))
	for id := range locs {
		n, err := strconv.Atoi(id)
		if err != nil {
			t.Fatalf("mote id %q is not a number", id)
		}
		ids = append(ids, n)
	}
	slices.Sort(ids)
	sites := make([]Point, 0, len(ids))
	for _, id := range ids {
		l := locs[strconv.Itoa(id)]
		sites = append(sites, Point{l.X, l.Y})
	}
	return sites
}
