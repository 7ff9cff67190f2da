package sched

import (
	"fmt"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Limits on a decoded Snapshot.
const (
	// MaxSnapshotBytes is the largest encoded snapshot DecodeSnapshot
	// accepts.
	MaxSnapshotBytes = 64 << 20
	// MaxUnits is the most units a job may have.
	MaxUnits = 1 << 20
	// MaxSegmentsPerUnit is the most segments one unit may hold.
	MaxSegmentsPerUnit = 1 << 12
	// MaxHolders is the most holders listed for one segment.
	MaxHolders = 64
	// MaxWorkers is the most workers a snapshot may list.
	MaxWorkers = 1 << 16
	// maxNameLen bounds a segment key or worker ID, in bytes.
	maxNameLen = 256
)

// snapshotVersion is the version of the snapshot encoding. Version 3
// lists each distinct holder list once.
const snapshotVersion = 3

// Snapshot is the state a backup needs to take over a job: the units,
// which of them are committed or failed, their attempt counts, and the
// workers. Running leases and results that have not yet committed are
// left out, so their units run again under the new epoch.
type Snapshot struct {
	_         struct{} `cbor:",toarray"`
	Version   uint8
	Epoch     uint64
	Units     []Unit
	Committed []UnitID // ascending
	Failed    []UnitID // ascending
	Attempts  []int    // by unit
	Workers   []SnapshotWorker
	// Locality counts the bytes of the committed units.
	Locality Locality
}

// SnapshotWorker is a worker as a Snapshot records it.
type SnapshotWorker struct {
	_       struct{} `cbor:",toarray"`
	ID      WorkerID
	Tier    Tier
	Cluster string
}

// Snapshot returns the Machine's state. The caller must save it together
// with the aggregate of every Commit drained so far, and no other.
func (m *Machine) Snapshot() *Snapshot {
	s := &Snapshot{Version: snapshotVersion, Epoch: m.epoch, Attempts: make([]int, len(m.units)),
		Locality: m.locality}
	for i := range m.units {
		u := &m.units[i]
		s.Units = append(s.Units, u.unit)
		s.Attempts[i] = u.attempts
		if u.committed {
			s.Committed = append(s.Committed, UnitID(i))
		}
		if u.failed {
			s.Failed = append(s.Failed, UnitID(i))
		}
	}
	for _, w := range m.workers {
		s.Workers = append(s.Workers, SnapshotWorker{ID: w.id, Tier: w.tier, Cluster: w.cluster})
	}
	return s
}

// Restore returns a Machine that continues from s at epoch, which must be
// above s.Epoch. The workers in s count as heard from at now, and the
// units that were not committed or failed are assigned afresh.
func Restore(cfg Config, s *Snapshot, epoch uint64, now time.Time) (*Machine, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if epoch <= s.Epoch {
		return nil, fmt.Errorf("%w: restore at epoch %d, snapshot is of epoch %d; take a higher one",
			ErrInvalid, epoch, s.Epoch)
	}
	m, err := New(cfg, epoch, s.Units)
	if err != nil {
		return nil, err
	}
	for i := range m.units {
		m.units[i].attempts = s.Attempts[i]
	}
	for _, id := range s.Committed {
		m.units[id].committed = true
		m.close(&m.units[id])
	}
	for _, id := range s.Failed {
		m.units[id].failed = true
		m.close(&m.units[id])
	}
	m.locality = s.Locality
	for _, w := range s.Workers {
		w := m.addWorker(WorkerInfo{ID: w.ID, Tier: w.Tier, Cluster: w.Cluster}, now)
		m.queueIfIdle(w)
		m.freed = append(m.freed, w)
	}
	m.schedule(now)
	return m, nil
}

var (
	snapEnc cbor.EncMode
	snapDec cbor.DecMode
)

func init() {
	var err error
	snapEnc, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	snapDec, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		// Snapshot, units, unit, segments, segment, holders.
		MaxNestedLevels:  8,
		MaxArrayElements: MaxUnits,
		MaxMapPairs:      16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode returns the snapshot's CBOR encoding.
func (s *Snapshot) Encode() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	b, err := snapEnc.Marshal(s.toWire())
	if err != nil {
		return nil, fmt.Errorf("sched: encode snapshot: %w", err)
	}
	return b, nil
}

// DecodeSnapshot parses an encoding written by Encode and checks
// it against the limits above and the rules of a Machine's state.
// Segments that shared a holder list when encoded share one slice
// after decoding, which the caller must not modify.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	if len(b) > MaxSnapshotBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxSnapshotBytes)
	}
	var w snapshotWire
	if err := snapDec.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	s, err := w.snapshot()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Snapshot) validate() error {
	if err := s.validateState(); err != nil {
		return err
	}
	for i := range s.Units {
		if err := validateUnit(&s.Units[i], i); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return nil
}

// validateState checks everything but the units' segments, which a unit
// list checks once when it decodes.
func (s *Snapshot) validateState() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if s.Version != snapshotVersion {
		return bad("version %d, this decoder reads %d", s.Version, snapshotVersion)
	}
	if s.Epoch == 0 {
		return bad("epoch 0")
	}
	if len(s.Units) > MaxUnits || len(s.Attempts) != len(s.Units) {
		return bad("%d units with %d attempt counts, limit %d units", len(s.Units), len(s.Attempts), MaxUnits)
	}
	for i := range s.Units {
		if len(s.Units[i].Cluster) > maxNameLen {
			return bad("unit %d has a cluster name of %d bytes, limit %d", i, len(s.Units[i].Cluster), maxNameLen)
		}
		if s.Attempts[i] < 0 {
			return bad("unit %d has %d attempts", i, s.Attempts[i])
		}
	}
	if err := validateIDs(s.Committed, len(s.Units)); err != nil {
		return bad("committed units: %v", err)
	}
	if err := validateIDs(s.Failed, len(s.Units)); err != nil {
		return bad("failed units: %v", err)
	}
	for _, id := range s.Failed {
		if _, ok := slices.BinarySearch(s.Committed, id); ok {
			return bad("unit %d both committed and failed", id)
		}
	}
	if l := s.Locality; l.Held < 0 || l.Cluster < 0 || l.Remote < 0 || l.Unknown < 0 {
		return bad("negative byte counts %+v", l)
	}
	return validateWorkers(s.Workers)
}

