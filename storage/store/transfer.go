package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// spareCandidates is how many nodes beyond the ones needed a lookup
// returns, as substitutes for holders that fail or refuse.
const spareCandidates = 8

// lateSpare is how many candidates beyond a chunk's Total repair, and a
// read that misses its first choices, request the list of held shards
// from: at least Total more. Shards stay where they were written until
// repair moves them, and after the network doubled in size their holders
// lie among the 2·Total closest.
func lateSpare(total int) int { return max(spareCandidates, total) }

// terminal reports whether a holder's refusal would be repeated by every
// other holder, so that substituting is pointless.
func terminal(err error) bool {
	code := errorCode(err)
	return code == wire.CodeForbidden || code == wire.CodeBadRequest
}

// replicate runs put on the n closest holders of target, each failure
// replaced by the next closest candidate. With fewer candidates than n it
// needs all of them (ScaledReplicas). It returns the holders that stored.
// The latency of requests of type t sets the attempt timeout after which
// a slow holder is backed up by another.
func (s *Store) replicate(ctx context.Context, target identity.NodeID, n int, t wire.Type, put func(ctx context.Context, c wire.Contact) error) ([]wire.Contact, error) {
	cands, err := s.closest(ctx, target, n+spareCandidates)
	if err != nil {
		return nil, err
	}
	want := ScaledReplicas(n, len(cands))
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no holder found for %s", ErrUnavailable, target.Short())
	}
	attempt := s.rtt.attemptTimeout(t, s.cfg.RequestTimeout)
	return placeEach(ctx, cands, want, attempt, func(ctx context.Context, _ int, c wire.Contact) error { return put(ctx, c) })
}

// placeEach runs put for slots 0..want-1. Slot i first tries cands[i],
// or cands[i mod len(cands)] when there are fewer candidates than slots.
// A slot whose candidate fails, or has not responded within attempt while
// half of the slots are filled, also tries the next unused candidate after
// the first want, and the first to store fills the slot. A slow holder is thus backed up after one attempt
// timeout instead of stalling the write for the whole request timeout,
// and still fills its slot if it responds first. It returns the holder of
// each slot, in slot order. When a slot stays empty it returns the holders
// of the filled slots, a zero contact for the others, and an error
// wrapping ErrUnavailable. After a refusal that every holder would repeat
// it returns only the error.
func placeEach(ctx context.Context, cands []wire.Contact, want int, attempt time.Duration, put func(ctx context.Context, slot int, c wire.Contact) error) ([]wire.Contact, error) {
	p := &placement{cands: cands, want: want, attempt: attempt, put: put, next: min(want, len(cands))}
	placed := make([]wire.Contact, want)
	ok := make([]bool, want)
	var wg sync.WaitGroup
	for slot := range want {
		wg.Go(func() { placed[slot], ok[slot] = p.fill(ctx, slot) })
	}
	wg.Wait()
	if p.fatal != nil {
		return nil, p.fatal
	}
	for slot := range want {
		if !ok[slot] {
			return placed, fmt.Errorf("%w: stored %d of %d copies; first failure: %w", ErrUnavailable, countTrue(ok), want, p.firstErr)
		}
	}
	return placed, nil
}

// placement is the state of one placeEach.
type placement struct {
	cands   []wire.Contact
	want    int
	attempt time.Duration
	put     func(ctx context.Context, slot int, c wire.Contact) error

	mu       sync.Mutex // guards the fields below
	filled   int        // slots stored
	next     int        // the next unused candidate
	firstErr error
	fatal    error // a refusal every holder would repeat
}

// takeNext returns the next unused candidate, if any.
func (p *placement) takeNext() (wire.Contact, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= len(p.cands) || p.fatal != nil {
		return wire.Contact{}, false
	}
	p.next++
	return p.cands[p.next-1], true
}

// outlier reports whether at least half of the slots are filled, so that
// a slot still waiting is slower than the rest. When no slot is filled
// yet, every holder is slow, as on an overloaded machine, and a backup
// would only add load and a spare copy.
func (p *placement) outlier() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return 2*p.filled >= p.want
}

func (p *placement) stored() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.filled++
}

func (p *placement) failed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr == nil {
		p.firstErr = err
	}
	if terminal(err) && p.fatal == nil {
		p.fatal = err
	}
}

// fill places one slot and returns its holder. The attempts still running
// when one succeeds are cancelled; a holder that stored its copy anyway
// keeps a spare one, which repair drops or moves.
func (p *placement) fill(ctx context.Context, slot int) (wire.Contact, bool) {
	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		c   wire.Contact
		err error
	}
	results := make(chan result, len(p.cands)+1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before the wait, so that running attempts end
	running := 0
	try := func(c wire.Contact) {
		running++
		wg.Go(func() { results <- result{c, p.put(ctx, slot, c)} })
	}
	try(p.cands[slot%len(p.cands)])

	timer := time.NewTimer(p.attempt)
	defer timer.Stop()
	for running > 0 {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				p.stored()
				return r.c, true
			}
			p.failed(r.err)
			if c, more := p.takeNext(); more && ctx.Err() == nil {
				try(c)
			}
		case <-timer.C:
			if p.outlier() {
				if c, more := p.takeNext(); more {
					try(c)
				}
			}
			timer.Reset(p.attempt)
		}
	}
	return wire.Contact{}, false
}

func countTrue(b []bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}
