package node

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/sensor"
)

// A layout read back from its stored form is the one encoded, and a
// stored layout that reuses a slot or reaches past the ciphertext is
// rejected.
func TestLayoutRoundTrip(t *testing.T) {
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var rs []sensor.Reading
	for i, source := range []string{"a", "b", "a"} {
		rs = append(rs, sensor.Reading{Source: source, Time: start.Add(time.Duration(i) * time.Hour), Fields: []sensor.Field{
			{Name: "t", Value: sensor.Number(-1.25)}, {Name: "h", Value: sensor.Number(40)}}})
	}
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"sum", "mean"}, By: "sensor,hour", Encrypted: true, Scale: 100}
	sj, _, err := newSealedJob("default", spec, [][]sensor.Reading{rs[:2], rs[2:]})
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeLayout(sj)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeLayout("default", spec, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, sj) {
		t.Errorf("decoded layout %+v, want %+v", back, sj)
	}

	bad := *sj
	bad.groups = append([]sealedGroup(nil), sj.groups...)
	bad.groups[1].count = sj.groups[0].count
	b, err = encodeLayout(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeLayout("default", spec, b); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("layout reusing slot %d: error %v, want job.ErrInvalid", sj.groups[0].count, err)
	}
	bad.groups[1].count = 1 << 13
	b, err = encodeLayout(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeLayout("default", spec, b); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("layout with slot 8192: error %v, want job.ErrInvalid", err)
	}
	if _, err := decodeLayout("default", spec, []byte{0x80}); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("empty array: error %v, want job.ErrInvalid", err)
	}
}

// FuzzDecodeLayout checks that no input crashes the decoder, and that
// every slot of a layout it accepts lies inside one ciphertext, so that
// reading a decrypted result by it cannot index out of range.
func FuzzDecodeLayout(f *testing.F) {
	spec := &job.Spec{ID: "j", Namespace: "library", Aggs: []string{"mean"}, By: "sensor,day", Encrypted: true, Scale: 100}
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	rs := []sensor.Reading{{Source: "a", Time: start, Fields: []sensor.Field{{Name: "t", Value: sensor.Number(2.5)}}}}
	sj, _, err := newSealedJob("default", spec, [][]sensor.Reading{rs})
	if err != nil {
		f.Fatal(err)
	}
	good, err := encodeLayout(sj)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x80})
	params, err := heParams()
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		sj, err := decodeLayout("default", spec, b)
		if err != nil {
			return
		}
		if sj.slots > params.Slots() {
			t.Fatalf("accepted layout of %d slots, a ciphertext has %d", sj.slots, params.Slots())
		}
		slots := make([]int64, params.Slots())
		for _, g := range sj.groups {
			if _, err := sj.openGroup(g, slots); err != nil {
				t.Fatalf("group %s of an accepted layout does not open from zero slots: %v", g.key, err)
			}
		}
		if _, err := encodeLayout(sj); err != nil {
			t.Fatalf("accepted layout does not encode: %v", err)
		}
	})
}
