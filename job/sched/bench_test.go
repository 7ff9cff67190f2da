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

// BenchmarkReplicaState encodes the state a manager replicates after a
// round of commits, for a job of 100,000 segments held by one list of 17
// nodes, half its units committed, with 50 workers. It reports the
// bytes of the state, of the whole snapshot that replicas carried
// before the unit list travelled apart, and of the unit list.
func BenchmarkReplicaState(b *testing.B) {
	const segments = 100_000
	var holders []WorkerID
	for i := range 17 {
		holders = append(holders, WorkerID(fmt.Sprintf("%064x", i+1)))
	}
	for _, per := range []int{4, 256} {
		b.Run(fmt.Sprintf("segments-per-unit=%d", per), func(b *testing.B) {
			units := make([]Unit, segments/per)
			for i := range units {
				units[i] = Unit{ID: UnitID(i), Readings: per}
				for j := range per {
					k := i*per + j
					units[i].Segments = append(units[i].Segments, Segment{
						Key:      fmt.Sprintf("readings/2026-01-%02dT%02d/%016x-%016x", 1+k/24%28, k%24, k%97, k),
						Readings: 1, Holders: holders})
				}
			}
			m, err := New(Config{}, 2, units)
			if err != nil {
				b.Fatal(err)
			}
			s := m.Snapshot()
			for i := 0; i < len(units); i += 2 {
				s.Committed = append(s.Committed, UnitID(i))
			}
			for i := range 50 {
				s.Workers = append(s.Workers, SnapshotWorker{ID: holders[i%17] + WorkerID(fmt.Sprint(i)), Cluster: "50.8,4.4"})
			}
			whole, err := s.Encode()
			if err != nil {
				b.Fatal(err)
			}
			list, err := EncodeUnitList(units)
			if err != nil {
				b.Fatal(err)
			}
			var state []byte
			for b.Loop() {
				if state, err = s.EncodeState(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(state)), "state-bytes")
			b.ReportMetric(float64(len(whole)), "snapshot-bytes")
			b.ReportMetric(float64(len(list)), "list-bytes")
		})
	}
}
