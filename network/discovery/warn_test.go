package discovery

import (
	"net/netip"
	"testing"
	"time"
)

func TestThrottleOncePerInterval(t *testing.T) {
	th := newThrottle[string](time.Minute, 8)

	if n, warn := th.note(testNow, "a"); !warn || n != 1 {
		t.Errorf("first event: warn %v with %d events, want a warning with 1", warn, n)
	}
	for i := 1; i <= 5; i++ {
		if _, warn := th.note(testNow.Add(time.Duration(i)*time.Second), "a"); warn {
			t.Errorf("event %d within the interval warned", i+1)
		}
	}

	n, warn := th.note(testNow.Add(time.Minute), "a")
	if !warn || n != 6 {
		t.Errorf("event after the interval: warn %v with %d events, want a warning with 6", warn, n)
	}
}

func TestThrottleSourcesIndependent(t *testing.T) {
	th := newThrottle[netip.Addr](time.Minute, 8)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")

	th.note(testNow, a)
	if _, warn := th.note(testNow, b); !warn {
		t.Error("first event of a second source did not warn")
	}
	if _, warn := th.note(testNow, a); warn {
		t.Error("second event of the first source warned within the interval")
	}
}

func TestThrottleBoundsSources(t *testing.T) {
	const max = 4
	th := newThrottle[int](time.Minute, max)
	for source := range max {
		th.note(testNow, source)
	}

	if _, warn := th.note(testNow, max); warn {
		t.Error("a source beyond the limit warned within the interval")
	}
	if len(th.sources) != max {
		t.Errorf("throttle tracks %d sources, limit %d", len(th.sources), max)
	}

	// Once the interval has passed, old sources make room for new ones.
	if _, warn := th.note(testNow.Add(time.Minute), max); !warn {
		t.Error("a new source did not warn after the old ones expired")
	}
	if len(th.sources) > max {
		t.Errorf("throttle tracks %d sources, limit %d", len(th.sources), max)
	}
}
