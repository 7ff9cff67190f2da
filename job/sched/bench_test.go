package sched

import (
	"fmt"
	"testing"
)

// BenchmarkRunJob runs jobs of 1,000 single-segment units over 20 and
// 100 workers to completion, with honest workers and no churn, and
// reports the scheduler's cost per unit.
func BenchmarkRunJob(b *testing.B) {
	for _, workers := range []int{20, 100} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			units := makeUnits(sizes(1000, 100), noHolders)
			for b.Loop() {
				c := newCluster(b, Config{SlotsPerWorker: 2}, units)
				for range workers {
					c.addWorker(TierUpper)
				}
				c.drain(10_000)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/unit")
		})
	}
}
