package node

import (
	"slices"
	"time"

	"github.com/yuinet/yui/job/sched"
)

// Jobs that ended. A manager or backup keeps an ended job for
// jobKeepEnded, long enough for the submitter, which requests the status
// every jobWatchEvery, to read the result and store it in the job's
// record. After that the record serves the job's status, and the
// manager's copy only takes memory: an encrypted job's aggregate alone is
// a 262 KB ciphertext. At most jobMaxEnded ended jobs stay, so a burst of
// short jobs cannot hold more than that, whatever their age.
const (
	jobKeepEnded  = time.Hour
	jobMaxEnded   = 256
	jobSweepEvery = time.Minute
)

// workerFence is a worker's fence for one job, with when it last
// admitted a unit, so that fences of finished jobs can be dropped.
type workerFence struct {
	sched.Fence
	used time.Time
}

// sweepLoop drops ended jobs, idle fences and the unit lists that no job
// took within jobUnitListTTL, every jobSweepEvery.
func (s *jobService) sweepLoop() {
	ticker := time.NewTicker(jobSweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-ticker.C:
			s.sweep(now)
			s.unitLists.expire(now)
		}
	}
}

// sweep drops the managed jobs that ended more than jobKeepEnded
// before now, then the oldest ended ones beyond jobMaxEnded, and the
// fences no unit used for jobKeepEnded. It returns how many jobs it
// dropped.
func (s *jobService) sweep(now time.Time) int {
	s.mu.Lock()
	jobs := make(map[string]*managedJob, len(s.managed))
	for id, mj := range s.managed {
		jobs[id] = mj
	}
	s.mu.Unlock()

	// Each mj.mu is taken with s.mu released, so the sweep never holds
	// both and cannot take them in an order another path reverses.
	type endedJob struct {
		id string
		at time.Time
	}
	var ended []endedJob
	for id, mj := range jobs {
		if at, ok := mj.endedAt(now); ok {
			ended = append(ended, endedJob{id, at})
		}
	}
	slices.SortFunc(ended, func(a, b endedJob) int { return a.at.Compare(b.at) })
	var drop []string
	for i, e := range ended {
		if now.Sub(e.at) >= jobKeepEnded || len(ended)-i > jobMaxEnded {
			drop = append(drop, e.id)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range drop {
		// A job dropped and started again meanwhile is another value.
		if s.managed[id] == jobs[id] {
			delete(s.managed, id)
		}
	}
	for id, f := range s.fences {
		if now.Sub(f.used) >= jobKeepEnded {
			delete(s.fences, id)
		}
	}
	return len(drop)
}

// endedAt reports whether the job is over for this node, as done,
// canceled or deposed, and since when: the first sweep that saw it so.
func (mj *managedJob) endedAt(now time.Time) (time.Time, bool) {
	mj.mu.Lock()
	defer mj.mu.Unlock()
	if !mj.done && !mj.canceled && !mj.deposed {
		return time.Time{}, false
	}
	if mj.ended.IsZero() {
		mj.ended = now
	}
	return mj.ended, true
}
