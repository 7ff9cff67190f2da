package discovery

import (
	"sync"
	"time"
)

const (
	// warnInterval is the shortest gap between two warnings of one kind
	// about one source, so a steady stream of bad beacons logs a line a
	// minute instead of one per beacon.
	warnInterval = time.Minute
	// maxWarnSources bounds the sources a throttle tracks, because the
	// source addresses come from the network.
	maxWarnSources = 256
)

// throttle rate-limits one kind of warning per source. It passes the
// first event of a source and then at most one event per interval, and
// counts the events in between, so each warning can report how many
// events it covers. It is safe for concurrent use.
//
// While maxSources sources have had a warning within the last interval,
// the events of any further source are dropped without a warning. The
// caller's Stats counters still count them.
type throttle[K comparable] struct {
	interval   time.Duration
	maxSources int

	mu      sync.Mutex // guards sources
	sources map[K]*throttled
}

// throttled is a throttle's record of one source.
type throttled struct {
	warned time.Time // time of the last warning
	events uint64    // events since the last warning, counting the held ones
}

func newThrottle[K comparable](interval time.Duration, maxSources int) *throttle[K] {
	return &throttle[K]{interval: interval, maxSources: maxSources, sources: make(map[K]*throttled)}
}

// note records one event of source at now. If a warning is due, it
// returns true and the number of events it covers: this one and those
// held back since the previous warning about source.
func (t *throttle[K]) note(now time.Time, source K) (events uint64, warn bool) {
	t.mu.Lock()
	defer t.mu.Unlock()

	s, ok := t.sources[source]
	if !ok {
		if len(t.sources) >= t.maxSources {
			t.prune(now)
		}
		if len(t.sources) >= t.maxSources {
			return 0, false
		}
		s = new(throttled)
		t.sources[source] = s
	}

	s.events++
	if !s.warned.IsZero() && now.Sub(s.warned) < t.interval {
		return 0, false
	}
	events = s.events
	s.warned, s.events = now, 0
	return events, true
}

// prune removes the sources whose last warning is an interval old. Their
// held events are dropped, so a later warning may undercount.
func (t *throttle[K]) prune(now time.Time) {
	for source, s := range t.sources {
		if now.Sub(s.warned) >= t.interval {
			delete(t.sources, source)
		}
	}
}
