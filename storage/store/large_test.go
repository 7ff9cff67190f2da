package store

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestPutGetOneGiB streams a 1 GiB value of seeded pseudo-random bytes
// through Put and Get on three nodes with Pebble on disk. It compares the
// SHA-256 of what was written and read, and checks that the heap in use
// stays far below the value's size.
func TestPutGetOneGiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 GiB to disk")
	}
	if raceEnabled {
		t.Skip("too slow under the race detector")
	}
	const size = 1 << 30
	const maxHeap = 256 << 20
	c := newClusterOn(t, 3, DefaultNamespaceParams(), true)
	gw := c.node(0)
	ctx := context.Background()
	peak := watchHeap(t)

	start := time.Now()
	written := sha256.New()
	value := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), size), written)
	info, err := gw.store.Put(ctx, "", "large", "v", value, PutOptions{Size: size})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	putTime := time.Since(start)
	if info.Size != size {
		t.Fatalf("Put stored %d bytes, want %d", info.Size, size)
	}

	start = time.Now()
	read := sha256.New()
	if _, err := gw.store.Get(ctx, "", "large", "v", read, GetOptions{}); err != nil {
		t.Fatalf("Get: %v", err)
	}
	getTime := time.Since(start)
	if string(read.Sum(nil)) != string(written.Sum(nil)) {
		t.Fatal("Get returned bytes whose SHA-256 differs from the value written")
	}

	heap := peak()
	t.Logf("1 GiB: Put %v (%.0f MB/s), Get %v (%.0f MB/s), peak heap in use %d MiB",
		putTime.Round(time.Millisecond), size/putTime.Seconds()/1e6,
		getTime.Round(time.Millisecond), size/getTime.Seconds()/1e6, heap>>20)
	if heap > maxHeap {
		t.Errorf("peak heap in use %d MiB, want under %d MiB", heap>>20, maxHeap>>20)
	}
}

// watchHeap samples runtime.MemStats.HeapInuse every 20 ms until the
// returned function is called, which returns the highest sample.
func watchHeap(t *testing.T) func() uint64 {
	stop := make(chan struct{})
	var (
		wg   sync.WaitGroup
		peak uint64
	)
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	finish := func() uint64 {
		once.Do(func() {
			close(stop)
			wg.Wait()
		})
		return peak
	}
	t.Cleanup(func() { finish() })
	return finish
}
