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

// BenchmarkRunJobBadWorkers runs jobs of 1,000 units over 20 workers of
// which 4 fail every run, with MaxAttempts 5, and reports the
// scheduler's cost per unit and the units that failed for good.
func BenchmarkRunJobBadWorkers(b *testing.B) {
	units := makeUnits(sizes(1000, 100), noHolders)
	failed := 0
	for b.Loop() {
		c := newCluster(b, Config{SlotsPerWorker: 2, MaxAttempts: 5}, units)
		bad := map[WorkerID]bool{}
		for i := range 20 {
			id := c.addWorker(TierUpper)
			bad[id] = i%5 == 0
		}
		c.drainWith(bad, 10_000)
		failed = len(c.mgr.Failed())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/unit")
	b.ReportMetric(float64(failed), "failed-units")
}

// BenchmarkRunJobFaultyVerify runs jobs of 1,000 units under Verify 2
// and MaxAttempts 3 to the end, with one worker in five giving wrong
// results, and reports the scheduler's cost per unit and the units that
// failed for good. With 2 workers, one of them faulty, no unit can
// commit, and every unit fails after its attempts.
func BenchmarkRunJobFaultyVerify(b *testing.B) {
	for _, workers := range []int{2, 20} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			units := makeUnits(sizes(1000, 100), noHolders)
			failed := 0
			for b.Loop() {
				c := newCluster(b, Config{SlotsPerWorker: 2, Verify: 2, MaxAttempts: 3}, units)
				for i := range workers {
					id := c.addWorker(TierUpper)
					c.workers[id].faulty = i%5 == 0
				}
				c.drain(10_000)
				failed = len(c.mgr.Failed())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/unit")
			b.ReportMetric(float64(failed), "failed-units")
		})
	}
}
