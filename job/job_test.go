package job

import (
	"bytes"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

func reading(source string, at time.Time, temp float64) sensor.Reading {
	return sensor.Reading{Source: source, Time: at, Fields: []sensor.Field{
		{Name: "temperature", Value: sensor.Number(temp)},
		{Name: "note", Value: sensor.Text("ok")},
	}}
}

// TestPartialMergeIsExactAndOrderFree splits readings into units in
// random ways and merges the units' partials in random orders: the
// encoded result is the same bytes every time, and its sum is the exact
// sum rounded once.
func TestPartialMergeIsExactAndOrderFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2006, 11, 13, 17, 0, 0, 0, time.UTC)
	var rs []sensor.Reading
	exact := new(big.Rat)
	for i := range 500 {
		v := (rng.Float64() - 0.5) * 1e6
		if i%7 == 0 {
			v = 1e-9 * rng.Float64()
		}
		rs = append(rs, reading("20", start.Add(time.Duration(i)*time.Second), v))
		exact.Add(exact, new(big.Rat).SetFloat64(v))
	}
	var first []byte
	for trial := range 5 {
		var parts []*Partial
		for i := 0; i < len(rs); {
			n := 1 + rng.IntN(50)
			p := NewPartial()
			for ; n > 0 && i < len(rs); n, i = n-1, i+1 {
				p.Add(&rs[i], &Aggregation{})
			}
			b, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			decoded, err := DecodePartial(b)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, decoded)
		}
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		total := NewPartial()
		for _, p := range parts {
			total.Merge(p)
		}
		b, err := total.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if trial == 0 {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("trial %d encodes differently from trial 0", trial)
		}
		g := total.Result(&Aggregation{})
		want, _ := exact.Float64()
		if len(g) != 1 || g[0].Count != len(rs) || g[0].Fields["temperature"].Sum != want {
			t.Fatalf("result %+v, want %d readings summing to %v", g, len(rs), want)
		}
		if _, ok := g[0].Fields["note"]; ok {
			t.Fatal("a text field was aggregated")
		}
	}
}

// TestPartialGroupsBySensorAndHour checks group keys and starts,
// negative times included.
func TestPartialGroupsBySensorAndHour(t *testing.T) {
	p := NewPartial()
	byHour := &Aggregation{Grouping: Grouping{Time: search.ByHour, PerSensor: true}}
	before := time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC)
	for _, r := range []sensor.Reading{
		reading("b", before, 1), reading("a", before, 2), reading("a", before.Add(time.Hour), 3), reading("a", before, 4),
	} {
		p.Add(&r, byHour)
	}
	got := p.Result(byHour)
	want := []struct {
		sensor string
		start  time.Time
		count  int
		mean   float64
	}{
		{"a", before.Truncate(time.Hour), 2, 3},
		{"a", before.Add(time.Hour).Truncate(time.Hour), 1, 3},
		{"b", before.Truncate(time.Hour), 1, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d groups, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Sensor != w.sensor || !g.Start.Equal(w.start) || g.Count != w.count || g.Fields["temperature"].Mean() != w.mean {
			t.Errorf("group %d = %s %v %d mean %v, want %+v", i, g.Sensor, g.Start, g.Count, g.Fields["temperature"].Mean(), w)
		}
	}
}

