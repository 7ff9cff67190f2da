package sched

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// splitSample returns a snapshot with a commit, two workers, attempts
// and learned clusters, so that every field of the state is set.
func splitSample(t *testing.T) *Snapshot {
	s := sampleSnapshot(t)
	s.Attempts[2] = 2
	s.Units[1].Cluster = "50.5,4.0"
	s.Units[2].Cluster = "50.5,4.0"
	s.Locality = Locality{Held: 10, Cluster: 20, Remote: 3, Unknown: 4}
	return s
}

func encodeSplit(t *testing.T, s *Snapshot) (list, state []byte) {
	t.Helper()
	list, err := EncodeUnitList(s.Units)
	if err != nil {
		t.Fatal(err)
	}
	state, err = s.EncodeState()
	if err != nil {
		t.Fatal(err)
	}
	return list, state
}

func TestSplitSnapshotJoinsAgain(t *testing.T) {
	s := splitSample(t)
	list, state := encodeSplit(t, s)
	units, err := DecodeUnitList(list)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range units {
		if u.Cluster != "" {
			t.Errorf("unit list gives unit %d the cluster %q, want none", i, u.Cluster)
		}
	}
	got, err := DecodeState(state, units)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("joined snapshot %+v, want %+v", got, s)
	}
	if _, err := Restore(Config{}, got, s.Epoch+1, start); err != nil {
		t.Fatalf("joined snapshot does not restore: %v", err)
	}

	again, err := EncodeUnitList(units)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(list) {
		t.Error("a decoded unit list encodes to other bytes, so its digest would change")
	}
}

// The state of a job costs a few bits per unit, the unit list tens of
// bytes per segment.
func TestStateSmallerThanUnitList(t *testing.T) {
	units := make([]Unit, 1000)
	for i := range units {
		units[i] = Unit{ID: UnitID(i), Readings: 100}
		for j := range 100 {
			units[i].Segments = append(units[i].Segments,
				Segment{Key: fmt.Sprintf("seg/%04d/%03d", i, j), Readings: 1, Holders: []WorkerID{"a", "b", "c"}})
		}
	}
	m, err := New(Config{}, 1, units)
	if err != nil {
		t.Fatal(err)
	}
	s := m.Snapshot()
	for i := 0; i < len(s.Units); i += 2 {
		s.Committed = append(s.Committed, UnitID(i))
	}
	list, state := encodeSplit(t, s)
	t.Logf("1000 units of 100 segments: unit list %d bytes, state %d bytes", len(list), len(state))
	if len(state) > 1000 {
		t.Errorf("state of 1000 units is %d bytes, want at most 1000", len(state))
	}
	if len(list) < 100*len(state) {
		t.Errorf("unit list of %d bytes is less than 100 times the state's %d", len(list), len(state))
	}
}

