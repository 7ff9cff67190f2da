package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
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
		if err := checkUnitResult(spec, b); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
	}
	if err := checkUnitResult(spec, units[0][:len(units[0])-1]); err == nil {
		t.Error("a truncated ciphertext passed the result check")
	}
	plain, err := job.NewPartial().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkUnitResult(spec, plain); err == nil {
		t.Error("a plain job's partial passed as an encrypted unit's result")
	}

	manager := newSealedManager(t, spec, nil)
	if err := manager.foldCommit(units[0]); err != nil {
		t.Fatal(err)
	}
	replica, err := manager.encodeAggregate()
	if err != nil {
		t.Fatal(err)
	}
	backup := newSealedManager(t, spec, replica)
	if err := backup.foldCommit(units[1]); err != nil {
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
	mj := newSealedManager(t, spec, nil)
	b, err := mj.encodeAggregate()
	if err != nil || len(b) != 0 {
		t.Fatalf("empty aggregate encodes to %d bytes, %v; want none", len(b), err)
	}
	if _, sealed, err := decodeAggregate(spec, []byte{1, 2, 3}); err == nil || sealed != nil {
		t.Errorf("three bytes decoded as an encrypted aggregate: %v", err)
	}
}

func newSealedManager(t *testing.T, spec *job.Spec, replica []byte) *managedJob {
	t.Helper()
	partial, sealed, err := decodeAggregate(spec, replica)
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
