package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/store"
)

// grantTestRecords is how many records the grant tests write: enough
// that re-wrapping them takes longer than the short client timeouts the
// tests use, and more than the 4 batches of 128 that run at once.
// BenchmarkGrantRewrap writes grantBenchRecords.
const (
	grantTestRecords  = 1500
	grantBenchRecords = 3000
)

// putManyRecords writes n small records to namespace ns through client,
// in batches.
func putManyRecords(tb testing.TB, client *api.Client, ns string, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const batch = 1000
	for start := 0; start < n; start += batch {
		var lines []api.BatchLine
		for i := start; i < min(n, start+batch); i++ {
			value := fmt.Sprintf("reading %d", i)
			lines = append(lines, api.BatchLine{Key: fmt.Sprintf("r/%05d", i), Value: &value})
		}
		if _, err := client.PutBatch(ctx, "", ns, lines); err != nil {
			tb.Fatalf("put records %d to %d: %v", start, start+len(lines), err)
		}
	}
}

// countReadable returns how many records of ns the user of client can
// read.
func countReadable(t *testing.T, client *api.Client, user, ns string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := client.ListRecords(ctx, user, ns, "")
	if err != nil {
		t.Logf("list %s as %q: %v", ns, user, err)
		return -1
	}
	return len(recs)
}

// TestGrantOutlivesClient checks that a read grant whose client gives up
// early still reaches every existing record: the node finishes wrapping
// their keys for the new reader.
func TestGrantOutlivesClient(t *testing.T) {
	nodes, clients := startTrio(t)
	putManyRecords(t, clients[0], "air", grantTestRecords)

	ctx := context.Background()
	reader, err := clients[2].CreateUser(ctx, "other")
	if err != nil {
		t.Fatalf("create reader: %v", err)
	}
	g := api.Grant{User: "other", PublicKeys: reader.PublicKeys, Right: api.RightRead}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = clients[0].Grant(short, "", "air", g)
	cancel()
	t.Logf("grant with a 300 ms client timeout: %v", err)

	waitWithin(t, "the reader to read every record", 5*time.Minute, func() bool {
		task, _ := nodes[0].grants.latest("air", "other")
		if task.State == api.GrantFailed {
			t.Fatalf("grant task failed: %s", task.Error)
		}
		n := countReadable(t, clients[2], "other", "air")
		t.Logf("reader can read %d of %d records; task %s, %d of %d re-wrapped", n, grantTestRecords,
			task.State, task.Rewrapped, task.Total)
		if n < grantTestRecords {
			time.Sleep(time.Second)
		}
		return n == grantTestRecords
	})
}