func TestDecodeStateRejects(t *testing.T) {
	s := splitSample(t)
	units := s.Units
	cases := map[string]func(w *stateWire){
		"units":            func(w *stateWire) { w.Units++ },
		"short bit set":    func(w *stateWire) { w.Committed = nil },
		"bit past end":     func(w *stateWire) { w.Failed[0] |= 1 << 7 },
		"both":             func(w *stateWire) { w.Failed = w.Committed },
		"zero attempts":    func(w *stateWire) { w.Attempts[0].Attempts = 0 },
		"attempts unit":    func(w *stateWire) { w.Attempts[0].Unit = 3 },
		"attempts order":   func(w *stateWire) { w.Attempts = append(w.Attempts, w.Attempts[0]) },
		"run past end":     func(w *stateWire) { w.ClusterRuns[0].Count = 3 },
		"run overlaps":     func(w *stateWire) { w.ClusterRuns = append(w.ClusterRuns, w.ClusterRuns[0]) },
		"run cluster":      func(w *stateWire) { w.ClusterRuns[0].Cluster = 1 },
		"empty cluster":    func(w *stateWire) { w.Clusters[0] = "" },
		"cluster twice":    func(w *stateWire) { w.Clusters = append(w.Clusters, w.Clusters[0]) },
		"version":          func(w *stateWire) { w.Version = snapshotVersion + 1 },
		"epoch 0":          func(w *stateWire) { w.Epoch = 0 },
		"negative bytes":   func(w *stateWire) { w.Locality.Remote = -1 },
		"worker twice":     func(w *stateWire) { w.Workers = append(w.Workers, w.Workers[0]) },
		"long cluster":     func(w *stateWire) { w.Clusters[0] = string(make([]byte, maxNameLen+1)) },
		"zero-length run":  func(w *stateWire) { w.ClusterRuns[0].Count = 0 },
		"negative run":     func(w *stateWire) { w.ClusterRuns[0].First = -1 },
		"negative cluster": func(w *stateWire) { w.ClusterRuns[0].Cluster = -1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			_, state := encodeSplit(t, s)
			var w stateWire
			if err := snapDec.Unmarshal(state, &w); err != nil {
				t.Fatal(err)
			}
			mutate(&w)
			b, err := snapEnc.Marshal(&w)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeState(b, units); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeUnitListRejects(t *testing.T) {
	s := splitSample(t)
	cases := map[string]func(w *unitListWire){
		"version":        func(w *unitListWire) { w.Version = unitListVersion + 1 },
		"cluster":        func(w *unitListWire) { w.Units[1].Cluster = "50.5,4.0" },
		"unit ID":        func(w *unitListWire) { w.Units[1].ID = 7 },
		"readings sum":   func(w *unitListWire) { w.Units[0].Readings++ },
		"holder list":    func(w *unitListWire) { w.Units[0].Segments[0].HolderList = 2 },
		"empty holders":  func(w *unitListWire) { w.HolderLists[0] = nil },
		"long key":       func(w *unitListWire) { w.Units[0].Segments[0].Key = string(make([]byte, maxNameLen+1)) },
		"negative count": func(w *unitListWire) { w.Units[0].Segments[0].Readings = -1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			list, _ := encodeSplit(t, s)
			var w unitListWire
			if err := snapDec.Unmarshal(list, &w); err != nil {
				t.Fatal(err)
			}
			mutate(&w)
			b, err := snapEnc.Marshal(&w)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeUnitList(b); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := DecodeUnitList(make([]byte, MaxUnitListBytes+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized unit list: error %v, want ErrMalformed", err)
	}
	if _, err := DecodeState(make([]byte, MaxSnapshotBytes+1), s.Units); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized state: error %v, want ErrMalformed", err)
	}
}

// FuzzDecodeUnitList checks that no input crashes the decoder, and that
// a list it accepts encodes to the same bytes.
func FuzzDecodeUnitList(f *testing.F) {
	units := makeUnits([]int{10, 20}, func(i int) []WorkerID { return []WorkerID{WorkerID(fmt.Sprint("w", i%2))} })
	b, err := EncodeUnitList(units)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x83, 0x01, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		units, err := DecodeUnitList(b)
		if err != nil {
			return
		}
		again, err := EncodeUnitList(units)
		if err != nil {
			t.Fatalf("accepted unit list does not encode: %v", err)
		}
		if _, err := DecodeUnitList(again); err != nil {
			t.Fatalf("re-encoded unit list does not decode: %v", err)
		}
	})
}

// FuzzDecodeState checks that no input crashes the decoder, and that a
// state it accepts restores a Machine and encodes again.
func FuzzDecodeState(f *testing.F) {
	units := makeUnits([]int{10, 20, 30}, func(int) []WorkerID { return []WorkerID{"w000"} })
	m, err := New(Config{}, 1, units)
	if err != nil {
		f.Fatal(err)
	}
	s := m.Snapshot()
	s.Committed, s.Attempts[1], s.Units[2].Cluster = []UnitID{0}, 1, "50.5,4.0"
	s.Workers = []SnapshotWorker{{ID: "w000", Tier: TierMiddle, Cluster: "50.5,4.0"}}
	state, err := s.EncodeState()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(state)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeState(b, units)
		if err != nil || s.Epoch == math.MaxUint64 {
			return
		}
		if _, err := s.EncodeState(); err != nil {
			t.Fatalf("accepted state does not encode: %v", err)
		}
		m, err := Restore(Config{}, s, s.Epoch+1, start)
		if err != nil {
			t.Fatalf("accepted state does not restore: %v", err)
		}
		m.Outbox()
	})
}
