package sched

import "fmt"

// A Snapshot travels in two parts. The unit list (EncodeUnitList) is
// fixed when the job is submitted: the units' segments, readings and
// holders, about 63 bytes per segment. The state (EncodeState) is what
// changes while the job runs: the epoch, the committed and failed units,
// the attempt counts, the workers, the byte counts and the clusters the
// units have learned. A backup receives the list once and then a state
// after each round of commits, which costs about two bits per unit
// instead of the whole list. DecodeState joins a state to its list.

// MaxUnitListBytes is the largest encoded unit list DecodeUnitList
// accepts, the same bound as a whole snapshot's.
const MaxUnitListBytes = MaxSnapshotBytes

// unitListVersion is the version of the unit list encoding.
const unitListVersion = 1

// unitListWire is the encoded form of a unit list. Units carry no
// cluster: a unit's cluster may change, so the state carries it.
type unitListWire struct {
	_           struct{} `cbor:",toarray"`
	Version     uint8
	Units       []unitWire
	HolderLists [][]WorkerID
}

// stateWire is the encoded form of a snapshot's state. Committed and
// Failed are bit sets over the units, bit i%8 of byte i/8 for unit i, so
// a replica of a million units carries 256 KiB of them. Attempts lists
// only the units that failed a run, which are few.
type stateWire struct {
	_         struct{} `cbor:",toarray"`
	Version   uint8
	Epoch     uint64
	Units     int
	Committed []byte
	Failed    []byte
	Attempts  []unitAttempts
	// Clusters are the distinct cluster names, and ClusterRuns the runs
	// of consecutive units that have one of them: units of one sensor
	// are consecutive, and learn one cluster together.
	Clusters    []string
	ClusterRuns []clusterRun
	Workers     []SnapshotWorker
	Locality    Locality
}

type unitAttempts struct {
	_        struct{} `cbor:",toarray"`
	Unit     UnitID
	Attempts int
}

type clusterRun struct {
	_     struct{} `cbor:",toarray"`
	First UnitID
	Count int
	// Cluster is the position of the name in stateWire.Clusters.
	Cluster int
}

// EncodeUnitList returns the encoding of a job's units without their
// clusters. Encoding the same units again gives the same bytes.
func EncodeUnitList(units []Unit) ([]byte, error) {
	if len(units) > MaxUnits {
		return nil, fmt.Errorf("%w: %d units, limit %d", ErrMalformed, len(units), MaxUnits)
	}
	for i := range units {
		if err := validateUnit(&units[i], i); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	w := unitListWire{Version: unitListVersion}
	w.Units, w.HolderLists = unitsToWire(units, false)
	b, err := snapEnc.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("sched: encode unit list: %w", err)
	}
	if len(b) > MaxUnitListBytes {
		return nil, fmt.Errorf("%w: unit list of %d units is %d bytes, limit %d", ErrMalformed, len(units), len(b), MaxUnitListBytes)
	}
	return b, nil
}

// DecodeUnitList parses an encoding written by EncodeUnitList and checks
// every unit against the limits of a snapshot. Segments that shared a
// holder list share one slice after decoding, which the caller must not
// modify.
func DecodeUnitList(b []byte) ([]Unit, error) {
	if len(b) > MaxUnitListBytes {
		return nil, fmt.Errorf("%w: unit list of %d bytes, limit %d", ErrMalformed, len(b), MaxUnitListBytes)
	}
	var w unitListWire
	if err := snapDec.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: unit list: %v", ErrMalformed, err)
	}
	if w.Version != unitListVersion {
		return nil, fmt.Errorf("%w: unit list version %d, this decoder reads %d", ErrMalformed, w.Version, unitListVersion)
	}
	if len(w.Units) > MaxUnits {
		return nil, fmt.Errorf("%w: unit list of %d units, limit %d", ErrMalformed, len(w.Units), MaxUnits)
	}
	for i, u := range w.Units {
		if u.Cluster != "" {
			return nil, fmt.Errorf("%w: unit list names cluster %q for unit %d; clusters travel in the state", ErrMalformed, u.Cluster, i)
		}
	}
	units, err := unitsFromWire(w.Units, w.HolderLists)
	if err != nil {
		return nil, fmt.Errorf("%w: unit list: %v", ErrMalformed, err)
	}
	for i := range units {
		if err := validateUnit(&units[i], i); err != nil {
			return nil, fmt.Errorf("%w: unit list: %v", ErrMalformed, err)
		}
	}
	return units, nil
}