func validateUnit(u *Unit, i int) error {
	if u.ID != UnitID(i) {
		return fmt.Errorf("unit at index %d has ID %d", i, u.ID)
	}
	if len(u.Segments) > MaxSegmentsPerUnit {
		return fmt.Errorf("unit %d has %d segments, limit %d", i, len(u.Segments), MaxSegmentsPerUnit)
	}
	sum := 0
	for _, seg := range u.Segments {
		if len(seg.Key) > maxNameLen || seg.Readings < 0 || len(seg.Holders) > MaxHolders {
			return fmt.Errorf("unit %d has an invalid segment (key of %d bytes, %d readings, %d holders)",
				i, len(seg.Key), seg.Readings, len(seg.Holders))
		}
		for _, h := range seg.Holders {
			if len(h) > maxNameLen {
				return fmt.Errorf("unit %d has a holder ID of %d bytes, limit %d", i, len(h), maxNameLen)
			}
		}
		sum += seg.Readings
	}
	if sum != u.Readings {
		return fmt.Errorf("unit %d counts %d readings, its segments %d", i, u.Readings, sum)
	}
	return nil
}

func validateIDs(ids []UnitID, units int) error {
	for i, id := range ids {
		if id < 0 || int(id) >= units {
			return fmt.Errorf("unit %d of %d", id, units)
		}
		if i > 0 && ids[i-1] >= id {
			return fmt.Errorf("unit %d after %d, not ascending", id, ids[i-1])
		}
	}
	return nil
}

func validateWorkers(workers []SnapshotWorker) error {
	if len(workers) > MaxWorkers {
		return fmt.Errorf("%w: %d workers, limit %d", ErrMalformed, len(workers), MaxWorkers)
	}
	seen := make(map[WorkerID]bool, len(workers))
	for _, w := range workers {
		if w.ID == "" || len(w.ID) > maxNameLen || len(w.Cluster) > maxNameLen || w.Tier > TierLower || seen[w.ID] {
			return fmt.Errorf("%w: worker %q of tier %d is empty, too long, of unknown tier or listed twice, or its cluster is too long",
				ErrMalformed, w.ID, w.Tier)
		}
		seen[w.ID] = true
	}
	return nil
}
