package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestStoreBatchCLI writes 600 small records with 'yui put --batch' and
// reads them back with 'yui get --batch', which needs two requests of at
// most 512 keys. The output must be the input lines again, and a key that
// does not exist must be named on standard error with exit status 1.
func TestStoreBatchCLI(t *testing.T) {
	ns := loopbackNS(t)
	first := startNode(t, ns, "cli-a", loopbackArgs...)
	first.waitStarted(t)
	s, err := first.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	join := append(slices.Clone(loopbackArgs), "--bootstrap", s.Listen)
	others := []*process{startNode(t, ns, "cli-b", join...), startNode(t, ns, "cli-c", join...)}
	for _, p := range others {
		p.waitStarted(t)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var lines, keys []string
	for i := range 600 {
		value := []byte(fmt.Sprintf(`{"sensor":"s%02d","temp":%d.%d}`, i%7, 15+i%10, i%10))
		if i%100 == 0 {
			value = []byte{0xff, 0x00, byte(i)} // not UTF-8, so it travels as base64
		}
		key := fmt.Sprintf("readings/%04d", i)
		line, err := json.Marshal(api.NewBatchLine(key, value, "application/json"))
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(line))
		keys = append(keys, key)
	}
	input := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := first.yui(ctx, "put", "lab", "--batch", input); err != nil {
		t.Fatalf("put --batch: %v: %s", err, out)
	}

	// Read with one missing key among the others and a blank line, which
	// is skipped, with the line ends of a file written on Windows.
	query := slices.Concat(keys[:300], []string{"readings/missing", ""}, keys[300:])
	cmd := ns.Command(ctx, yuiBin, "get", "lab", "--batch", "--data-dir", first.dataDir)
	cmd.Stdin = strings.NewReader(strings.Join(query, "\r\n") + "\r\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("standard error of get --batch:\n%s", stderr.String())

	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("get --batch with a missing key: %v, want exit status 1; standard error:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"readings/missing"`) {
		t.Errorf("standard error does not name the missing key:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "1 of 601 records") {
		t.Errorf("standard error does not count the failure:\n%s", stderr.String())
	}
	got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(got) != len(lines) {
		t.Fatalf("get --batch printed %d lines, want %d", len(got), len(lines))
	}
	for i := range lines {
		if got[i] != lines[i] {
			t.Errorf("line %d: %s, want %s", i+1, got[i], lines[i])
		}
	}
}
