package node

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
)

// An encrypted job's aggregate goes from a manager to its backup as
// bytes. A backup that takes over from those bytes and adds the next
// unit holds the same sum as a manager that added both units.
func TestSealedAggregateReplicates(t *testing.T) {
	params, err := heParams()
	if err != nil {
		t.Fatal(err)
	}
	key := he.GenerateKey(params)
	enc, err := he.NewEncryptor(key.PublicKey(), he.Plan{Scale: 100, Min: -100, Max: 100, MaxValues: 100})
	if err != nil {
		t.Fatal(err)
	}
	units := make([][]byte, 2)
	for i, slots := range [][]int64{{3, 2208, 2}, {1, -150, 1}} {
		ct, err := enc.EncryptSlots(slots)
		if err != nil {
			t.Fatal(err)
		}
		if units[i], err = ct.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"mean"}, Encrypted: true, Scale: 100}

	for i, b := range units {
		if err := checkUnitResult(spec, false, identity.NodeID{}, &wire.JobReport{Result: b}); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
	}
	if err := checkUnitResult(spec, false, identity.NodeID{}, &wire.JobReport{Result: units[0][:len(units[0])-1]}); err == nil {
		t.Error("a truncated ciphertext passed the result check")
	}
	plain, err := job.NewPartial().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkUnitResult(spec, false, identity.NodeID{}, &wire.JobReport{Result: plain}); err == nil {
		t.Error("a plain job's partial passed as an encrypted unit's result")
	}

	manager := newSealedManager(t, spec, false, nil)
	if err := manager.foldCommit(sched.Commit{Result: units[0]}); err != nil {
		t.Fatal(err)
	}
	replica, err := manager.encodeAggregate()
	if err != nil {
		t.Fatal(err)
	}
	backup := newSealedManager(t, spec, false, replica)
	if err := backup.foldCommit(sched.Commit{Result: units[1]}); err != nil {
		t.Fatal(err)
	}
	final, err := backup.encodeAggregate()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := params.DecodeCiphertext(final)
	if err != nil {
		t.Fatal(err)
	}
	slots, err := key.DecryptSlots(ct)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{4, 2058, 3} {
		if slots[i] != want {
			t.Errorf("slot %d is %d after takeover, want %d", i, slots[i], want)
		}
	}
}

// An encrypted job with nothing committed replicates no bytes, and those
// decode to an empty sum.
func TestSealedAggregateEmpty(t *testing.T) {
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"mean"}, Encrypted: true, Scale: 100}
	mj := newSealedManager(t, spec, false, nil)
	b, err := mj.encodeAggregate()
	if err != nil || len(b) != 0 {
		t.Fatalf("empty aggregate encodes to %d bytes, %v; want none", len(b), err)
	}
	if _, sealed, err := decodeAggregate(spec, false, []byte{1, 2, 3}); err == nil || sealed != nil {
		t.Errorf("three bytes decoded as an encrypted aggregate: %v", err)
	}
}

// A sealed job whose page sums are stored keeps one reference per
// committed unit. A backup that takes over from the replicated
// references and commits the next unit holds both, a second commit of a
// unit is rejected, and a worker's result must reference its own
// attempt.
func TestSumRefsAggregateReplicates(t *testing.T) {
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"mean"}, By: "sensor", Encrypted: true, Sealed: true, Scale: 100}
	worker := identity.NodeID{7}
	report := func(unit uint32, lease uint64, sums uint32) *wire.JobReport {
		b, err := he.EncodeSumRefs([]he.SumRef{{Node: worker, Unit: unit, Epoch: 1, Lease: lease, Sums: sums}})
		if err != nil {
			t.Fatal(err)
		}
		return &wire.JobReport{JobID: "j", Epoch: 1, Lease: lease, Unit: unit, Result: b}
	}
	first, second := report(1, 10, 8), report(2, 11, 3)
	for _, m := range []*wire.JobReport{first, second} {
		if err := checkUnitResult(spec, true, worker, m); err != nil {
			t.Fatalf("unit %d: %v", m.Unit, err)
		}
	}
	if err := checkUnitResult(spec, true, identity.NodeID{8}, first); err == nil {
		t.Error("a reference to another node's sums passed the result check")
	}
	other := report(1, 12, 8)
	other.Lease = 10
	if err := checkUnitResult(spec, true, worker, other); err == nil {
		t.Error("a reference to another lease's sums passed the result check")
	}
	if err := checkUnitResult(spec, false, worker, first); err == nil {
		t.Error("a reference passed as page sums")
	}

	manager := newSealedManager(t, spec, true, nil)
	if err := manager.foldCommit(sched.Commit{Unit: 1, Result: first.Result}); err != nil {
		t.Fatal(err)
	}
	replica, err := manager.encodeAggregate()
	if err != nil {
		t.Fatal(err)
	}
	backup := newSealedManager(t, spec, true, replica)
	if err := backup.foldCommit(sched.Commit{Unit: 2, Result: second.Result}); err != nil {
		t.Fatal(err)
	}
	if err := backup.foldCommit(sched.Commit{Unit: 1, Result: report(1, 13, 8).Result}); err == nil {
		t.Error("a second commit of unit 1 was counted")
	}
	if err := backup.foldCommit(sched.Commit{Unit: 3, Result: second.Result}); err == nil {
		t.Error("a commit of unit 3 holding unit 2's reference was counted")
	}
	final, err := backup.encodeAggregate()
	if err != nil {
		t.Fatal(err)
	}
	refs, err := he.DecodeSumRefs(final)
	if err != nil {
		t.Fatal(err)
	}
	want := []he.SumRef{{Node: worker, Unit: 1, Epoch: 1, Lease: 10, Sums: 8}, {Node: worker, Unit: 2, Epoch: 1, Lease: 11, Sums: 3}}
	if !slices.Equal(refs, want) {
		t.Errorf("references after takeover %+v, want %+v", refs, want)
	}
}

