package sched

import (
	"fmt"
	"slices"
	"strings"
)

// snapshotWire is the encoded form of a Snapshot. Many segments of a job
// have the same holders (every segment stored inline in one directory
// shard does), so each distinct holder list is written once, in
// HolderLists, and a segment names its list by position. Repeating the
// list per segment made a job's snapshot grow with segments × holders.
type snapshotWire struct {
	_           struct{} `cbor:",toarray"`
	Version     uint8
	Epoch       uint64
	Units       []unitWire
	Committed   []UnitID
	Failed      []UnitID
	Attempts    []int
	Workers     []SnapshotWorker
	Locality    Locality
	HolderLists [][]WorkerID
}

type unitWire struct {
	_        struct{} `cbor:",toarray"`
	ID       UnitID
	Segments []segmentWire
	Readings int
	Cluster  string
}

type segmentWire struct {
	_        struct{} `cbor:",toarray"`
	Key      string
	Readings int
	// HolderList is 1 + the position of the segment's holders in
	// HolderLists, or 0 for a segment without holders.
	HolderList int
}

func (s *Snapshot) toWire() *snapshotWire {
	w := &snapshotWire{Version: s.Version, Epoch: s.Epoch, Committed: s.Committed, Failed: s.Failed,
		Attempts: s.Attempts, Workers: s.Workers, Locality: s.Locality}
	w.Units, w.HolderLists = unitsToWire(s.Units, true)
	return w
}

// unitsToWire returns the encoded form of units and their distinct
// holder lists. The units' clusters are left out unless withCluster is
// set.
func unitsToWire(units []Unit, withCluster bool) ([]unitWire, [][]WorkerID) {
	t := holderTable{refs: make(map[string]int)}
	out := make([]unitWire, len(units))
	for i, u := range units {
		wu := unitWire{ID: u.ID, Readings: u.Readings, Segments: make([]segmentWire, len(u.Segments))}
		if withCluster {
			wu.Cluster = u.Cluster
		}
		for j, seg := range u.Segments {
			wu.Segments[j] = segmentWire{Key: seg.Key, Readings: seg.Readings, HolderList: t.ref(seg.Holders)}
		}
		out[i] = wu
	}
	return out, t.lists
}

// holderTable collects distinct holder lists. refs maps each list,
// joined, to its reference.
type holderTable struct {
	lists [][]WorkerID
	refs  map[string]int
}

// ref returns the reference to holders in t.lists, adding them on first
// use.
func (t *holderTable) ref(holders []WorkerID) int {
	if len(holders) == 0 {
		return 0
	}
	// Each ID is prefixed with its length, so no two lists join to the
	// same key.
	var b strings.Builder
	for _, h := range holders {
		fmt.Fprintf(&b, "%d:%s", len(h), h)
	}
	key := b.String()
	if ref, ok := t.refs[key]; ok {
		return ref
	}
	t.lists = append(t.lists, slices.Clone(holders))
	t.refs[key] = len(t.lists)
	return len(t.lists)
}

// snapshot expands the holder lists. It checks the references and the
// lists' limits; Snapshot.validate checks the rest.
func (w *snapshotWire) snapshot() (*Snapshot, error) {
	units, err := unitsFromWire(w.Units, w.HolderLists)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Version: w.Version, Epoch: w.Epoch, Committed: w.Committed, Failed: w.Failed,
		Attempts: w.Attempts, Workers: w.Workers, Locality: w.Locality, Units: units}, nil
}

// unitsFromWire expands the holder lists of encoded units. It checks the
// references and the lists' limits; validateUnit checks the rest.
func unitsFromWire(wus []unitWire, lists [][]WorkerID) ([]Unit, error) {
	for i, list := range lists {
		if len(list) == 0 || len(list) > MaxHolders {
			return nil, fmt.Errorf("holder list %d has %d holders, want 1 to %d", i, len(list), MaxHolders)
		}
	}
	units := make([]Unit, len(wus))
	for i, wu := range wus {
		u := Unit{ID: wu.ID, Readings: wu.Readings, Cluster: wu.Cluster, Segments: make([]Segment, len(wu.Segments))}
		for j, ws := range wu.Segments {
			if ws.HolderList < 0 || ws.HolderList > len(lists) {
				return nil, fmt.Errorf("unit %d segment %d names holder list %d of %d", i, j, ws.HolderList, len(lists))
			}
			u.Segments[j] = Segment{Key: ws.Key, Readings: ws.Readings}
			if ws.HolderList > 0 {
				u.Segments[j].Holders = lists[ws.HolderList-1]
			}
		}
		units[i] = u
	}
	return units, nil
}
