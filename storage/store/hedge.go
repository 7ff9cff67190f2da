package store

import (
	"context"
	"sync"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// Bounds of the hedge delay and of the per-attempt timeout. A hedge delay
// under minHedgeDelay would double requests on every scheduling hiccup. A
// new gateway, which has measured nothing yet, waits initialHedgeDelay,
// the initial retransmission timeout of RFC 6298.
const (
	minHedgeDelay     = 20 * time.Millisecond
	maxHedgeDelay     = 2 * time.Second
	initialHedgeDelay = time.Second
	// attemptFactor scales the hedge delay into the timeout of one
	// attempt that another candidate can replace.
	attemptFactor     = 4
	minAttemptTimeout = time.Second
	// graceDelays is how many hedge delays a read that has one good
	// response waits at least for the others, which may hold newer data.
	graceDelays = 2
)

// rttEstimate is a smoothed request latency and its mean deviation, as
// RFC 6298 computes them for TCP's retransmission timer.
type rttEstimate struct {
	srtt, rttvar time.Duration
	samples      int
}

func (e *rttEstimate) add(d time.Duration) {
	if e.samples == 0 {
		e.srtt, e.rttvar = d, d/2
	} else {
		e.rttvar += (absDuration(e.srtt-d) - e.rttvar) / 4
		e.srtt += (d - e.srtt) / 8
	}
	e.samples++
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// latencies tracks the latency of requests to holders by message type,
// because a 1 MiB shard transfer and a record lookup differ by orders of
// magnitude.
type latencies struct {
	mu     sync.Mutex // guards byType
	byType map[wire.Type]*rttEstimate
}

func newLatencies() *latencies {
	return &latencies{byType: make(map[wire.Type]*rttEstimate)}
}

// observe records the latency of a request that a holder responded to,
// with data or with an error.
func (l *latencies) observe(t wire.Type, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byType[t]
	if e == nil {
		e = &rttEstimate{}
		l.byType[t] = e
	}
	e.add(d)
}

// hedgeDelay returns how long a request of type t may run before the
// caller starts the same request at another candidate: srtt + 4·rttvar,
// which RFC 6298 uses as the retransmission timeout, between
// minHedgeDelay and maxHedgeDelay.
func (l *latencies) hedgeDelay(t wire.Type) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byType[t]
	if e == nil || e.samples == 0 {
		return initialHedgeDelay
	}
	return min(max(e.srtt+4*e.rttvar, minHedgeDelay), maxHedgeDelay)
}

// attemptTimeout returns the timeout of one request of type t that
// another candidate can replace: attemptFactor hedge delays, at least
// minAttemptTimeout and at most limit.
func (l *latencies) attemptTimeout(t wire.Type, limit time.Duration) time.Duration {
	return min(max(attemptFactor*l.hedgeDelay(t), minAttemptTimeout), limit)
}

// grace ends a fan-out after the first good response, once graceDelays
// hedge delays have passed and at least as long as that response took,
// so that a read whose other candidates do not respond, and have no
// substitutes left, returns what it has. The second bound keeps a loaded
// network, where every response is slow, from ending reads early.
type grace struct {
	delay time.Duration
	start time.Time // when the fan-out started

	mu    sync.Mutex // guards first
	first time.Time  // when the first good response came; zero before
}

func newGrace(delay time.Duration) *grace {
	return &grace{delay: delay, start: time.Now()}
}

// good records a good response.
func (g *grace) good() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.first.IsZero() {
		g.first = time.Now()
	}
}

// over reports whether the grace period after the first good response
// has passed.
func (g *grace) over() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.first.IsZero() {
		return false
	}
	return time.Since(g.first) >= max(graceDelays*g.delay, g.first.Sub(g.start))
}

// fanout describes a hedged fan-out over candidates 0..n-1, in order.
type fanout struct {
	n    int // candidates
	want int // successes after which the fan-out ends
	// delay is how long to wait for a success before starting one more
	// candidate; 0 starts every candidate at once.
	delay time.Duration
	// timeout bounds each call; 0 sets no bound of its own.
	timeout time.Duration
	// done, if set, ends the fan-out early once it returns true. It is
	// checked each time a call returns and after each delay.
	done func() bool
	// more, if set, is asked before each further candidate is started
	// and stops the starts once it returns false.
	more func() bool
}

// hedge runs call for f's candidates in order until f.want calls have
// succeeded. It starts the first f.want calls at once. It starts one more
// call each time f.delay passes without a success and each time a call
// fails, so that a candidate that does not respond delays the result by
// about f.delay instead of a whole request timeout. When hedge returns, the
// calls still running are cancelled and waited for. It returns the number
// of successes.
func hedge(ctx context.Context, f fanout, call func(ctx context.Context, i int) bool) int {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan bool, f.n)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before the wait, so that running calls end
	next, running := 0, 0
	start := func() {
		if next >= f.n || next > 0 && f.more != nil && !f.more() {
			return
		}
		i := next
		next++
		running++
		wg.Go(func() {
			cctx := ctx
			if f.timeout > 0 {
				var ccancel context.CancelFunc
				cctx, ccancel = context.WithTimeout(ctx, f.timeout)
				defer ccancel()
			}
			results <- call(cctx, i)
		})
	}
	initial := f.want
	if f.delay == 0 {
		initial = f.n
	}
	for range min(initial, f.n) {
		start()
	}

	var tick <-chan time.Time
	if f.delay > 0 {
		t := time.NewTicker(f.delay)
		defer t.Stop()
		tick = t.C
	}
	succeeded := 0
	for succeeded < f.want && running > 0 {
		select {
		case ok := <-results:
			running--
			if ok {
				succeeded++
			} else {
				start()
			}
			if f.done != nil && f.done() {
				return succeeded
			}
		case <-tick:
			if f.done != nil && f.done() {
				return succeeded
			}
			start()
		case <-ctx.Done():
			return succeeded
		}
	}
	return succeeded
}
