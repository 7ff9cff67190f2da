package node

import (
	"sync/atomic"
	"testing"
)

// TestStopWhileStarting starts goroutines from many others
// while stop runs, as message handlers do while a node shuts down. Under
// the race detector a bare WaitGroup fails this test: Add may race with
// Wait.
func TestStopWhileStarting(t *testing.T) {
	for range 50 {
		var g goroutines
		var ran, rejected, started atomic.Int64
		release := make(chan struct{})
		var starters goroutines
		for range 8 {
			starters.Go(func() {
				<-release
				for range 20 {
					if g.Go(func() { ran.Add(1) }) {
						started.Add(1)
					} else {
						rejected.Add(1)
					}
				}
			})
		}
		close(release)
		g.stop()
		done := ran.Load()
		starters.stop()

		if done != started.Load() {
			t.Fatalf("stop returned with %d goroutines run of %d started", done, started.Load())
		}
		if got := started.Load() + rejected.Load(); got != 8*20 {
			t.Fatalf("%d calls of Go accounted for, want %d", got, 8*20)
		}
		if g.Go(func() { t.Error("a goroutine ran after stop") }) {
			t.Fatal("Go after stop returned true")
		}
	}
}