// EncodeState returns the encoding of the snapshot's state: everything
// but the unit list. DecodeState joins it to the units again.
func (s *Snapshot) EncodeState() ([]byte, error) {
	if err := s.validateState(); err != nil {
		return nil, err
	}
	n := len(s.Units)
	w := stateWire{Version: s.Version, Epoch: s.Epoch, Units: n, Committed: unitBits(s.Committed, n),
		Failed: unitBits(s.Failed, n), Workers: s.Workers, Locality: s.Locality}
	for i, a := range s.Attempts {
		if a > 0 {
			w.Attempts = append(w.Attempts, unitAttempts{Unit: UnitID(i), Attempts: a})
		}
	}
	names := make(map[string]int)
	for i := 0; i < n; {
		c := s.Units[i].Cluster
		j := i + 1
		for j < n && s.Units[j].Cluster == c {
			j++
		}
		if c != "" {
			ref, ok := names[c]
			if !ok {
				ref = len(w.Clusters)
				names[c] = ref
				w.Clusters = append(w.Clusters, c)
			}
			w.ClusterRuns = append(w.ClusterRuns, clusterRun{First: UnitID(i), Count: j - i, Cluster: ref})
		}
		i = j
	}
	b, err := snapEnc.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("sched: encode snapshot state: %w", err)
	}
	return b, nil
}

// DecodeState parses a state written by EncodeState and joins it to the
// units of its unit list, which DecodeUnitList checked. The snapshot
// shares the units' segments, which the caller must not modify.
func DecodeState(b []byte, units []Unit) (*Snapshot, error) {
	if len(b) > MaxSnapshotBytes {
		return nil, fmt.Errorf("%w: state of %d bytes, limit %d", ErrMalformed, len(b), MaxSnapshotBytes)
	}
	var w stateWire
	if err := snapDec.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: state: %v", ErrMalformed, err)
	}
	if w.Units != len(units) {
		return nil, fmt.Errorf("%w: state of %d units for a unit list of %d", ErrMalformed, w.Units, len(units))
	}
	s := &Snapshot{Version: w.Version, Epoch: w.Epoch, Units: make([]Unit, len(units)), Attempts: make([]int, len(units)),
		Workers: w.Workers, Locality: w.Locality}
	for i, u := range units {
		u.Cluster = ""
		s.Units[i] = u
	}
	var err error
	if s.Committed, err = unitIDs(w.Committed, len(units)); err != nil {
		return nil, fmt.Errorf("%w: committed units: %v", ErrMalformed, err)
	}
	if s.Failed, err = unitIDs(w.Failed, len(units)); err != nil {
		return nil, fmt.Errorf("%w: failed units: %v", ErrMalformed, err)
	}
	if err := w.fillAttempts(s.Attempts); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := w.fillClusters(s.Units); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := s.validateState(); err != nil {
		return nil, err
	}
	return s, nil
}

// unitBits returns the bit set of ids over n units.
func unitBits(ids []UnitID, n int) []byte {
	b := make([]byte, (n+7)/8)
	for _, id := range ids {
		b[id/8] |= 1 << (id % 8)
	}
	return b
}

// unitIDs returns the units set in b, ascending. b must have one bit per
// unit, and no bit set past the last unit, so that each set has one
// encoding.
func unitIDs(b []byte, n int) ([]UnitID, error) {
	if len(b) != (n+7)/8 {
		return nil, fmt.Errorf("bit set of %d bytes for %d units, want %d", len(b), n, (n+7)/8)
	}
	var ids []UnitID
	for i, v := range b {
		for bit := range 8 {
			if v&(1<<bit) == 0 {
				continue
			}
			id := i*8 + bit
			if id >= n {
				return nil, fmt.Errorf("bit of unit %d set past the last unit %d", id, n-1)
			}
			ids = append(ids, UnitID(id))
		}
	}
	return ids, nil
}

// fillAttempts sets the attempt counts the state lists, which must name
// ascending units with counts above 0.
func (w *stateWire) fillAttempts(attempts []int) error {
	for i, a := range w.Attempts {
		if a.Unit < 0 || int(a.Unit) >= len(attempts) || a.Attempts < 1 {
			return fmt.Errorf("%d attempts for unit %d of %d", a.Attempts, a.Unit, len(attempts))
		}
		if i > 0 && w.Attempts[i-1].Unit >= a.Unit {
			return fmt.Errorf("attempts of unit %d after unit %d, not ascending", a.Unit, w.Attempts[i-1].Unit)
		}
		attempts[a.Unit] = a.Attempts
	}
	return nil
}

// fillClusters sets the units' clusters from the state's runs, which
// must be ascending, apart and name distinct, non-empty clusters.
func (w *stateWire) fillClusters(units []Unit) error {
	seen := make(map[string]bool, len(w.Clusters))
	for i, c := range w.Clusters {
		if c == "" || len(c) > maxNameLen || seen[c] {
			return fmt.Errorf("cluster %d is empty, longer than %d bytes or listed twice", i, maxNameLen)
		}
		seen[c] = true
	}
	next := 0
	for _, r := range w.ClusterRuns {
		if r.First < UnitID(next) || r.Count < 1 || r.Count > len(units)-int(r.First) ||
			r.Cluster < 0 || r.Cluster >= len(w.Clusters) {
			return fmt.Errorf("cluster run of %d units from unit %d, cluster %d of %d: out of order or out of range",
				r.Count, r.First, r.Cluster, len(w.Clusters))
		}
		for i := range r.Count {
			units[int(r.First)+i].Cluster = w.Clusters[r.Cluster]
		}
		next = int(r.First) + r.Count
	}
	return nil
}
