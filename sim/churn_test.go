package sim

import (
	"math"
	"testing"
	"time"
)

func TestChurnSessionMoments(t *testing.T) {
	for _, c := range []Churn{DefaultChurn(), {Shape: 1, Scale: time.Hour}, {Shape: 2, Scale: 10 * time.Minute}} {
		rng := NewStream(9, StreamScenario)
		const samples = 400_000
		var sum, sumSquares float64
		for range samples {
			s := c.Session(rng).Seconds()
			sum += s
			sumSquares += s * s
		}
		mean := sum / samples
		variance := sumSquares/samples - mean*mean

		if want := c.Mean().Seconds(); math.Abs(mean-want) > 0.02*want {
			t.Errorf("shape %v: sample mean %.1f s, want %.1f s ± 2%%", c.Shape, mean, want)
		}
		if want := c.Variance(); math.Abs(variance-want) > 0.1*want {
			t.Errorf("shape %v: sample variance %.4g s², want %.4g s² ± 10%%", c.Shape, variance, want)
		}
	}
}

func TestChurnHalfLife(t *testing.T) {
	c := DefaultChurn()
	rng := NewStream(10, StreamScenario)
	const samples = 50_000
	gone := 0
	for range samples {
		if c.Residual(rng) <= 2*time.Hour {
			gone++
		}
	}
	if share := float64(gone) / samples; math.Abs(share-0.5) > 0.01 {
		t.Errorf("%.3f of the nodes online leave within 2 h, want 0.5", share)
	}
}

func TestChurnDefaultParameters(t *testing.T) {
	c := DefaultChurn()
	if c.Shape != 0.5 {
		t.Errorf("shape %v, want 0.5", c.Shape)
	}
	if got := c.Scale.Minutes(); math.Abs(got-42.62) > 0.05 {
		t.Errorf("scale %.2f min, want 42.62", got)
	}
	if got := c.Median().Minutes(); math.Abs(got-20.48) > 0.05 {
		t.Errorf("median %.2f min, want 20.48", got)
	}
	if got := c.Mean().Minutes(); math.Abs(got-85.24) > 0.1 {
		t.Errorf("mean %.2f min, want 85.24", got)
	}
}

func TestChurnExponentialHalfLife(t *testing.T) {
	// With shape 1 sessions are memoryless, so the remaining time of a
	// node online has the session's own distribution and half-life ln 2·λ.
	c, err := ChurnWithHalfLife(1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Hour.Seconds() / math.Ln2; math.Abs(c.Scale.Seconds()-want) > 0.001*want {
		t.Errorf("scale %v, want %.1f s", c.Scale, want)
	}
}

func TestChurnRejectsBadParameters(t *testing.T) {
	for _, tc := range []struct {
		shape    float64
		halfLife time.Duration
	}{{0, time.Hour}, {math.NaN(), time.Hour}, {11, time.Hour}, {0.5, 0}, {0.5, -time.Second}} {
		if _, err := ChurnWithHalfLife(tc.shape, tc.halfLife); err == nil {
			t.Errorf("ChurnWithHalfLife(%v, %v) accepted", tc.shape, tc.halfLife)
		}
	}
}

func TestChurnArrivalRate(t *testing.T) {
	c := DefaultChurn()
	rng := NewStream(11, StreamScenario)
	const nodes, samples = 1000, 100_000
	var total time.Duration
	for range samples {
		total += c.ArrivalGap(nodes, rng)
	}
	mean := total.Seconds() / samples
	if want := c.Mean().Seconds() / nodes; math.Abs(mean-want) > 0.02*want {
		t.Errorf("mean gap %.3f s, want %.3f s (mean session / nodes)", mean, want)
	}
}
