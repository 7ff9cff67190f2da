package discovery

import "time"

// tokenBucket limits how often an event may happen, such as sending a
// datagram or reporting a new peer: it holds up to burst tokens, gains
// rate tokens per second, and each event takes one. Time is a parameter so
// tests need no clock.
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// newTokenBucket returns a full bucket allowing perSecond events a second
// with bursts of up to burst.
func newTokenBucket(perSecond, burst int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: float64(perSecond), burst: float64(burst), tokens: float64(burst), last: now}
}

// take removes one token and reports whether there was one.
func (b *tokenBucket) take(now time.Time) bool {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
