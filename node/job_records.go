package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/store"
)

// Job records: the submitting node stores each job's description, and
// its result once it ends, through the store, in a namespace of the
// submitting user's own (jobRecordsNamespace). Only that user holds the
// namespace's keys, so only they can read the records. After a restart
// the node lists those namespaces again, so 'yui job ls' and 'yui job
// status' still show the jobs and their results.
const (
	// jobRecordPrefix is the key prefix of job records.
	jobRecordPrefix = "jobs/"
	// jobWatchEvery is how often the submitter requests a job's status
	// until it ends, to store its result.
	jobWatchEvery = time.Second
	// jobWatchFailures is how many status requests in a row may fail
	// before the submitter stops watching: both manager and backup are
	// then gone, and the job with them.
	jobWatchFailures = 120
	// jobRecordTimeout bounds one read or write of a record.
	jobRecordTimeout = 30 * time.Second
	// jobResultTries and jobResultRetryEvery bound the writes of a job's
	// result while too few holders take it: long enough for the
	// overlay to drop a dead holder.
	jobResultTries      = 4
	jobResultRetryEvery = 10 * time.Second
)

// jobRecordsNamespace returns the namespace that keeps user's job
// records, named after a hash of the user's public keys, so each user
// has their own and creates it on first use.
func (n *Node) jobRecordsNamespace(user string) (string, error) {
	pu, err := n.storage.store.PublicUser(user)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pu.Keys)
	return "jobs-" + hex.EncodeToString(sum[:12]), nil
}

// watchJob stores the record of a job just submitted, then requests its
// status until it ends, and stores its result.
func (s *jobService) watchJob(sj *submittedJob) {
	if err := s.saveRecord(sj); err != nil {
		s.n.log.Warn("job record not stored; the job runs on but will be forgotten on restart", "job", sj.id, "err", err)
	}
	failures := 0
	for failures < jobWatchFailures {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(jobWatchEvery):
		}
		st, err := s.n.JobStatus(s.ctx, sj.id, false)
		if err != nil {
			failures++
			continue
		}
		failures = 0
		if st.Done || st.Canceled {
			if err := s.saveResult(sj); err != nil {
				s.n.log.Warn("job result not fully stored; it may be lost on restart", "job", sj.id, "err", err)
				return
			}
			s.n.log.Info("stored job result", "job", sj.id, "user", sj.user)
			s.cleanUp(sj, time.Duration(s.inputsGrace.Load()))
			return
		}
	}
	s.n.log.Warn("job status unreachable; stopped watching it", "job", sj.id, "failures", failures)
}

// saveResult stores the record of an ended job, trying again while too
// few holders take it. A put that stored some copies but not all fails
// with store.ErrUnavailable, and a holder that just died is replaced by
// the next closest only once the overlay notices it is gone.
func (s *jobService) saveResult(sj *submittedJob) error {
	var err error
	for try := range jobResultTries {
		if try > 0 {
			select {
			case <-s.ctx.Done():
				return err
			case <-time.After(jobResultRetryEvery):
			}
		}
		err = s.saveRecord(sj)
		if !errors.Is(err, store.ErrUnavailable) {
			return err
		}
	}
	return err
}