// BenchmarkGrantRewrap measures how fast a read grant wraps the keys of
// existing records for the new reader, on three nodes on loopback.
func BenchmarkGrantRewrap(b *testing.B) {
	base := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*Node
	for i := range 3 {
		var boot []string
		if i > 0 {
			boot = []string{nodes[0].Addr().String()}
		}
		nd, err := Start(context.Background(), Config{DataDir: filepath.Join(base, strconv.Itoa(i)), Listen: "127.0.0.1:0",
			API: "127.0.0.1:0", Bootstrap: boot, DiscoveryPort: -1, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
	}
	for _, n := range nodes {
		for len(n.Peers()) < 2 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	owner := api.NewClient(nodes[0].APIAddr())
	other := api.NewClient(nodes[2].APIAddr())
	putManyRecords(b, owner, "air", grantBenchRecords)

	ctx := context.Background()
	i := 0
	for b.Loop() {
		b.StopTimer()
		name := fmt.Sprintf("reader-%d", i)
		i++
		u, err := other.CreateUser(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := owner.Grant(ctx, "", "air", api.Grant{User: name, PublicKeys: u.PublicKeys, Right: api.RightRead}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(grantBenchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestGrantRerunIsIncremental checks that a grant whose re-wrap stopped
// partway, as when its node stops, finishes the rest when sent again,
// and that the same grant sent once more re-wraps nothing.
func TestGrantRerunIsIncremental(t *testing.T) {
	nodes, clients := startTrio(t)
	putManyRecords(t, clients[0], "air", grantTestRecords)
	ctx := context.Background()
	reader, err := clients[2].CreateUser(ctx, "other")
	if err != nil {
		t.Fatalf("create reader: %v", err)
	}

	grantee := store.PublicUser{Name: "other", Keys: reader.PublicKeys}
	rw, err := nodes[0].storage.store.GrantAccess(ctx, api.DefaultUser, "air", "", grantee, store.Read)
	if err != nil {
		t.Fatalf("grant access: %v", err)
	}
	stop, cancel := context.WithCancel(ctx)
	first, err := rw.Run(stop, func(p store.RewrapProgress) {
		if p.Rewrapped > 0 {
			cancel()
		}
	})
	cancel()
	t.Logf("first run: %+v, %v", first, err)
	if err == nil {
		t.Fatal("first run ended without error although it was cancelled")
	}
	if first.Rewrapped == 0 || first.Rewrapped >= grantTestRecords {
		t.Fatalf("first run re-wrapped %d of %d records, want some but not all", first.Rewrapped, grantTestRecords)
	}

	g := api.Grant{User: "other", PublicKeys: reader.PublicKeys, Right: api.RightRead}
	task, err := clients[0].StartGrant(ctx, "", "air", g)
	if err != nil {
		t.Fatalf("grant again: %v", err)
	}
	task, err = clients[0].WaitGrant(ctx, "", task, nil)
	if err != nil {
		t.Fatalf("wait for the grant sent again: %v", err)
	}
	t.Logf("second run: %+v", task)
	if task.Already < first.Rewrapped {
		t.Errorf("second run found %d records re-wrapped already, want at least the first run's %d", task.Already, first.Rewrapped)
	}
	if task.Already+task.Total != grantTestRecords {
		t.Errorf("second run: %d already + %d to do, want %d records", task.Already, task.Total, grantTestRecords)
	}
	if task.Rewrapped != task.Total {
		t.Errorf("second run re-wrapped %d of %d records", task.Rewrapped, task.Total)
	}
	if n := countReadable(t, clients[2], "other", "air"); n != grantTestRecords {
		t.Errorf("reader can read %d of %d records", n, grantTestRecords)
	}

	task, err = clients[0].StartGrant(ctx, "", "air", g)
	if err != nil {
		t.Fatalf("grant a third time: %v", err)
	}
	task, err = clients[0].WaitGrant(ctx, "", task, nil)
	if err != nil {
		t.Fatalf("wait for the third grant: %v", err)
	}
	if task.Total != 0 || task.Already != grantTestRecords {
		t.Errorf("third run: %d to re-wrap, %d already, want 0 and %d", task.Total, task.Already, grantTestRecords)
	}

	_, err = clients[0].GrantTask(ctx, "", "air", "0000")
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("state of an unknown grant task: error %v, want ErrNotFound", err)
	}
	_, err = clients[1].GrantTask(ctx, "", "air", task.ID)
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("state of a grant task asked at another node: error %v, want ErrNotFound", err)
	}
}

// TestGrantAdviceFollowsTask checks the advice a job submission gives
// for a reader that cannot read: it depends on the last grant task to
// that reader on the node.
func TestGrantAdviceFollowsTask(t *testing.T) {
	n := &Node{grants: newGrantTasks(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	defer n.grants.close()
	command := `'yui grant air "" other read --keys FILE'`

	advice := n.grantAdvice("air", "", "other")
	if !strings.Contains(advice, "grant it with "+command) || !strings.Contains(advice, "run it again") {
		t.Errorf("advice without a task = %q, want the command and to run it again", advice)
	}

	failed := &grantTask{owner: api.DefaultUser, started: time.Now(), info: api.GrantTask{ID: "1", Namespace: "air",
		User: "other", Right: api.RightRead, State: api.GrantFailed, Total: 3000, Rewrapped: 2048}}
	n.grants.byID[failed.info.ID] = failed
	advice = n.grantAdvice("air", "", "other")
	if !strings.Contains(advice, "stopped after re-wrapping 2048 of 3000") {
		t.Errorf("advice after a failed task = %q, want its progress", advice)
	}
	if !strings.Contains(advice, "run "+command+" again") {
		t.Errorf("advice after a failed task = %q, want the command to run again", advice)
	}

	running := &grantTask{owner: api.DefaultUser, started: time.Now(), info: api.GrantTask{ID: "2", Namespace: "air",
		User: "other", Right: api.RightRead, State: api.GrantRunning, Total: 3000, Rewrapped: 512}}
	n.grants.byID[running.info.ID] = running
	advice = n.grantAdvice("air", "", "other")
	if !strings.Contains(advice, "still re-wrapping") || !strings.Contains(advice, "512 of 3000") {
		t.Errorf("advice during a running task = %q, want it to name the task's progress", advice)
	}

	if advice := n.grantAdvice("water", "", "other"); strings.Contains(advice, "3000") {
		t.Errorf("advice for another namespace = %q, mentions a task of air", advice)
	}
}
