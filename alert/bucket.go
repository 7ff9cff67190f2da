package alert

import "time"

// bucket is a token bucket on the caller's clock: it holds up to burst
// tokens and gains rate tokens per second.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills the bucket for the time since its last use and spends one
// token; it reports false, spending nothing, when the bucket is empty.
// A clock that steps backwards refills nothing.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(float64(burst), b.tokens+dt.Seconds()*rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
