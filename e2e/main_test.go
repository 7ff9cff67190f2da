// Package e2e holds end-to-end tests that run real yui processes, in
// network namespaces where they need several hosts. They need root and
// iproute2, and skip without them.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// yuiBin is the yui binary built once for all tests.
var yuiBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "yui-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create folder for the binary:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	yuiBin = filepath.Join(dir, "yui")
	build := exec.Command("go", "build", "-o", yuiBin, "../cmd/yui")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build yui:", err)
		return 1
	}
	return m.Run()
}
