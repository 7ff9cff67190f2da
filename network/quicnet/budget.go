package quicnet

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// budget is a number of bytes that frame readers reserve before they
// allocate a frame body, and release once the body is decoded. A reader
// whose reservation does not fit waits. Waiters are served in arrival
// order, so a run of small frames cannot starve a large one.
type budget struct {
	size int // bytes in total, set at construction

	mu      sync.Mutex
	free    int
	waiters list.List // of *reservation, oldest first
}

// reservation is a reader waiting for budget.
type reservation struct {
	n     int
	ready chan struct{} // closed once the n bytes are taken for the reader
}

func newBudget(size int) *budget {
	return &budget{size: size, free: size}
}

// reserve takes n bytes, waiting until they are free or ctx ends. A
// reservation larger than the budget waits until ctx ends.
func (b *budget) reserve(ctx context.Context, n int) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && n <= b.free {
		b.free -= n
		b.mu.Unlock()
		return nil
	}
	r := &reservation{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(r)
	b.mu.Unlock()

	select {
	case <-r.ready:
		return nil
	case <-ctx.Done():
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-r.ready:
		// Granted while ctx ended, so the bytes go back.
		b.free += n
	default:
		b.waiters.Remove(elem)
	}
	// The waiter may have been the oldest one, blocking those behind it.
	b.grant()
	return context.Cause(ctx)
}

// release returns n bytes taken by reserve.
func (b *budget) release(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	b.grant()
}

// used returns the bytes reserved now.
func (b *budget) used() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.free
}

// grant hands free bytes to the oldest waiters that fit, stopping at the
// first that does not. The caller holds b.mu.
func (b *budget) grant() {
	for front := b.waiters.Front(); front != nil; front = b.waiters.Front() {
		r := front.Value.(*reservation)
		if r.n > b.free {
			return
		}
		b.free -= r.n
		b.waiters.Remove(front)
		close(r.ready)
	}
}

// budgets is the chain of budgets that a connection's frame bodies are
// reserved against, narrowest first: the connection's own, the one
// shared by the connections to the same IP address, and the transport's.
// Because a reader takes them in this order, a reader waiting for a
// shared budget never holds a narrower budget that a holder of the shared
// one waits for, so the chain cannot deadlock. A peer that has used up its
// connection's budget waits on its own streams and takes nothing more
// from the shared budgets.
type budgets []*budget

// reserve takes n bytes from every budget, or none if ctx ends first.
func (bs budgets) reserve(ctx context.Context, n int) error {
	for i, b := range bs {
		if err := b.reserve(ctx, n); err != nil {
			bs[:i].release(n)
			return fmt.Errorf("quicnet: wait for %d bytes of frame buffer: %w", n, err)
		}
	}
	return nil
}

// release returns n bytes to every budget.
func (bs budgets) release(n int) {
	for _, b := range bs {
		b.release(n)
	}
}
