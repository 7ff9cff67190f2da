package jobsim

import (
	"strconv"
	"time"

	"github.com/yuinet/yui/job/compute"
	"github.com/yuinet/yui/job/sched"
)

// worker is a simulated node.
type worker struct {
	id      sched.WorkerID
	alive   bool
	cluster int
	// speed is the worker's compute speed in readings per second, the
	// input its Meter measures.
	speed float64
	meter *compute.Meter
}

// newWorker makes a worker with a random cluster and speed, calibrated
// as the daemon calibrates at start, and returns its index.
func (s *sim) newWorker() int {
	i := len(s.workers)
	w := &worker{id: sched.WorkerID("w" + strconv.Itoa(i)), alive: true,
		cluster: s.rng.IntN(max(s.clusters, 1)), speed: tierSpeed[s.drawTier()]}
	// The default Config is valid, so NewMeter cannot fail.
	w.meter, _ = compute.NewMeter(compute.Config{})
	calibration := time.Duration(compute.CalibrationReadings / w.speed * float64(time.Second))
	w.meter.Observe(compute.CalibrationReadings, calibration)
	s.workers = append(s.workers, w)
	s.live = append(s.live, i)
	return i
}

// drawTier draws the tier whose speed a new worker gets.
func (s *sim) drawTier() sched.Tier {
	x := s.rng.Float64() * (s.cfg.TierMix[0] + s.cfg.TierMix[1] + s.cfg.TierMix[2])
	for t, share := range s.cfg.TierMix {
		if x < share {
			return sched.Tier(t)
		}
		x -= share
	}
	return sched.TierMiddle
}

// join adds worker i to the Machine with its measured tier.
func (s *sim) join(i int) {
	w := s.workers[i]
	s.m.Join(s.at(), sched.WorkerInfo{ID: w.id, Tier: w.meter.Tier(), Cluster: clusterName(w.cluster)})
	if s.now > 0 {
		s.res.Joined++
	}
}

// observe feeds a run's computing time to the worker's Meter and tells
// the Machine when the worker's tier changes.
func (s *sim) observe(i, readings int, took time.Duration) {
	w := s.workers[i]
	before := w.meter.Tier()
	w.meter.Observe(readings, took)
	if after := w.meter.Tier(); after != before {
		s.res.TierChanges++
		s.m.UpdateWorker(s.at(), sched.WorkerInfo{ID: w.id, Tier: after, Cluster: clusterName(w.cluster)})
	}
}
