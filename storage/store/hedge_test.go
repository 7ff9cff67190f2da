package store

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/yuinet/yui/network/wire"
)

func TestHedgeStartsNextAfterDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cancelled atomic.Bool
		start := time.Now()
		f := fanout{n: 5, want: 2, delay: 50 * time.Millisecond}
		got := hedge(t.Context(), f, func(ctx context.Context, i int) bool {
			if i == 0 {
				<-ctx.Done() // a candidate that never responds
				cancelled.Store(true)
				return false
			}
			time.Sleep(10 * time.Millisecond)
			return true
		})
		if got != 2 {
			t.Fatalf("hedge = %d successes, want 2", got)
		}
		// Candidate 1 responds at 10 ms. Candidate 2 starts after one
		// delay and responds 10 ms later.
		if elapsed := time.Since(start); elapsed != 60*time.Millisecond {
			t.Errorf("hedge took %v, want 60ms", elapsed)
		}
		if !cancelled.Load() {
			t.Error("the call that never responded was not cancelled before hedge returned")
		}
	})
}

func TestHedgeReplacesFailureAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var started atomic.Int32
		start := time.Now()
		f := fanout{n: 4, want: 2, delay: time.Hour}
		got := hedge(t.Context(), f, func(ctx context.Context, i int) bool {
			started.Add(1)
			return i != 0
		})
		if got != 2 || started.Load() != 3 {
			t.Fatalf("hedge = %d successes after %d calls, want 2 after 3", got, started.Load())
		}
		if elapsed := time.Since(start); elapsed != 0 {
			t.Errorf("hedge waited %v, want no wait after a failure", elapsed)
		}
	})
}

// TestStalledHolderCostsLittle stalls a directory and shard holder that
// is still listed as live, as a node that stopped answering but is not
// yet evicted, and checks in virtual time that a Get and a Put cost far
// less than the 10 s request timeout.
func TestStalledHolderCostsLittle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 6, smallParams(2, 2, 3))
		ctx := context.Background()
		gw := c.node(0)
		value := testValue(3*(64<<10)+100, 5)
		if _, err := gw.store.Put(ctx, "", "slow", "v", bytes.NewReader(value), PutOptions{}); err != nil {
			t.Fatal(err)
		}
		// A first read measures the holders' latency.
		if _, err := gw.store.Get(ctx, "", "slow", "v", &bytes.Buffer{}, GetOptions{}); err != nil {
			t.Fatal(err)
		}

		// Stall the closest directory holder other than the gateway: it
		// is asked first for the record and holds shard 0 of every
		// chunk it is closest to.
		var victim *testNode
		for _, cand := range sortByDistance(DirectoryID("slow", 0), contactsOf(c.live())) {
			if cand.ID != gw.id.ID {
				victim = nodeByID(c, cand)
				break
			}
		}
		var stalled atomic.Int64
		victim.setIntercept(func(ctx context.Context, _ wire.Message) wire.Message {
			stalled.Add(1)
			<-ctx.Done()
			return &wire.Error{Code: wire.CodeInternal, Message: "stalled"}
		})

		start := time.Now()
		var got bytes.Buffer
		if _, err := gw.store.Get(ctx, "", "slow", "v", &got, GetOptions{}); err != nil {
			t.Fatalf("Get with a stalled holder: %v", err)
		}
		getTime := time.Since(start)
		if !bytes.Equal(got.Bytes(), value) {
			t.Fatal("Get with a stalled holder returned different bytes")
		}
		if stalled.Load() == 0 {
			t.Fatal("the stalled holder was never asked, so the test shows nothing")
		}

		start = time.Now()
		if _, err := gw.store.Put(ctx, "", "slow", "v", bytes.NewReader(value), PutOptions{}); err != nil {
			t.Fatalf("Put with a stalled holder: %v", err)
		}
		putTime := time.Since(start)
		t.Logf("virtual time with a stalled holder: Get %v, Put %v", getTime, putTime)

		timeout := 10 * time.Second // Config.RequestTimeout's default
		if getTime > timeout/10 {
			t.Errorf("Get with a stalled holder took %v, want at most a tenth of the %v request timeout", getTime, timeout)
		}
		if putTime > timeout/2 {
			t.Errorf("Put with a stalled holder took %v, want at most half of the %v request timeout", putTime, timeout)
		}
	})
}

func nodeByID(c *testCluster, contact wire.Contact) *testNode {
	for _, n := range c.live() {
		if n.id.ID == contact.ID {
			return n
		}
	}
	return nil
}

func TestGraceScalesWithFirstResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGrace(10 * time.Millisecond)
		if g.over() {
			t.Fatal("grace over before any good response")
		}
		time.Sleep(100 * time.Millisecond)
		g.good()
		time.Sleep(50 * time.Millisecond)
		if g.over() {
			t.Error("grace over 50ms after a response that took 100ms")
		}
		time.Sleep(50 * time.Millisecond)
		if !g.over() {
			t.Error("grace not over 100ms after a response that took 100ms")
		}
	})
}

func TestPlaceEachBacksUpOnlyOutliers(t *testing.T) {
	cands := contacts(5)
	tests := []struct {
		name      string
		slow      func(id byte) time.Duration // how long a put to a candidate takes
		wantPuts  int32
		wantTaken time.Duration
	}{
		{"one stalled holder is backed up", func(id byte) time.Duration {
			if id == 1 {
				return time.Hour
			}
			return 10 * time.Millisecond
		}, 4, time.Second + 10*time.Millisecond},
		{"all slow is left alone", func(byte) time.Duration { return 2500 * time.Millisecond }, 3, 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var puts atomic.Int32
				start := time.Now()
				placed, err := placeEach(t.Context(), cands, 3, time.Second, func(ctx context.Context, _ int, c wire.Contact) error {
					puts.Add(1)
					select {
					case <-time.After(tt.slow(c.ID[0])):
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if err != nil {
					t.Fatalf("placeEach: %v", err)
				}
				if len(placed) != 3 {
					t.Fatalf("placed %d copies, want 3", len(placed))
				}
				if got := puts.Load(); got != tt.wantPuts {
					t.Errorf("placeEach made %d puts, want %d", got, tt.wantPuts)
				}
				if took := time.Since(start); took != tt.wantTaken {
					t.Errorf("placeEach took %v, want %v", took, tt.wantTaken)
				}
			})
		})
	}
}