// deleteRecords deletes keys in namespace as user, a few at once, and
// returns the errors of those that failed. A record already gone counts
// as deleted.
func (s *jobService) deleteRecords(user, namespace string, keys []string) []error {
	return forEachLimit(len(keys), sealedPutParallelism, func(i int) error {
		ctx, cancel := context.WithTimeout(s.ctx, jobRecordTimeout)
		defer cancel()
		err := s.n.storage.store.Delete(ctx, user, namespace, keys[i])
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
}

// saveRecord writes the job's record as its submitting user.
func (s *jobService) saveRecord(sj *submittedJob) error {
	rec, err := s.recordOf(sj)
	if err != nil {
		return err
	}
	b, err := rec.Encode()
	if err != nil {
		return err
	}
	ns, err := s.n.jobRecordsNamespace(sj.user)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, jobRecordTimeout)
	defer cancel()
	opts := store.PutOptions{ContentType: "application/cbor", Size: int64(len(b))}
	_, err = s.n.storage.store.Put(ctx, sj.user, ns, jobRecordPrefix+sj.id, bytes.NewReader(b), opts)
	return err
}

func (s *jobService) recordOf(sj *submittedJob) (*job.Record, error) {
	spec, err := sj.spec.Encode()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	user := sj.user
	if user == "" {
		user = store.DefaultUser
	}
	rec := &job.Record{Spec: spec, User: user, Created: sj.created.UnixNano(),
		ManagerID: sj.manager.ID.String(), ManagerAddr: sj.manager.Addr.String()}
	if sj.backup != nil {
		rec.BackupID, rec.BackupAddr = sj.backup.ID.String(), sj.backup.Addr.String()
	}
	if st := sj.final; st != nil {
		rec.Final = &job.RecordStatus{Epoch: st.Epoch, Units: st.Units, Committed: st.Committed, Failed: st.Failed,
			Workers: st.Workers, Done: st.Done, Canceled: st.Canceled, Err: st.Err, FailedErr: st.FailedErr,
			Partial: st.Partial, BytesHeld: st.BytesHeld, BytesCluster: st.BytesCluster, BytesRemote: st.BytesRemote, BytesUnknown: st.BytesUnknown}
	}
	rec.Cleaned = sj.cleaned
	if sj.sealed != nil {
		var err error
		if rec.Layout, err = encodeLayout(sj.sealed); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// noteFinal keeps the status of a job that ended, which JobStatus then
// returns without asking its manager.
func (s *jobService) noteFinal(sj *submittedJob, st *wire.JobStatus) {
	if !st.Done && !st.Canceled {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sj.final == nil {
		sj.final = st
	}
}

// finalStatus returns the kept status of a job that ended, or nil.
func (s *jobService) finalStatus(sj *submittedJob) *wire.JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sj.final
}

// loadRecords reads the job records of every local user once, after a
// start, into the submitted jobs. A failed load is tried again on the
// next call, since the store may not reach its holders yet.
func (n *Node) loadRecords(ctx context.Context) error {
	s := n.jobs
	if s == nil || n.storage == nil || n.storage.store == nil {
		return nil
	}
	s.recordsMu.Lock()
	defer s.recordsMu.Unlock()
	if s.recordsLoaded {
		return nil
	}
	users, err := n.storage.store.Users()
	if err != nil {
		return err
	}
	var errs []error
	for _, user := range users {
		errs = append(errs, n.loadUserRecords(ctx, user))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.recordsLoaded = true
	return nil
}

func (n *Node) loadUserRecords(ctx context.Context, user string) error {
	ns, err := n.jobRecordsNamespace(user)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, jobRecordTimeout)
	defer cancel()
	infos, err := n.storage.store.List(ctx, user, ns, jobRecordPrefix)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the user never submitted a job
	}
	if err != nil {
		return fmt.Errorf("node: list job records of user %q: %w", user, err)
	}
	for _, info := range infos {
		var b bytes.Buffer
		if _, err := n.storage.store.Get(ctx, user, ns, info.Key, &b, store.GetOptions{}); err != nil {
			return fmt.Errorf("node: read job record %q of user %q: %w", info.Key, user, err)
		}
		sj, err := restoreJob(user, b.Bytes())
		if err != nil {
			// One bad record must not hide the others.
			n.log.Warn("job record does not decode; skipped", "user", user, "key", info.Key, "err", err)
			continue
		}
		n.jobs.mu.Lock()
		if n.jobs.submitted[sj.id] == nil {
			n.jobs.submitted[sj.id] = sj
		}
		n.jobs.mu.Unlock()
	}
	return nil
}

// restoreJob turns a stored record back into a submitted job.
func restoreJob(user string, b []byte) (*submittedJob, error) {
	rec, spec, err := job.DecodeRecord(b)
	if err != nil {
		return nil, err
	}
	if rec.User != user {
		return nil, fmt.Errorf("%w: record of job %s names user %q, but user %q stored it", job.ErrInvalid, spec.ID, rec.User, user)
	}
	sj := &submittedJob{id: spec.ID, namespace: spec.Namespace, user: user, spec: spec,
		created: time.Unix(0, rec.Created).UTC(), restored: true, cleaned: rec.Cleaned}
	if len(rec.Layout) > 0 {
		if sj.sealed, err = decodeLayout(user, spec, rec.Layout); err != nil {
			return nil, err
		}
	}
	if sj.manager, err = parseContact(rec.ManagerID, rec.ManagerAddr); err != nil {
		return nil, err
	}
	if rec.BackupID != "" {
		c, err := parseContact(rec.BackupID, rec.BackupAddr)
		if err != nil {
			return nil, err
		}
		sj.backup = &c
	}
	if f := rec.Final; f != nil {
		sj.final = &wire.JobStatus{JobID: spec.ID, Epoch: f.Epoch, Units: f.Units, Committed: f.Committed, Failed: f.Failed,
			Workers: f.Workers, Done: f.Done, Canceled: f.Canceled, Err: f.Err, FailedErr: f.FailedErr,
			Partial: f.Partial, BytesHeld: f.BytesHeld, BytesCluster: f.BytesCluster, BytesRemote: f.BytesRemote, BytesUnknown: f.BytesUnknown}
	}
	return sj, nil
}

func parseContact(id, addr string) (wire.Contact, error) {
	nid, err := identity.ParseID(id)
	if err != nil {
		return wire.Contact{}, fmt.Errorf("%w: record names node %q: %v", job.ErrInvalid, id, err)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return wire.Contact{}, fmt.Errorf("%w: record names address %q: %v", job.ErrInvalid, addr, err)
	}
	return wire.Contact{ID: nid, Addr: ap}, nil
}

// submittedJob returns the job submitted through this node with the
// given ID, reading the stored records first if the node has not since
// it started.
func (s *jobService) submittedJob(ctx context.Context, id string) *submittedJob {
	s.mu.Lock()
	sj := s.submitted[id]
	s.mu.Unlock()
	if sj != nil {
		return sj
	}
	if err := s.n.loadRecords(ctx); err != nil {
		s.n.log.Warn("job records not read", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitted[id]
}
