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
		Attempts: s.Attempts, Workers: s.Workers, Locality: s.Locality, Units: make([]unitWire, len(s.Units))}
	lists := make(map[string]int)
	for i, u := range s.Units {
		wu := unitWire{ID: u.ID, Readings: u.Readings, Cluster: u.Cluster, Segments: make([]segmentWire, len(u.Segments))}
		for j, seg := range u.Segments {
			wu.Segments[j] = segmentWire{Key: seg.Key, Readings: seg.Readings, HolderList: w.holderList(lists, seg.Holders)}
		}
		w.Units[i] = wu
	}
	return w
}

// holderList returns the reference to holders in w.HolderLists, adding
// them on first use. lists maps each list, joined, to its reference.
func (w *snapshotWire) holderList(lists map[string]int, holders []WorkerID) int {
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
	if ref, ok := lists[key]; ok {
		return ref
	}
	w.HolderLists = append(w.HolderLists, slices.Clone(holders))
	lists[key] = len(w.HolderLists)
	return len(w.HolderLists)
}

// snapshot expands the holder lists. It checks the references and the
// lists' limits; Snapshot.validate checks the rest.
func (w *snapshotWire) snapshot() (*Snapshot, error) {
	for i, list := range w.HolderLists {
		if len(list) == 0 || len(list) > MaxHolders {
			return nil, fmt.Errorf("holder list %d has %d holders, want 1 to %d", i, len(list), MaxHolders)
		}
	}
	s := &Snapshot{Version: w.Version, Epoch: w.Epoch, Committed: w.Committed, Failed: w.Failed,
		Attempts: w.Attempts, Workers: w.Workers, Locality: w.Locality, Units: make([]Unit, len(w.Units))}
	for i, wu := range w.Units {
		u := Unit{ID: wu.ID, Readings: wu.Readings, Cluster: wu.Cluster, Segments: make([]Segment, len(wu.Segments))}
		for j, ws := range wu.Segments {
			if ws.HolderList < 0 || ws.HolderList > len(w.HolderLists) {
				return nil, fmt.Errorf("unit %d segment %d names holder list %d of %d", i, j, ws.HolderList, len(w.HolderLists))
			}
			u.Segments[j] = Segment{Key: ws.Key, Readings: ws.Readings}
			if ws.HolderList > 0 {
				u.Segments[j].Holders = w.HolderLists[ws.HolderList-1]
			}
		}
		s.Units[i] = u
	}
	return s, nil
}
