package sched

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func sampleSnapshot(t *testing.T) *Snapshot {
	t.Helper()
	units := makeUnits([]int{10, 20, 30}, func(i int) []WorkerID { return []WorkerID{"w000"} })
	c := newCluster(t, Config{}, units)
	a := c.addWorker(TierUpper)
	c.addWorker(TierLower)
	c.complete(a, false)
	return c.mgr.Snapshot()
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := sampleSnapshot(t)
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("decoded %+v, want %+v", got, s)
	}
	if len(got.Committed) != 1 || len(got.Workers) != 2 {
		t.Fatalf("snapshot has %d committed units and %d workers, want 1 and 2", len(got.Committed), len(got.Workers))
	}
}

func TestSnapshotValidate(t *testing.T) {
	cases := map[string]func(s *Snapshot){
		"version":         func(s *Snapshot) { s.Version = snapshotVersion + 1 },
		"epoch 0":         func(s *Snapshot) { s.Epoch = 0 },
		"unit ID":         func(s *Snapshot) { s.Units[1].ID = 7 },
		"readings sum":    func(s *Snapshot) { s.Units[0].Readings++ },
		"attempts":        func(s *Snapshot) { s.Attempts = s.Attempts[:1] },
		"committed range": func(s *Snapshot) { s.Committed = []UnitID{3} },
		"committed order": func(s *Snapshot) { s.Committed = []UnitID{1, 0} },
		"both":            func(s *Snapshot) { s.Failed = []UnitID{s.Committed[0]} },
		"worker twice":    func(s *Snapshot) { s.Workers = append(s.Workers, s.Workers[0]) },
		"worker tier":     func(s *Snapshot) { s.Workers[0].Tier = 9 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := sampleSnapshot(t)
			mutate(s)
			if _, err := s.Encode(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzDecodeSnapshot checks that no input crashes the decoder, and that
// a snapshot it accepts restores a Machine and encodes again.
func FuzzDecodeSnapshot(f *testing.F) {
	units := makeUnits([]int{10, 20}, func(int) []WorkerID { return []WorkerID{"a"} })
	m, err := New(Config{}, 1, units)
	if err != nil {
		f.Fatal(err)
	}
	if err := m.AddWorker(start, "a", TierMiddle); err != nil {
		f.Fatal(err)
	}
	b, err := m.Snapshot().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)

	// A snapshot with clusters and counted bytes.
	if err := m.SetUnitCluster(1, "50.5,4.0"); err != nil {
		f.Fatal(err)
	}
	if err := m.Join(start, WorkerInfo{ID: "b", Tier: TierLower, Cluster: "50.5,4.0"}); err != nil {
		f.Fatal(err)
	}
	for _, a := range func() []Assignment { a, _ := m.Outbox(); return a }() {
		r := Report{Worker: a.Worker, Epoch: a.Epoch, Lease: a.Lease, Unit: a.Unit.ID, Result: []byte("r"), Bytes: 99}
		if err := m.HandleReport(start, r); err != nil {
			f.Fatal(err)
		}
	}
	if b, err = m.Snapshot().Encode(); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSnapshot(b)
		if err != nil || s.Epoch == math.MaxUint64 {
			return
		}
		if _, err := s.Encode(); err != nil {
			t.Fatalf("accepted snapshot does not encode: %v", err)
		}
		m, err := Restore(Config{}, s, s.Epoch+1, start)
		if err != nil {
			t.Fatalf("accepted snapshot does not restore: %v", err)
		}
		m.Outbox()
	})
}

// The encoding lists a holder list shared by segments once, and rejects
// a segment that names a list it does not have.
func TestSnapshotHolderLists(t *testing.T) {
	s := sampleSnapshot(t)
	w := s.toWire()
	if len(w.HolderLists) != 1 {
		t.Fatalf("3 units with the same holders encode %d holder lists, want 1", len(w.HolderLists))
	}
	for _, c := range []struct {
		name   string
		mutate func(w *snapshotWire)
	}{
		{"reference past the lists", func(w *snapshotWire) { w.Units[0].Segments[0].HolderList = 2 }},
		{"negative reference", func(w *snapshotWire) { w.Units[0].Segments[0].HolderList = -1 }},
		{"empty list", func(w *snapshotWire) { w.HolderLists[0] = nil }},
	} {
		w := s.toWire()
		c.mutate(w)
		b, err := snapEnc.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSnapshot(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", c.name, err)
		}
	}
}
