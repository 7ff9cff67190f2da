package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/store"
)

// Stored page sums. A sealed job grouped by sensor needs one page sum of
// 262,145 bytes per sensor and page, and a job message carries at most
// he.MaxPageSums of them. When the submitter counts more, it names itself
// the job's sum store (wire.JobState.SumStore). Each worker then sends
// every page sum of its unit to the submitter (wire.JobSum), which
// stores it as the owner under he/jobs/ID/sums/, and the worker reports
// one he.SumRef in place of the sums. The manager keeps one reference
// per committed unit, 56 bytes each. Once the job ends, the owner's node
// reads the referenced records, decrypts and adds them, stores the
// groups in its job records namespace, and deletes the records.

const (
	// pageSumContentType is the content type of a stored page sum.
	pageSumContentType = "application/vnd.yui.bgv-page-sum"
	// openedResultPrefix starts the key of a decrypted result in the
	// owner's job records namespace.
	openedResultPrefix = "results/"
	// maxOpenedResult bounds a stored decrypted result, in bytes. By
	// estimate a group of seven fields takes 400 to 500 bytes of JSON, so
	// this takes over 100,000 groups, such as 100 sensors by hour over
	// six weeks.
	maxOpenedResult = 64 << 20
	// openSumsTimeout bounds reading and decrypting a job's stored sums.
	openSumsTimeout = 2 * time.Minute
)

// jobRecordsPrefix returns the prefix of every record a job stores in
// its namespace: its submit-time ciphertexts and its stored page sums.
func jobRecordsPrefix(id string) string { return sealedPrefix + "jobs/" + id + "/" }

// sumRecordKey returns the key of one page sum stored for the attempt
// of ref. The node ID comes from the sender's connection, so a node
// cannot write under another's attempt.
func sumRecordKey(id string, ref he.SumRef, index uint32) string {
	return fmt.Sprintf("%ssums/%x/%d-%d-%d/%04d", jobRecordsPrefix(id), ref.Node, ref.Unit, ref.Epoch, ref.Lease, index)
}

// maxStoredSumUnits returns the most units a job whose page sums are
// stored may have, so that its result, with one reference per unit and
// verifying worker, fits one job message.
func maxStoredSumUnits(verify int) int {
	if verify <= 1 {
		return he.MaxSumRefs
	}
	return he.MaxDigestRefs / verify
}

// storeUnitSums sends a unit's page sums to the job's sum store, and
// returns the reference to them that the worker reports. When the job
// verifies units on several workers, it also returns the SumsDigest of
// the sums, which the scheduler compares in place of the reference.
func (s *jobService) storeUnitSums(ctx context.Context, spec *job.Spec, m *wire.JobAssign, sums []he.PageSum) ([]byte, []byte, error) {
	if len(sums) > he.MaxUnitSums {
		return nil, nil, fmt.Errorf("node: unit %d of job %s has %d page sums, limit %d", m.Unit, m.JobID, len(sums), he.MaxUnitSums)
	}
	encoded := make([][]byte, len(sums))
	digest := he.NewSumsDigest(len(sums))
	for i := range sums {
		b, err := he.EncodePageSums(sums[i : i+1])
		if err != nil {
			return nil, nil, err
		}
		digest.Add(b)
		if s.alterSum != nil {
			b = s.alterSum(m.Unit, i, b)
		}
		encoded[i] = b
	}
	failed := forEachLimit(len(sums), sealedPutParallelism, func(i int) error {
		rctx, cancel := context.WithTimeout(ctx, jobRecordTimeout)
		defer cancel()
		msg := &wire.JobSum{JobID: m.JobID, Epoch: m.Epoch, Lease: m.Lease, Unit: m.Unit, Index: uint32(i), Sum: encoded[i]}
		_, err := s.request(rctx, *m.SumStore, msg)
		return err
	})
	if len(failed) > 0 {
		return nil, nil, fmt.Errorf("node: %d of the %d page sums of unit %d not stored on %s: %w",
			len(failed), len(sums), m.Unit, m.SumStore.ID.Short(), failed[0])
	}
	ref := he.SumRef{Node: s.n.id.ID, Unit: m.Unit, Epoch: m.Epoch, Lease: m.Lease, Sums: uint32(len(sums))}
	b, err := he.EncodeSumRefs([]he.SumRef{ref})
	if err != nil || spec.Verify <= 1 {
		return b, nil, err
	}
	sum := digest.Sum()
	return b, sum[:], nil
}

