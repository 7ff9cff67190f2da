package node

import "sync"

// goroutines tracks the goroutines a service starts, so that stopping
// the service can wait for them. Unlike a bare sync.WaitGroup, it rejects
// new goroutines once stop has begun. A WaitGroup's Add must not race
// with its Wait while the count may be zero, and a message handler can
// start a goroutine at any moment, also while its node shuts down.
type goroutines struct {
	mu      sync.RWMutex
	stopped bool
	wg      sync.WaitGroup
}

// Go runs f on a new goroutine and returns true, or returns false
// without running f once stop has been called.
func (g *goroutines) Go(f func()) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.stopped {
		return false
	}
	g.wg.Go(f)
	return true
}

// stop rejects new goroutines and waits for those running to return.
// It is safe to call more than once.
func (g *goroutines) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.wg.Wait()
}
