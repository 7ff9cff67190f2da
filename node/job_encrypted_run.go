package node

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/storage/store"
)

// runSealedUnit reads a unit's ciphertext records as the job's reader
// and returns their sum, encoded. It needs no key, because he.Aggregator
// contains none.
func (s *jobService) runSealedUnit(ctx context.Context, spec *job.Spec, keys []string) ([]byte, error) {
	params, err := heParams()
	if err != nil {
		return nil, err
	}
	records, err := s.readSealedUnit(ctx, spec, keys)
	if err != nil {
		return nil, err
	}
	agg := he.NewAggregator(params)
	for i, b := range records {
		ct, err := params.DecodeCiphertext(b)
		if err != nil {
			return nil, fmt.Errorf("node: ciphertext %q: %w", keys[i], err)
		}
		if err := agg.Add(ct); err != nil {
			return nil, err
		}
	}
	sum := agg.Sum()
	if sum == nil {
		return nil, fmt.Errorf("node: encrypted unit of job %s names no record", spec.ID)
	}
	return sum.MarshalBinary()
}

// readSealedUnit returns the bytes of a unit's ciphertext records, which
// is all that a worker of an encrypted job reads besides the assignment.
// It rejects a key outside sealedPrefix before any read, so that a
// manager cannot make a worker fetch plaintext segments.
func (s *jobService) readSealedUnit(ctx context.Context, spec *job.Spec, keys []string) ([][]byte, error) {
	out := make([][]byte, 0, len(keys))
	for _, key := range keys {
		if !strings.HasPrefix(key, sealedPrefix) {
			return nil, fmt.Errorf("node: encrypted job %s names record %q outside %s; a worker reads only ciphertexts",
				spec.ID, key, sealedPrefix)
		}
		var b bytes.Buffer
		if _, err := s.n.storage.store.Get(ctx, spec.Reader, spec.Namespace, key, &b, store.GetOptions{}); err != nil {
			return nil, fmt.Errorf("node: read ciphertext %q: %w", key, err)
		}
		out = append(out, b.Bytes())
	}
	return out, nil
}

// checkUnitResult checks that a worker's result decodes as the job's
// kind of aggregate, before the scheduler may commit it. References to
// stored page sums must name exactly the report's attempt, by the node
// that sent it, so that a worker cannot pass off another's sums. A
// digest must come with them when the job verifies units, and never
// otherwise.
func checkUnitResult(spec *job.Spec, storeSums bool, from identity.NodeID, m *wire.JobReport) error {
	if !spec.Encrypted {
		_, err := job.DecodePartial(m.Result)
		return err
	}
	params, err := heParams()
	if err != nil {
		return err
	}
	verified := spec.Sealed && storeSums && spec.Verify > 1
	if verified && len(m.Digest) != he.DigestSize {
		return fmt.Errorf("node: unit %d result has a digest of %d bytes, want %d: the job verifies stored page sums",
			m.Unit, len(m.Digest), he.DigestSize)
	}
	if !verified && len(m.Digest) > 0 {
		return fmt.Errorf("node: unit %d result has a digest, but the job compares results", m.Unit)
	}
	switch {
	case spec.Sealed && storeSums:
		refs, err := he.DecodeSumRefs(m.Result)
		if err != nil {
			return err
		}
		want := he.SumRef{Node: [he.NodeIDSize]byte(from), Unit: m.Unit, Epoch: m.Epoch, Lease: m.Lease}
		if len(refs) != 1 {
			return fmt.Errorf("node: unit result has %d sum references, want 1", len(refs))
		}
		if got := refs[0]; got.Node != want.Node || got.Unit != want.Unit || got.Epoch != want.Epoch || got.Lease != want.Lease {
			return fmt.Errorf("node: unit %d result references the sums of unit %d, epoch %d, lease %d, not its own",
				m.Unit, got.Unit, got.Epoch, got.Lease)
		}
		return nil
	case spec.Sealed:
		_, err = params.DecodePageSums(m.Result)
		return err
	}
	_, err = params.DecodeCiphertext(m.Result)
	return err
}

// sealedSum is the aggregate of an encrypted job: one ciphertext for a
// job encrypted at submit, page sums for a job over a sealed namespace,
// or, when those do not fit a job message, the references to the page
// sums each committed unit stored (by unit). That is one reference, or
// with --verify one per worker that agreed, the committed one first.
type sealedSum struct {
	one   *he.Aggregator
	pages *he.PageAggregator
	refs  map[uint32][]he.SumRef
}

