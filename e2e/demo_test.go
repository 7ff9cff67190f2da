package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo runs "yui demo" as a user would, from the project's folder, and
// checks that it imports the ULB readings, returns the same query results
// after nodes stop, and leaves no folder behind.
func TestDemo(t *testing.T) {
	if !sharedDataNear(t, filepath.Join("sensors", "ulb-library1", "R1.txt")) {
		t.Skip("no shared/data/sensors/ulb-library1 in the project's folder or its parents")
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, yuiBin, "demo")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("yui demo: %v\n%s", err, text)
	}
	for _, want := range []string{
		"Imported R1.txt: 7563 readings stored, 0 rows rejected",
		"Imported R2.txt: 11110 readings stored, 0 rows rejected",
		"Imported R3.txt: 11029 readings stored, 0 rows rejected",
		"every answer is identical",
		"All nodes stopped.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("demo left %s in its temporary folder", e.Name())
	}
	t.Logf("yui demo output:\n%s", text)
}

// sharedDataNear reports whether shared/data/rel exists in the working
// folder or one of its parents, where "yui demo" looks for it.
func sharedDataNear(t *testing.T, rel string) bool {
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "data", rel)); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}