// handleSum stores one page sum that a worker sends for a sealed job
// submitted through this node, as the job's owner. It takes none once the
// job has ended, since the owner deletes the job's records then.
func (s *jobService) handleSum(ctx context.Context, from transport.Peer, m *wire.JobSum) wire.Message {
	sj := s.submittedJob(ctx, m.JobID)
	if sj == nil || !sj.spec.Sealed {
		return &wire.Error{Code: wire.CodeNotFound, Message: fmt.Sprintf("no sealed job %s was submitted through this node", m.JobID)}
	}
	if s.finalStatus(sj) != nil {
		return &wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("job %s has ended; its page sums are no longer stored", m.JobID)}
	}
	params, err := heParams()
	if err != nil {
		return &wire.Error{Code: wire.CodeInternal, Message: err.Error()}
	}
	if sums, err := params.DecodePageSums(m.Sum); err != nil || len(sums) != 1 {
		return &wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("job sum of unit %d is not one page sum: %v", m.Unit, err)}
	}
	key := sumRecordKey(m.JobID, he.SumRef{Node: from.ID, Unit: m.Unit, Epoch: m.Epoch, Lease: m.Lease}, m.Index)
	ctx, cancel := context.WithTimeout(ctx, jobRecordTimeout)
	defer cancel()
	opts := store.PutOptions{ContentType: pageSumContentType, Size: int64(len(m.Sum))}
	if _, err := s.n.storage.store.Put(ctx, sj.user, sj.namespace, key, bytes.NewReader(m.Sum), opts); err != nil {
		s.n.log.Warn("page sum not stored", "job", m.JobID, "unit", m.Unit, "worker", from.ID.Short(), "err", err)
		return &wire.Error{Code: wire.CodeInternal, Message: fmt.Sprintf("store page sum %q: %v", key, err)}
	}
	return &wire.JobAck{}
}