func newSealedManager(t *testing.T, spec *job.Spec, storeSums bool, replica []byte) *managedJob {
	t.Helper()
	partial, sealed, err := decodeAggregate(spec, storeSums, replica)
	if err != nil {
		t.Fatal(err)
	}
	if sealed == nil {
		t.Fatal("an encrypted job's aggregate decoded without a ciphertext sum")
	}
	return &managedJob{spec: spec, partial: partial, sealed: sealed}
}

// newSealedJob lays out one slot per group for its readings and two per
// field, and rejects a layout larger than one ciphertext.
func TestSealedLayout(t *testing.T) {
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	reading := func(source string, fields int) sensor.Reading {
		r := sensor.Reading{Source: source, Time: start}
		for i := range fields {
			r.Fields = append(r.Fields, sensor.Field{Name: fmt.Sprintf("f%02d", i), Value: sensor.Number(float64(i) / 4)})
		}
		return r
	}
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"mean"}, By: "sensor", Encrypted: true, Scale: 100}

	segs := [][]sensor.Reading{{reading("a", 2), reading("a", 2)}, {reading("b", 3)}}
	sj, sums, err := newSealedJob("default", spec, segs)
	if err != nil {
		t.Fatal(err)
	}
	if sj.slots != 1+2*2+1+2*3 || len(sj.groups) != 2 || len(sums) != 2 {
		t.Fatalf("layout of %d slots in %d groups from %d segments; want 12 slots, 2 groups, 2 segments",
			sj.slots, len(sj.groups), len(sums))
	}
	slots := sj.slotsOf(sums[0])
	a := sj.groups[0]
	if slots[a.count] != 2 || slots[a.fields[1].sum] != 50 || slots[a.fields[1].count] != 2 {
		t.Errorf("segment a fills slots %v, want 2 readings and f01 summing to 50 over 2 values", slots)
	}
	if b := sj.groups[1]; slots[b.count] != 0 {
		t.Errorf("segment a wrote %d readings into group b", slots[b.count])
	}

	// 200 sensors of 20 fields need 200 × 41 = 8,200 slots, above 8,192.
	var many [][]sensor.Reading
	for i := range 200 {
		many = append(many, []sensor.Reading{reading(fmt.Sprintf("s%03d", i), 20)})
	}
	if _, _, err := newSealedJob("default", spec, many); !errors.Is(err, ErrSealedLayout) || !errors.Is(err, job.ErrInvalid) {
		t.Errorf("8,200 slots: error %v, want ErrSealedLayout and job.ErrInvalid", err)
	}
}

