package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestCrashDuringWrites writes a stream of records through one node while
// other nodes are killed with SIGKILL and started again, up to two down
// at a time. Every write that was acknowledged must read back byte-exact
// afterwards. A write that failed may be absent, but if it reads back it
// must be byte-exact too: a crash may lose an unacknowledged write, never
// corrupt one.
func TestCrashDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes; skipped in -short mode")
	}
	if raceEnabled {
		t.Skip("runs for about 100 s, more than the race step's budget for the e2e tests; scripts/test runs this test without the race detector")
	}
	const (
		nodes   = 20
		user    = "crash"
		ns      = "crash"
		writers = 3
		// The kills go on for at least minChurn and until minAcked writes
		// were acknowledged, at most maxChurn.
		minChurn = 20 * time.Second
		maxChurn = 2 * time.Minute
		minAcked = 40
	)
	// Values from 100 bytes to 1.5 MiB cover values sealed inline in
	// their record versions and values of one and two chunks.
	sizes := []int{100, 3000, 200 << 10, 1536 << 10}
	seed := uint64(time.Now().UnixNano())
	t.Logf("records and victims come from seed %d", seed)

	c := newCluster(t)
	c.shareUserKeys(user, nodes)
	c.start(nodes)
	c.waitOverlay(nodes-1, time.Minute)
	client := c.nodes[0]

	// One write creates the namespace before the writers start.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	first := newRecord("first", []byte("creates the namespace"), "text/plain")
	if err := putRecord(ctx, client, user, ns, first); err != nil {
		t.Fatalf("first write: %v", err)
	}

	var (
		mu      sync.Mutex
		acked   = []storeRecord{first}
		failed  []storeRecord
		reasons []string // the first few errors of failed writes
		stop    = make(chan struct{})
		writing sync.WaitGroup
	)
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for w := range writers {
		writing.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := randomRecord(rng, fmt.Sprintf("w%d/%05d", w, i), sizes[rng.IntN(len(sizes))])
				wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
				err := putRecord(wctx, client, user, ns, r)
				wcancel()
				r.value = nil
				mu.Lock()
				if err == nil {
					acked = append(acked, r)
				} else {
					failed = append(failed, r)
					if len(reasons) < 3 {
						reasons = append(reasons, err.Error())
					}
				}
				mu.Unlock()
			}
		})
	}

	// Kill a random node other than the client's every 1.5 s and start
	// it again 3 s later, so that up to two nodes are down at a time.
	rng := rand.New(rand.NewPCG(seed, 99))
	var restarts sync.WaitGroup
	kills := 0
	churnStart := time.Now()
	for time.Since(churnStart) < minChurn || ackedCount() < minAcked {
		if time.Since(churnStart) > maxChurn {
			break
		}
		victim := pickVictims(rng, c.readyNodes(), client, 1)[0]
		victim.kill()
		kills++
		restarts.Go(func() {
			time.Sleep(3 * time.Second)
			if err := victim.start(); err != nil {
				t.Error(err)
				return
			}
			if err := victim.waitReady(30 * time.Second); err != nil {
				t.Error(err)
			}
		})
		time.Sleep(1500 * time.Millisecond)
	}
	close(stop)
	writing.Wait()
	restarts.Wait()
	t.Logf("%d writes acknowledged and %d failed in %s while %d nodes were killed with SIGKILL and restarted",
		len(acked), len(failed), time.Since(churnStart).Round(time.Second), kills)
	for _, reason := range reasons {
		t.Logf("a write failed with: %s", reason)
	}
	if len(acked) < minAcked {
		t.Fatalf("only %d writes acknowledged in %s; the cluster did not keep accepting writes", len(acked), maxChurn)
	}

	c.waitOverlay(nodes/2, time.Minute)
	// A write that failed part-way may leave a few shards of a chunk that
	// no record refers to, which repair counts as lost. Only the reads
	// below tell whether a record was lost.
	if lost := c.repairAll(ctx); lost > 0 {
		t.Logf("repair found %d chunks with fewer than their data shards left; the reads below show whether a record lost one", lost)
	}
	checkAllReadable(t, "acknowledged writes after crashes", c.readers(client, 3), user, ns, acked)
	checkNeverCorrupt(t, ctx, client, user, ns, failed)
}

// checkNeverCorrupt reads each record whose write failed. It may be
// absent, but a record that reads back must be byte-exact.
func checkNeverCorrupt(t *testing.T, ctx context.Context, gw *localNode, user, ns string, records []storeRecord) {
	t.Helper()
	absent, exact := 0, 0
	for _, r := range records {
		err := verifyRecord(ctx, gw, user, ns, r)
		switch {
		case err == nil:
			exact++
		case errors.Is(err, api.ErrNotFound):
			absent++
		default:
			t.Errorf("write that failed: %v", err)
		}
	}
	t.Logf("of %d writes that failed, %d are absent and %d read back byte-exact", len(records), absent, exact)
}

// readyNodes returns the nodes that serve their API.
func (c *cluster) readyNodes() []*localNode {
	var out []*localNode
	for _, n := range c.nodes {
		if n.apiClient() != nil {
			out = append(out, n)
		}
	}
	return out
}
