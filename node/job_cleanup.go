package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/storage/store"
)

// A restarted node tries again to read its job records while the store
// cannot reach their holders, first after resumeFirstRetry, then after
// twice as long each time up to resumeMaxRetry, resumeTries times in all:
// about half an hour.
const (
	resumeFirstRetry = 2 * time.Second
	resumeMaxRetry   = 30 * time.Second
	resumeTries      = 64
)

// resume reads the job records once the node has started, and takes up
// what a restart interrupted. It watches the jobs that had not ended, so
// that their results are stored. It deletes the records of encrypted jobs
// that ended before their records were deleted.
func (s *jobService) resume() {
	wait := resumeFirstRetry
	for try := 1; ; try++ {
		err := s.n.loadRecords(s.ctx)
		if err == nil {
			break
		}
		if try >= resumeTries {
			s.n.log.Warn("job records not read; jobs interrupted by the restart are not resumed", "tries", try, "err", err)
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, resumeMaxRetry)
	}

	s.mu.Lock()
	var watch, clean []*submittedJob
	for _, sj := range s.submitted {
		switch {
		case !sj.restored:
		case sj.final == nil:
			watch = append(watch, sj)
		case sj.spec.Encrypted && !sj.cleaned:
			clean = append(clean, sj)
		}
	}
	s.mu.Unlock()

	for _, sj := range watch {
		s.n.log.Info("watching a job submitted before the restart", "job", sj.id, "user", sj.user)
		s.goJob(func() { s.watchJob(sj) })
	}
	// The job ended before the restart, so no unit can still be reading
	// its records.
	for _, sj := range clean {
		s.cleanUp(sj, 0)
	}
}

// cleanUp deletes the records an encrypted job kept in its namespace
// after it ended: the ciphertexts made at submit and the page sums its
// workers stored. They are no longer read once the result is stored, and
// each ciphertext takes 262 KB. It first opens stored page sums, so that
// their result is stored, then waits grace for straggler copies of units
// still reading, and deletes every record under he/jobs/ID/, those of
// attempts that did not commit too. Then it notes in the job's record
// that they are gone.
func (s *jobService) cleanUp(sj *submittedJob, grace time.Duration) {
	if !sj.spec.Encrypted || !s.openStoredResult(sj) {
		return
	}
	select {
	case <-s.ctx.Done():
		return
	case <-time.After(grace):
	}

	// A holder that just died fails its deletes until the overlay drops
	// it, so failed deletes are tried again, as results are stored.
	deleted, err := 0, error(nil)
	for try := range jobResultTries {
		if try > 0 {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(jobResultRetryEvery):
			}
		}
		var n int
		n, err = s.deleteJobRecords(sj)
		deleted += n
		if err == nil {
			break
		}
	}
	if err != nil {
		s.n.log.Warn("job records not all deleted; remove the rest with 'yui rm'", "job", sj.id,
			"namespace", sj.namespace, "prefix", jobRecordsPrefix(sj.id), "tries", jobResultTries, "err", err)
		return
	}
	if deleted > 0 {
		s.n.log.Info("deleted job records", "job", sj.id, "namespace", sj.namespace, "records", deleted)
	}
	s.mu.Lock()
	sj.cleaned = true
	s.mu.Unlock()
	if err := s.saveRecord(sj); err != nil {
		s.n.log.Warn("job record not updated; the node looks for the job's records again after a restart", "job", sj.id, "err", err)
	}
}

// openStoredResult reads and decrypts a sealed job's stored page sums
// and stores the result, so that the sums can be deleted. It reports
// whether the job's records may go: not when the job has no final
// status, or its result could not be stored.
func (s *jobService) openStoredResult(sj *submittedJob) bool {
	st := s.finalStatus(sj)
	if st == nil {
		return false
	}
	if !sj.spec.Sealed || !he.IsSumRefs(st.Partial) {
		return true
	}
	ctx, cancel := context.WithTimeout(s.ctx, openSumsTimeout)
	defer cancel()
	if _, err := s.n.openStoredSums(ctx, sj, st.Partial); err != nil {
		s.n.log.Warn("stored page sums kept: the job's result was not stored", "job", sj.id,
			"namespace", sj.namespace, "prefix", jobRecordsPrefix(sj.id), "err", err)
		return false
	}
	return true
}

// deleteJobRecords deletes every record under the job's prefix in its
// namespace, as its submitting user, and returns how many it deleted.
func (s *jobService) deleteJobRecords(sj *submittedJob) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, jobRecordTimeout)
	infos, err := s.n.storage.store.List(ctx, sj.user, sj.namespace, jobRecordsPrefix(sj.id))
	cancel()
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", jobRecordsPrefix(sj.id), err)
	}

	keys := make([]string, len(infos))
	for i, info := range infos {
		keys[i] = info.Key
	}
	if failed := s.deleteRecords(sj.user, sj.namespace, keys); len(failed) > 0 {
		return len(keys) - len(failed), fmt.Errorf("%d of %d deletes failed: %w", len(failed), len(keys), failed[0])
	}
	return len(keys), nil
}
