package sandbox

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed modules match their sources: rebuilding them as go
// generate does gives the same bytes, because -trimpath builds are
// reproducible with one toolchain.
func TestModulesFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two WebAssembly modules; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to rebuild the modules")
	}
	dir := t.TempDir()
	for _, name := range []string{"fahrenheit", "misbehave"} {
		out := filepath.Join(dir, name+".wasm")
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/"+name)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, msg)
		}
		built, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := readModule(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(built, committed) {
			t.Errorf("testdata/%s.wasm is stale: run go generate ./job/sandbox", name)
		}
	}
}