// openStoredSums returns the groups of a sealed job whose result
// references stored page sums: the ones opened before, else the stored
// decrypted result, else those it reads, decrypts and adds from the
// records, and then stores. The records are deleted only after that.
func (n *Node) openStoredSums(ctx context.Context, sj *submittedJob, b []byte) ([]api.AggregateGroup, error) {
	s := n.jobs
	s.mu.Lock()
	opened := sj.opened
	s.mu.Unlock()
	if opened != nil {
		return opened, nil
	}
	groups, err := n.readOpenedResult(ctx, sj)
	if errors.Is(err, store.ErrNotFound) {
		if groups, err = n.addStoredSums(ctx, sj, b); err == nil {
			err = n.saveOpenedResult(ctx, sj, groups)
		}
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	sj.opened = groups
	s.mu.Unlock()
	return groups, nil
}

// addStoredSums reads the page sums that refs name, a few units at once,
// and decrypts and adds each unit's. A unit whose references carry a
// digest counts the sums of its first reference whose stored sums have
// that digest, and fails only when none has.
func (n *Node) addStoredSums(ctx context.Context, sj *submittedJob, b []byte) ([]api.AggregateGroup, error) {
	refs, err := he.DecodeSumRefs(b)
	if err != nil {
		return nil, err
	}
	var units [][]he.SumRef
	for i, ref := range refs {
		if i > 0 && refs[i-1].Unit == ref.Unit {
			units[len(units)-1] = append(units[len(units)-1], ref)
		} else {
			units = append(units, []he.SumRef{ref})
		}
	}

	user := sj.user
	if user == "" {
		user = store.DefaultUser
	}
	groups, err := n.newPagedGroups(user, sj.spec)
	if err != nil {
		return nil, err
	}

	var mu sync.Mutex
	failed := forEachLimit(len(units), sealedPutParallelism, func(i int) error {
		sums, err := n.readUnitSums(ctx, sj, groups, units[i])
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range sums {
			if err := groups.add(ctx, s.key, s.hours); err != nil {
				return err
			}
		}
		return nil
	})
	if len(failed) > 0 {
		return nil, fmt.Errorf("node: %d of the %d units of job %s not read: %w", len(failed), len(units), sj.id, failed[0])
	}
	return groups.result()
}

// openedSum is one stored page sum, decrypted into its hours.
type openedSum struct {
	key   he.PageKey
	hours []he.HourSums
}

// readUnitSums returns the decrypted page sums of one unit, read from the
// first of refs whose stored sums it can read and decrypt and, when refs
// carry a digest, whose stored sums have that digest. The refs of a unit
// are alternatives that the scheduler found equal, so only one counts.
func (n *Node) readUnitSums(ctx context.Context, sj *submittedJob, groups *pagedGroups, refs []he.SumRef) ([]openedSum, error) {
	var errs []string
	for _, ref := range refs {
		sums, err := n.readAttemptSums(ctx, sj, groups, ref)
		if err == nil {
			return sums, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		worker := identity.NodeID(ref.Node).Short()
		if len(refs) > 1 {
			n.log.Warn("stored page sums of a unit rejected; reading another worker's", "job", sj.id, "unit", ref.Unit,
				"worker", worker, "err", err)
		}
		errs = append(errs, fmt.Sprintf("worker %s: %v", worker, err))
	}
	return nil, fmt.Errorf("node: no stored page sums of unit %d could be used: %s", refs[0].Unit, strings.Join(errs, "; "))
}

// readAttemptSums reads and decrypts the page sums that one attempt
// stored, in index order, and checks them against ref's digest, if any.
// A sum that fails to decode or decrypt stops the decryption, but the
// rest are still read, so that a digest mismatch is what the error
// names when there is one.
func (n *Node) readAttemptSums(ctx context.Context, sj *submittedJob, groups *pagedGroups, ref he.SumRef) ([]openedSum, error) {
	digest := he.NewSumsDigest(int(ref.Sums))
	out := make([]openedSum, 0, ref.Sums)
	var failed error
	for i := range ref.Sums {
		key := sumRecordKey(sj.id, ref, i)
		var buf bytes.Buffer
		if _, err := n.storage.store.Get(ctx, sj.user, sj.namespace, key, &buf, store.GetOptions{}); err != nil {
			return nil, fmt.Errorf("read page sum %q: %w", key, err)
		}
		digest.Add(buf.Bytes())
		if failed != nil {
			continue
		}
		sums, err := groups.params.DecodePageSums(buf.Bytes())
		if err != nil || len(sums) != 1 {
			failed = fmt.Errorf("%w: page sum %q contains %d sums: %v", he.ErrCorrupt, key, len(sums), err)
			continue
		}
		hours, err := groups.decrypt(sums[0])
		if err != nil {
			failed = fmt.Errorf("page sum %q: %w", key, err)
			continue
		}
		out = append(out, openedSum{key: sums[0].Key, hours: hours})
	}
	if ref.Digest != [he.DigestSize]byte{} && digest.Sum() != ref.Digest {
		return nil, fmt.Errorf("%w: the %d stored page sums do not have the digest the unit's workers agreed on",
			he.ErrCorrupt, ref.Sums)
	}
	if failed != nil {
		return nil, failed
	}
	return out, nil
}

// saveOpenedResult stores a decrypted result in the owner's job records
// namespace, which only the owner can read, as plain jobs' results are.
func (n *Node) saveOpenedResult(ctx context.Context, sj *submittedJob, groups []api.AggregateGroup) error {
	b, err := json.Marshal(groups)
	if err != nil {
		return err
	}
	if len(b) > maxOpenedResult {
		return fmt.Errorf("node: result of job %s is %d bytes of JSON, limit %d; group more coarsely or select less", sj.id, len(b), maxOpenedResult)
	}
	ns, err := n.jobRecordsNamespace(sj.user)
	if err != nil {
		return err
	}
	opts := store.PutOptions{ContentType: "application/json", Size: int64(len(b))}
	if _, err := n.storage.store.Put(ctx, sj.user, ns, openedResultPrefix+sj.id, bytes.NewReader(b), opts); err != nil {
		return fmt.Errorf("node: store the decrypted result of job %s: %w", sj.id, err)
	}
	return nil
}

// readOpenedResult returns a decrypted result saveOpenedResult stored.
// A result not stored fails with an error wrapping store.ErrNotFound.
func (n *Node) readOpenedResult(ctx context.Context, sj *submittedJob) ([]api.AggregateGroup, error) {
	ns, err := n.jobRecordsNamespace(sj.user)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := n.storage.store.Get(ctx, sj.user, ns, openedResultPrefix+sj.id, &buf, store.GetOptions{}); err != nil {
		return nil, err
	}
	return decodeOpenedResult(buf.Bytes())
}

// decodeOpenedResult parses a stored decrypted result. Empty is an empty
// list, not nil, so that a job without groups counts as opened.
func decodeOpenedResult(b []byte) ([]api.AggregateGroup, error) {
	if len(b) > maxOpenedResult {
		return nil, fmt.Errorf("%w: decrypted job result is %d bytes, limit %d", he.ErrCorrupt, len(b), maxOpenedResult)
	}
	groups := []api.AggregateGroup{}
	if err := json.Unmarshal(b, &groups); err != nil {
		return nil, fmt.Errorf("%w: decrypted job result: %v", he.ErrCorrupt, err)
	}
	if groups == nil {
		groups = []api.AggregateGroup{}
	}
	return groups, nil
}
