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