// The Machine marks a unit committed as soon as its report arrives, and
// the manager folds the result a step later. A replica taken in between
// must fold it first, or a backup taking over from it would hold the
// unit as committed without its result.
func TestReplicaFoldsPendingCommits(t *testing.T) {
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"mean"}, By: "sensor", Encrypted: true, Sealed: true, Scale: 100}
	mj := newSealedManager(t, spec, true, nil)
	units := []sched.Unit{
		{ID: 0, Segments: []sched.Segment{{Key: "he/seg/a", Readings: 1}}, Readings: 1},
		{ID: 1, Segments: []sched.Segment{{Key: "he/seg/b", Readings: 1}}, Readings: 1},
	}
	m, err := sched.New(jobConfig(0), 1, units)
	if err != nil {
		t.Fatal(err)
	}
	list, err := newUnitList(units)
	if err != nil {
		t.Fatal(err)
	}
	mj.machine, mj.epoch, mj.units = m, 1, list
	now := time.Now()
	if err := m.AddWorker(now, "w", sched.TierUpper); err != nil {
		t.Fatal(err)
	}
	if err := m.Tick(now); err != nil {
		t.Fatal(err)
	}
	assigns, _ := m.Outbox()
	if len(assigns) == 0 {
		t.Fatal("the Machine assigned no unit")
	}
	a := assigns[0]
	result, err := he.EncodeSumRefs([]he.SumRef{{Node: [he.NodeIDSize]byte{7}, Unit: uint32(a.Unit.ID), Epoch: a.Epoch, Lease: a.Lease, Sums: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleReport(now, sched.Report{Worker: "w", Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID, Result: result}); err != nil {
		t.Fatal(err)
	}

	msg, err := mj.replicaLocked()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sched.DecodeState(msg.State, units)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := he.DecodeSumRefs(msg.Partial)
	if err != nil {
		t.Fatalf("replica aggregate: %v", err)
	}
	if len(snap.Committed) != 1 || snap.Committed[0] != a.Unit.ID {
		t.Fatalf("replica snapshot commits %v, want unit %d", snap.Committed, a.Unit.ID)
	}
	if len(refs) != 1 || refs[0].Unit != uint32(a.Unit.ID) {
		t.Errorf("replica aggregate references %+v, want unit %d, the one its snapshot commits", refs, a.Unit.ID)
	}
}

// A sealed job with --verify 2 whose page sums are stored keeps, per
// committed unit, the references of both agreeing workers with their
// digest. A backup that takes over from the replica holds exactly those
// of the replicated commit and adds its own, a second commit of a unit
// is rejected, and a report needs a digest of the right size, which a
// job without --verify rejects.
func TestVerifiedSumRefsReplicate(t *testing.T) {
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"mean"}, By: "sensor", Encrypted: true, Sealed: true,
		Scale: 100, Verify: 2}
	a, b := identity.NodeID{7}, identity.NodeID{8}
	digest := bytes.Repeat([]byte{5}, he.DigestSize)
	report := func(worker identity.NodeID, unit uint32, lease uint64) *wire.JobReport {
		ref, err := he.EncodeSumRefs([]he.SumRef{{Node: worker, Unit: unit, Epoch: 1, Lease: lease, Sums: 2}})
		if err != nil {
			t.Fatal(err)
		}
		return &wire.JobReport{JobID: "j", Epoch: 1, Lease: lease, Unit: unit, Result: ref, Digest: digest}
	}
	fromA, fromB := report(a, 1, 10), report(b, 1, 11)
	if err := checkUnitResult(spec, true, a, fromA); err != nil {
		t.Fatal(err)
	}
	short := report(a, 1, 10)
	short.Digest = digest[:8]
	if err := checkUnitResult(spec, true, a, short); err == nil {
		t.Error("a digest of 8 bytes passed the result check")
	}
	short.Digest = nil
	if err := checkUnitResult(spec, true, a, short); err == nil {
		t.Error("a reference without a digest passed the result check of a job with --verify 2")
	}
	unverified := *spec
	unverified.Verify = 1
	if err := checkUnitResult(&unverified, true, a, fromA); err == nil {
		t.Error("a digest passed the result check of a job without --verify")
	}

	manager := newSealedManager(t, spec, true, nil)
	commit := sched.Commit{Unit: 1, Result: fromA.Result, Digest: digest, Agreed: [][]byte{fromA.Result, fromB.Result}}
	if err := manager.foldCommit(commit); err != nil {
		t.Fatal(err)
	}
	replica, err := manager.encodeAggregate()
	if err != nil {
		t.Fatal(err)
	}
	backup := newSealedManager(t, spec, true, replica)
	if err := backup.foldCommit(commit); err == nil {
		t.Error("a second commit of unit 1 was counted")
	}
	later := sched.Commit{Unit: 2, Result: report(b, 2, 20).Result, Digest: digest,
		Agreed: [][]byte{report(b, 2, 20).Result, report(a, 2, 21).Result}}
	if err := backup.foldCommit(later); err != nil {
		t.Fatal(err)
	}
	final, err := backup.encodeAggregate()
	if err != nil {
		t.Fatal(err)
	}
	refs, err := he.DecodeSumRefs(final)
	if err != nil {
		t.Fatal(err)
	}
	d := [he.DigestSize]byte(digest)
	want := []he.SumRef{
		{Node: a, Unit: 1, Epoch: 1, Lease: 10, Sums: 2, Digest: d}, {Node: b, Unit: 1, Epoch: 1, Lease: 11, Sums: 2, Digest: d},
		{Node: b, Unit: 2, Epoch: 1, Lease: 20, Sums: 2, Digest: d}, {Node: a, Unit: 2, Epoch: 1, Lease: 21, Sums: 2, Digest: d},
	}
	if !slices.Equal(refs, want) {
		t.Errorf("references after takeover %+v, want %+v", refs, want)
	}
}
