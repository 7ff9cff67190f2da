package tag

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkTownLocate locates every fix of 50 tags walking a 10×10 town
// for an hour and reports the error distribution: median, 90th and 99th
// percentile in metres, and the share of fixes within their radius.
func BenchmarkTownLocate(b *testing.B) {
	var res townResult
	for b.Loop() {
		res = simulateTown(b, 50, time.Hour, 1)
	}
	b.ReportMetric(res.median(), "median_m")
	b.ReportMetric(res.quantile(0.9), "p90_m")
	b.ReportMetric(res.quantile(0.99), "p99_m")
	b.ReportMetric(res.radii[len(res.radii)/2], "radius_median_m")
	b.ReportMetric(100*res.share(), "inside_%")
	b.ReportMetric(float64(len(res.errors)), "fixes")
}

// BenchmarkLocateFix times one fix of a tag heard by six relays twice.
func BenchmarkLocateFix(b *testing.B) {
	relays := Town(10, 10, 30, 1)
	loc := &Locator{Model: ULBModel, Range: DefaultRange, Speed: WalkingSpeed, Relays: relays}
	sim := &Simulation{Model: ULBModel, Range: DefaultRange, Relays: relays, Beacon: 5 * time.Second, Speed: 0, Seed: 1}
	tags := NewSimTags("t", 1, 1, relays, rand.New(rand.NewPCG(1, 1)))
	var fix []Sighting
	sim.Run(tags, WindowStart(1), 10*time.Second, func(s SimSighting) error {
		fix = append(fix, s.Sighting)
		return nil
	})
	b.ResetTimer()
	for b.Loop() {
		if _, err := loc.Locate(fix); err != nil {
			b.Fatal(err)
		}
	}
}