// decodeAggregate returns a replicated aggregate: a Partial for a plain
// job, or the sum of the committed ciphertexts for an encrypted one, or
// the references to them when storeSums is set. Empty bytes mean nothing
// committed yet.
func decodeAggregate(spec *job.Spec, storeSums bool, b []byte) (*job.Partial, *sealedSum, error) {
	if !spec.Encrypted {
		if len(b) == 0 {
			return job.NewPartial(), nil, nil
		}
		p, err := job.DecodePartial(b)
		return p, nil, err
	}
	params, err := heParams()
	if err != nil {
		return nil, nil, err
	}
	if spec.Sealed && storeSums {
		sum := &sealedSum{refs: make(map[uint32][]he.SumRef)}
		if len(b) == 0 {
			return job.NewPartial(), sum, nil
		}
		refs, err := he.DecodeSumRefs(b)
		for _, r := range refs {
			sum.refs[r.Unit] = append(sum.refs[r.Unit], r)
		}
		return job.NewPartial(), sum, err
	}
	if spec.Sealed {
		sum := &sealedSum{pages: he.NewPageAggregator(params, he.MaxPageSums)}
		if len(b) == 0 {
			return job.NewPartial(), sum, nil
		}
		sums, err := params.DecodePageSums(b)
		if err != nil {
			return nil, nil, err
		}
		return job.NewPartial(), sum, sum.pages.AddSums(sums)
	}
	sum := &sealedSum{one: he.NewAggregator(params)}
	if len(b) == 0 {
		return job.NewPartial(), sum, nil
	}
	ct, err := params.DecodeCiphertext(b)
	if err != nil {
		return nil, nil, err
	}
	return job.NewPartial(), sum, sum.one.Add(ct)
}

// foldCommit adds a committed unit's result to the job's aggregate.
// mj.mu must be held.
func (mj *managedJob) foldCommit(c sched.Commit) error {
	if mj.sealed == nil {
		p, err := job.DecodePartial(c.Result)
		if err != nil {
			return err
		}
		mj.partial.Merge(p)
		return nil
	}
	if mj.sealed.refs != nil {
		return mj.sealed.addRef(c)
	}
	params, err := heParams()
	if err != nil {
		return err
	}
	if mj.sealed.pages != nil {
		// The submitter counted the job's page keys, so a sum of more than
		// he.MaxPageSums keys means a worker returned keys it was not given.
		sums, err := params.DecodePageSums(c.Result)
		if err != nil {
			return err
		}
		return mj.sealed.pages.AddSums(sums)
	}
	ct, err := params.DecodeCiphertext(c.Result)
	if err != nil {
		return err
	}
	return mj.sealed.one.Add(ct)
}

// addRef keeps the references of a committed unit: the committed
// result's, and when the workers agreed on a digest every agreeing
// worker's, each with that digest. The scheduler commits each unit once
// per job, and a takeover restores the references of exactly the commits
// it restores, so a second commit of one unit means a bug, and is
// rejected rather than counted.
func (s *sealedSum) addRef(c sched.Commit) error {
	if _, ok := s.refs[uint32(c.Unit)]; ok {
		return fmt.Errorf("node: unit %d committed twice; its second page sums are left out", c.Unit)
	}
	results := [][]byte{c.Result}
	var digest [he.DigestSize]byte
	if c.Digest != nil {
		if len(c.Digest) != he.DigestSize {
			return fmt.Errorf("node: commit of unit %d has a digest of %d bytes, want %d", c.Unit, len(c.Digest), he.DigestSize)
		}
		results, digest = c.Agreed, [he.DigestSize]byte(c.Digest)
	}
	var refs []he.SumRef
	for _, b := range results {
		got, err := he.DecodeSumRefs(b)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Unit != uint32(c.Unit) {
			return fmt.Errorf("node: commit of unit %d contains %d sum references, expected one to that unit", c.Unit, len(got))
		}
		got[0].Digest = digest
		refs = append(refs, got[0])
	}
	if len(refs) == 0 || len(refs) > he.MaxUnitRefs {
		return fmt.Errorf("node: commit of unit %d has %d agreeing results, want 1 to %d", c.Unit, len(refs), he.MaxUnitRefs)
	}
	s.refs[uint32(c.Unit)] = refs
	return nil
}

// encodeAggregate returns the job's aggregate for the backup and the
// status. mj.mu must be held.
func (mj *managedJob) encodeAggregate() ([]byte, error) {
	if mj.sealed == nil {
		return mj.partial.Encode()
	}
	if mj.sealed.refs != nil {
		if len(mj.sealed.refs) == 0 {
			return nil, nil
		}
		refs := make([]he.SumRef, 0, len(mj.sealed.refs))
		for _, unit := range slices.Sorted(maps.Keys(mj.sealed.refs)) {
			refs = append(refs, mj.sealed.refs[unit]...)
		}
		return he.EncodeSumRefs(refs)
	}
	if mj.sealed.pages != nil {
		sums := mj.sealed.pages.Sums()
		if len(sums) == 0 {
			return nil, nil
		}
		return he.EncodePageSums(sums)
	}
	sum := mj.sealed.one.Sum()
	if sum == nil {
		return nil, nil
	}
	return sum.MarshalBinary()
}