func TestSpecRoundTripAndChecks(t *testing.T) {
	x, text := 21.5, "open"
	s := Spec{ID: "j1", Namespace: "lab", Sensor: "20", From: 1, To: 2, Aggs: []string{"count", "mean"},
		By: "sensor,hour", Verify: 2, Reader: "jobs",
		Where: []Condition{{Field: "temperature", Op: ">", Number: &x}, {Field: "status", Op: "=", Text: &text}}}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	q, err := got.Query()
	if err != nil || q.Sensor != "20" || len(q.Where) != 2 || !q.Where[0].Value.Equal(sensor.Number(21.5)) {
		t.Fatalf("query %+v, %v", q, err)
	}
	for name, bad := range map[string]Spec{
		"no aggregate":   {ID: "j", Namespace: "lab"},
		"bad aggregate":  {ID: "j", Namespace: "lab", Aggs: []string{"median"}},
		"bad grouping":   {ID: "j", Namespace: "lab", Aggs: []string{"count"}, By: "week"},
		"both values":    {ID: "j", Namespace: "lab", Aggs: []string{"count"}, Where: []Condition{{Field: "a", Op: "=", Number: &x, Text: &text}}},
		"no namespace":   {ID: "j", Aggs: []string{"count"}},
		"verify too big": {ID: "j", Namespace: "lab", Aggs: []string{"count"}, Verify: 9},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestDecodePartialRejects(t *testing.T) {
	for name, p := range map[string]*Partial{
		"float sum":    {Groups: map[string]*GroupPartial{"all": {Count: 1, Fields: map[string]*FieldPartial{"t": {Count: 1, Sum: "1.5"}}}}},
		"count above":  {Groups: map[string]*GroupPartial{"all": {Count: 1, Fields: map[string]*FieldPartial{"t": {Count: 2, Sum: "3"}}}}},
		"negative":     {Groups: map[string]*GroupPartial{"all": {Count: -1}}},
		"not rational": {Groups: map[string]*GroupPartial{"all": {Count: 1, Fields: map[string]*FieldPartial{"t": {Count: 1, Sum: "x"}}}}},
		"nil group":    {Groups: map[string]*GroupPartial{"all": nil}},
	} {
		b, err := encMode.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodePartial(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: DecodePartial = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzDecodePartial(f *testing.F) {
	p := NewPartial()
	r := reading("20", time.Date(2006, 11, 13, 17, 0, 0, 0, time.UTC), 22.08)
	p.Add(&r, &Aggregation{Grouping: Grouping{Time: search.ByHour, PerSensor: true, PerCell: true},
		Percentiles: []Percentile{{Name: "p50", milli: 50_000}},
		Histograms:  map[string]*Histogram{"": {Edges: []float64{0, 20, 40}}}})
	b, _ := p.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePartial(b)
		if err != nil {
			return
		}
		// A partial that decodes merges and encodes again.
		total := NewPartial()
		total.Merge(p)
		total.Merge(p)
		if _, err := total.Encode(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeSpec(f *testing.F) {
	s := Spec{ID: "j1", Namespace: "lab", Aggs: []string{"mean"}, By: "hour"}
	b, _ := s.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSpec(b)
		if err != nil {
			return
		}
		if _, err := s.Query(); err != nil {
			t.Fatalf("decoded spec gives no query: %v", err)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	s := Spec{ID: "j1", Namespace: "lab", Aggs: []string{"mean", "p50"}, By: "hour"}
	spec, _ := s.Encode()
	p := NewPartial()
	r := reading("20", time.Date(2006, 11, 13, 17, 0, 0, 0, time.UTC), 22.08)
	p.Add(&r, s.Aggregation())
	partial, _ := p.Encode()
	rec := Record{Spec: spec, User: "default", Created: 1, ManagerID: "ab", ManagerAddr: "127.0.0.1:1",
		Final: &RecordStatus{Done: true, Units: 1, Committed: 1, Partial: partial}}
	b, _ := rec.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, spec, err := DecodeRecord(b)
		if err != nil {
			return
		}
		// A record that decodes encodes again and decodes the same.
		again, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, spec2, err := DecodeRecord(again); err != nil || spec2.ID != spec.ID {
			t.Fatalf("re-encoded record: %v", err)
		}
	})
}

func TestSealedSpecChecks(t *testing.T) {
	x := 20.0
	hour := int64(time.Hour)
	good := Spec{ID: "j", Namespace: "lab", Aggs: []string{"mean"}, Encrypted: true, Scale: 100, Sealed: true, Bound: 10000,
		From: 491_000 * hour, To: 491_002 * hour}
	if err := good.Validate(); err != nil {
		t.Fatalf("sealed spec on whole hours: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"condition", func(s *Spec) { s.Where = []Condition{{Field: "t", Op: ">", Number: &x}} }, `condition on "t"`},
		{"from off the hour", func(s *Spec) { s.From += int64(time.Minute) }, "not on the hour"},
		{"to off the hour", func(s *Spec) { s.To-- }, "not on the hour"},
		{"no bound", func(s *Spec) { s.Bound = 0 }, "bound 0"},
		{"bound without seal", func(s *Spec) { s.Sealed = false }, "bound 10000 given"},
		{"not encrypted", func(s *Spec) { s.Encrypted, s.Scale = false, 0 }, "sealed true"},
	} {
		s := good
		c.edit(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want ErrInvalid naming %q", c.name, err, c.want)
		}
	}
}
