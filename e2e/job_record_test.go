package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestJobStatusAfterRestart runs a job with percentiles and a histogram
// through the yui binary on three nodes. It then stops every node with
// SIGTERM and starts them again on the same data folders: 'yui job ls'
// must list the job, and 'yui job status' must print the same result as
// before the restart.
func TestJobStatusAfterRestart(t *testing.T) {
	c := startJobCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := c.nodes[0].dataDir
	c.importHead(ctx, 1500)
	yui := func(args ...string) string {
		t.Helper()
		out, err := c.ns.Command(ctx, yuiBin, append(args, "--data-dir", dir)...).Output()
		if err != nil {
			t.Fatalf("yui %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	id := strings.TrimSpace(yui("job", "run", "library", "--agg", "count,mean,p50,p99", "--histogram", "temperature=18,20,22,24",
		"--by", "sensor", "--reader", jobReader, "--detach"))
	var before string
	for {
		before = yui("job", "status", id)
		if strings.HasPrefix(before, "done:") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s did not finish: %s", id, before)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !strings.Contains(before, "HISTOGRAM") || !strings.Contains(before, "P99") || !strings.Contains(before, "temperature") {
		t.Fatalf("status before the restart lacks the histogram, p99 or temperature:\n%s", before)
	}
	waitLog(t, c.nodes[0], "stored job result", 30*time.Second)

	for _, d := range c.nodes {
		if _, ok := d.terminate(20 * time.Second); !ok {
			t.Logf("%s did not stop within 20 s and was killed", d.name)
		}
	}
	first := startDaemon(t, c.ns, "job-1-again", dir, append(loopbackArgs, "--mqtt", "off")...)
	boot := first.waitStarted(t).Listen
	again := []*daemon{first}
	for i, d := range c.nodes[1:] {
		args := append(append([]string{}, loopbackArgs...), "--bootstrap", boot, "--mqtt", "off")
		again = append(again, startDaemon(t, c.ns, fmt.Sprintf("job-%d-again", i+2), d.dataDir, args...))
	}
	for _, d := range again {
		waitDaemonPeers(t, d, 2)
	}

	var list string
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(list, id) && time.Now().Before(deadline) {
		out, _ := c.ns.Command(ctx, yuiBin, "job", "ls", "--data-dir", dir).Output()
		list = string(out)
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(list, id) || !strings.Contains(list, "library") {
		t.Fatalf("yui job ls after the restart:\n%s\nwant job %s of library", list, id)
	}
	var listed []api.JobInfo
	if err := json.Unmarshal([]byte(yui("job", "ls", "--json")), &listed); err != nil {
		t.Fatalf("yui job ls --json: %v", err)
	}
	if len(listed) != 1 || listed[0].ID != id || listed[0].Namespace != "library" || listed[0].State != "done" {
		t.Errorf("yui job ls --json = %+v, want job %s of library, done", listed, id)
	}
	if after := yui("job", "status", id); after != before {
		t.Errorf("yui job status after the restart:\n%s\nwant the output before:\n%s", after, before)
	}
}

// waitLog waits until d's log contains text.
func waitLog(t *testing.T, d *daemon, text string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(d.log.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v", d.name, text, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// importHead imports the first n lines of R1.txt into "library" through
// the first node: enough for a job's result, and quicker than the whole
// file.
func (c *jobCluster) importHead(ctx context.Context, n int) {
	t := c.t
	data, err := os.ReadFile(sharedSensorData(t, "ulb-library1/R1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	path := filepath.Join(t.TempDir(), "R1-head.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines[:n], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := c.ns.Command(ctx, yuiBin, "import", path, "--ns", "library", "--map", "ulb", "--data-dir", c.nodes[0].dataDir).CombinedOutput()
	if want := fmt.Sprintf("%d rows read, %d stored, 0 rejected", n, n); err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("import: %v: %s", err, out)
	}
}
