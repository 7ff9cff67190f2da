package discovery

import (
	"testing"
	"time"
)

func TestTokenBucketBurst(t *testing.T) {
	b := newTokenBucket(5, 5, testNow)
	for i := range 5 {
		if !b.take(testNow) {
			t.Fatalf("take %d of a full bucket of 5 failed", i+1)
		}
	}
	if b.take(testNow) {
		t.Error("take from an empty bucket succeeded")
	}
}

func TestTokenBucketRate(t *testing.T) {
	b := newTokenBucket(10, 10, testNow)
	for b.take(testNow) {
	}

	// Over 10 s of calls every millisecond, 10 per second get through.
	var allowed int
	for ms := 1; ms <= 10_000; ms++ {
		if b.take(testNow.Add(time.Duration(ms) * time.Millisecond)) {
			allowed++
		}
	}
	if allowed != 100 {
		t.Errorf("allowed %d in 10 s at 10 per second, want 100", allowed)
	}
}

func TestTokenBucketCapsIdleCredit(t *testing.T) {
	b := newTokenBucket(3, 3, testNow)
	later := testNow.Add(time.Hour)
	var allowed int
	for b.take(later) {
		allowed++
	}
	if allowed != 3 {
		t.Errorf("after an idle hour, burst was %d, want 3", allowed)
	}
}

func TestTokenBucketBurstAboveRate(t *testing.T) {
	b := newTokenBucket(2, 8, testNow)
	var allowed int
	for b.take(testNow) {
		allowed++
	}
	if allowed != 8 {
		t.Errorf("a full bucket of burst 8 allowed %d at once, want 8", allowed)
	}
	if !b.take(testNow.Add(500 * time.Millisecond)) {
		t.Error("no token after half a second at 2 per second")
	}
}