// jobStatusResult turns a manager's status into the API's. The result
// of an encrypted job is decrypted here, on the node it was submitted
// through, with the submitting user's key.
func (n *Node) jobStatusResult(id string, st *wire.JobStatus) (api.JobStatus, error) {
	n.jobs.mu.Lock()
	sj := n.jobs.submitted[id]
	n.jobs.mu.Unlock()
	if sj != nil && sj.spec.Encrypted && sj.spec.Sealed {
		return n.pagedStatus(sj, st)
	}
	if sj != nil && sj.spec.Encrypted && sj.sealed == nil {
		// Records stored before the layout was kept have none.
		return api.JobStatus{}, fmt.Errorf("node: the slot layout of encrypted job %s was not stored, so its result cannot be decrypted; submit the job again", id)
	}
	if sj == nil || sj.sealed == nil {
		return apiJobStatus(st, n.submittedSpec(id))
	}
	res, err := apiJobStatus(&wire.JobStatus{JobID: st.JobID, Epoch: st.Epoch, Units: st.Units, Committed: st.Committed,
		Failed: st.Failed, Workers: st.Workers, Done: st.Done, Canceled: st.Canceled, Err: st.Err,
		FailedErr: st.FailedErr}, sj.spec)
	if err != nil || (!st.Done && !st.Canceled) {
		return res, err
	}
	res.Groups = []api.AggregateGroup{}
	if len(st.Partial) == 0 {
		return res, nil
	}
	groups, err := n.openSealed(sj.sealed, st.Partial)
	if err != nil {
		return res, err
	}
	res.Groups = groups
	return res, nil
}

// openSealed decrypts an encrypted job's aggregate and reads each
// group's sums from its slots. A count or sum that the plan rules out
// fails with he.ErrCorrupt, which is how a unit counted twice, a wrapped
// sum or a tampered ciphertext shows.
func (n *Node) openSealed(sj *sealedJob, b []byte) ([]api.AggregateGroup, error) {
	key, params, err := n.openingKey(sj.user)
	if err != nil {
		return nil, err
	}
	ct, err := params.DecodeCiphertext(b)
	if err != nil {
		return nil, err
	}
	slots, err := key.DecryptSlots(ct)
	if err != nil {
		return nil, err
	}
	var out []api.AggregateGroup
	for _, g := range sj.groups {
		ag, err := sj.openGroup(g, slots)
		if err != nil {
			return nil, err
		}
		if ag.Count > 0 {
			out = append(out, ag)
		}
	}
	return out, nil
}

// openGroup reads one group's slots. A group whose units did not all
// commit, as in a canceled job, contains only the readings of those
// that did.
func (sj *sealedJob) openGroup(g sealedGroup, slots []int64) (api.AggregateGroup, error) {
	count := slots[g.count]
	if count < 0 || count > sj.plan.MaxValues {
		return api.AggregateGroup{}, fmt.Errorf("%w: group %s counts %d readings, the job has at most %d",
			he.ErrCorrupt, g.key, count, sj.plan.MaxValues)
	}
	ag := api.AggregateGroup{Sensor: g.sensor, Count: int(count), Fields: make(map[string]api.FieldStats)}
	if sj.by.Time != search.All {
		start := time.Unix(g.start, 0).UTC()
		ag.Start = &start
	}
	magnitude := max(abs(sj.plan.Min), abs(sj.plan.Max))
	for _, f := range g.fields {
		sum, values := slots[f.sum], slots[f.count]
		if values == 0 && sum == 0 {
			continue
		}
		bound := float64(values) * magnitude * float64(sj.plan.Scale)
		if values < 0 || values > count || abs(float64(sum)) > bound {
			return api.AggregateGroup{}, fmt.Errorf("%w: field %q of group %s sums to %d units over %d values of %d readings",
				he.ErrCorrupt, f.name, g.key, sum, values, count)
		}
		ag.Fields[f.name] = sj.fieldStats(sum, values)
	}
	return ag, nil
}

// fieldStats returns the aggregates a job asked for of one field. The
// sum and the mean are exact quotients of integers, rounded to float64
// once.
func (sj *sealedJob) fieldStats(sum, values int64) api.FieldStats {
	fs := api.FieldStats{Count: int(values)}
	total, _ := new(big.Rat).SetFrac64(sum, sj.plan.Scale).Float64()
	denominator := new(big.Int).Mul(big.NewInt(values), big.NewInt(sj.plan.Scale))
	mean, _ := new(big.Rat).SetFrac(big.NewInt(sum), denominator).Float64()
	if sj.aggregates["sum"] {
		fs.Sum = &total
	}
	if sj.aggregates["mean"] {
		fs.Mean = &mean
	}
	return fs
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
