package job

import (
	"bytes"
	"errors"
	"github.com/yuinet/yui/sensor"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePercentile(t *testing.T) {
	for _, c := range []struct {
		name string
		n    uint64
		rank uint64
	}{
		{"p50", 10, 5}, {"p50", 11, 6}, {"p100", 7, 7}, {"p0.001", 7, 1}, {"p99.9", 1000, 999},
		{"p99.9", 1001, 1000}, {"p25", 4, 1}, {"p25", 5, 2}, {"p90", 1 << 62, 4150517416584649114},
	} {
		p, err := ParsePercentile(c.name)
		if err != nil {
			t.Fatalf("ParsePercentile(%q) = %v", c.name, err)
		}
		if got := p.Rank(c.n); got != c.rank {
			t.Errorf("%s of %d values: rank %d, want %d", c.name, c.n, got, c.rank)
		}
	}
	for _, bad := range []string{"p0", "p100.001", "p101", "p050", "p", "p1e2", "p50.", "p50.1234", "median", "P50"} {
		if _, err := ParsePercentile(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePercentile(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestHistogramBucket(t *testing.T) {
	h := Histogram{Edges: []float64{0, 10, 20}}
	for v, want := range map[float64]int{-1: 0, 0: 1, 9.99: 1, 10: 2, 19: 2, 20: 3, 1e9: 3, math.Copysign(0, -1): 1} {
		if got := h.Bucket(v); got != want {
			t.Errorf("Bucket(%v) = %d, want %d", v, got, want)
		}
	}
}

// bruteField is a field's values in one group, for brute-force checks.
type bruteField []float64

// percentile is the nearest-rank percentile of the sorted values.
func (b bruteField) percentile(p float64) float64 {
	s := slices.Sorted(slices.Values(b))
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

func (b bruteField) histogram(edges []float64) []int64 {
	out := make([]int64, len(edges)+1)
	for _, v := range b {
		i := 0
		for i < len(edges) && v >= edges[i] {
			i++
		}
		out[i]++
	}
	return out
}

// TestPercentilesMatchBruteForce splits readings with many repeated
// values into units at random, merges their decoded partials in random
// orders, and compares every percentile and histogram with a sort of
// the plain values.
func TestPercentilesMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2006, 11, 13, 0, 0, 0, 0, time.UTC)
	var rs []sensor.Reading
	want := make(map[string]bruteField)
	for i := range 3000 {
		src := []string{"a", "b", "c"}[rng.IntN(3)]
		v := math.Round((rng.NormFloat64()*5+20)*100) / 100
		if i%50 == 0 {
			v = math.Copysign(0, -1)
		}
		rs = append(rs, reading(src, start.Add(time.Duration(i)*time.Minute), v))
		want[src] = append(want[src], v)
	}
	names := []string{"p0.1", "p1", "p25", "p50", "p90", "p99", "p99.9", "p100"}
	edges := []float64{0, 10, 15, 20, 22.5, 25, 30}
	spec := Spec{ID: "j", Namespace: "lab", Aggs: append([]string{"count", "histogram"}, names...), By: "sensor",
		Histograms: []Histogram{{Edges: edges}}}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	agg := spec.Aggregation()

	var first []byte
	for trial := range 4 {
		total := mergeRandomUnits(t, rng, rs, agg)
		b, err := total.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if trial == 0 {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("trial %d encodes differently from trial 0", trial)
		}
		groups := total.Result(agg)
		if len(groups) != len(want) {
			t.Fatalf("%d groups, want %d", len(groups), len(want))
		}
		for _, g := range groups {
			f, values := g.Fields["temperature"], want[g.Sensor]
			for _, name := range names {
				p, _ := ParsePercentile(name)
				if got, w := f.Percentiles[name], values.percentile(float64(p.milli)/1000); got != w {
					t.Errorf("sensor %s %s = %v, brute force %v", g.Sensor, name, got, w)
				}
			}
			if got, w := f.Histogram, values.histogram(edges); !slices.Equal(got, w) {
				t.Errorf("sensor %s histogram %v, brute force %v", g.Sensor, got, w)
			}
		}
	}
}

// mergeRandomUnits cuts rs into units of random sizes, encodes and
// decodes each unit's partial, and merges them in a random order.
func mergeRandomUnits(t *testing.T, rng *rand.Rand, rs []sensor.Reading, agg *Aggregation) *Partial {
	t.Helper()
	var parts []*Partial
	for i := 0; i < len(rs); {
		p := NewPartial()
		for n := 1 + rng.IntN(200); n > 0 && i < len(rs); n, i = n-1, i+1 {
			p.Add(&rs[i], agg)
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
	return total
}

// TestValuesDroppedPastLimit checks that a partial with more distinct
// values than MaxValues drops them, whichever way its units merge, and
// keeps its other aggregates.
func TestValuesDroppedPastLimit(t *testing.T) {
	agg := &Aggregation{Percentiles: []Percentile{{Name: "p50", milli: 50_000}}}
	start := time.Date(2006, 11, 13, 0, 0, 0, 0, time.UTC)
	half := NewPartial()
	var rs []sensor.Reading
	for i := range MaxValues + 1 {
		rs = append(rs, reading("a", start, float64(i)))
		if i < MaxValues/2+1 {
			half.Add(&rs[i], agg)
		}
	}
	other := NewPartial()
	for i := MaxValues / 2; i < len(rs); i++ {
		other.Add(&rs[i], agg)
	}
	if half.ValuesDropped || other.ValuesDropped {
		t.Fatal("a half of the values was dropped already")
	}
	half.Merge(other)
	if !half.ValuesDropped {
		t.Fatalf("%d distinct values kept, limit %d", MaxValues+1, MaxValues)
	}
	g := half.Result(agg)[0]
	if f := g.Fields["temperature"]; f.Percentiles != nil || f.Count != MaxValues+2 || f.Max != MaxValues {
		t.Errorf("after the drop: percentiles %v, count %d, max %v; want none, %d, %d", f.Percentiles, f.Count, f.Max, MaxValues+2, MaxValues)
	}
	b, err := half.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if d, err := DecodePartial(b); err != nil || !d.ValuesDropped {
		t.Fatalf("decoded dropped partial: %v, %v", d, err)
	}
}

// TestNegativeZeroEncodesLikeZero checks that two workers that see -0
// and +0 in different orders return the same bytes, as verify 2 needs.
func TestNegativeZeroEncodesLikeZero(t *testing.T) {
	agg := &Aggregation{Percentiles: []Percentile{{Name: "p50", milli: 50_000}}}
	at := time.Date(2006, 11, 13, 0, 0, 0, 0, time.UTC)
	neg, pos := reading("a", at, math.Copysign(0, -1)), reading("a", at, 0)
	x, y := NewPartial(), NewPartial()
	x.Add(&neg, agg)
	x.Add(&pos, agg)
	y.Add(&pos, agg)
	y.Add(&neg, agg)
	bx, _ := x.Encode()
	by, _ := y.Encode()
	if !bytes.Equal(bx, by) {
		t.Fatal("-0 then +0 encodes differently from +0 then -0")
	}
	if f := x.Groups["all"].Fields["temperature"]; len(f.Values) != 1 || math.Signbit(f.Values[0]) {
		t.Fatalf("values %v, want one +0", f.Values)
	}
}

// TestGroupsByCell groups Geo and Plane readings and readings without a
// location by cell and sensor.
func TestGroupsByCell(t *testing.T) {
	at := time.Date(2006, 11, 13, 0, 0, 0, 0, time.UTC)
	at1 := func(src string, loc *sensor.Location) sensor.Reading {
		r := reading(src, at, 1)
		r.Location = loc
		return r
	}
	rs := []sensor.Reading{
		at1("a", sensor.GeoPoint(50.8467, 4.3525)), at1("a", sensor.GeoPoint(50.8401, 4.3599)),
		at1("b", sensor.GeoPoint(-33.8688, 151.2093)), at1("c", sensor.PlanePoint(12, -3)),
		at1("c", sensor.PlanePoint(19.9, -0.1)), at1("d", nil),
	}
	spec := Spec{ID: "j", Namespace: "lab", Aggs: []string{"count"}, By: "cell,sensor"}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	agg := spec.Aggregation()
	p := NewPartial()
	for i := range rs {
		p.Add(&rs[i], agg)
	}
	got := p.Result(agg)
	type cell struct {
		sensor      string
		kind        sensor.LocationKind
		x, y        int64
		count       int
		south, west float64
	}
	want := []cell{
		{"d", 0, 0, 0, 1, 0, 0},
		{"a", sensor.Geo, 435, 5084, 2, 50.84, 4.35},
		{"b", sensor.Geo, 15120, -3387, 1, -33.87, 151.2},
		{"c", sensor.Plane, 1, -1, 2, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Sensor != w.sensor || g.Count != w.count {
			t.Errorf("group %d: sensor %s count %d, want %s %d", i, g.Sensor, g.Count, w.sensor, w.count)
		}
		if w.kind == 0 {
			if g.Cell != nil {
				t.Errorf("group %d: cell %+v, want none", i, g.Cell)
			}
			continue
		}
		if g.Cell == nil || g.Cell.Kind != w.kind || g.Cell.X != w.x || g.Cell.Y != w.y {
			t.Errorf("group %d: cell %+v, want %v %d,%d", i, g.Cell, w.kind, w.x, w.y)
			continue
		}
		if w.kind == sensor.Geo && (math.Abs(g.Cell.South-w.south) > 1e-9 || math.Abs(g.Cell.West-w.west) > 1e-9) {
			t.Errorf("group %d: corner %v,%v, want %v,%v", i, g.Cell.South, g.Cell.West, w.south, w.west)
		}
		if w.kind == sensor.Plane && (g.Cell.MinX != 10 || g.Cell.MinY != -10 || g.Cell.Size != DefaultPlaneCell) {
			t.Errorf("group %d: plane corner %v,%v size %v, want 10,-10 size %v", i, g.Cell.MinX, g.Cell.MinY, g.Cell.Size, DefaultPlaneCell)
		}
	}
}

func TestSpecRejectsBadAggregates(t *testing.T) {
	base := func(f func(s *Spec)) Spec {
		s := Spec{ID: "j", Namespace: "lab", Aggs: []string{"count"}}
		f(&s)
		return s
	}
	for name, bad := range map[string]Spec{
		"percentile zero":      base(func(s *Spec) { s.Aggs = []string{"p0"} }),
		"histogram no edges":   base(func(s *Spec) { s.Aggs = []string{"histogram"} }),
		"edges no histogram":   base(func(s *Spec) { s.Histograms = []Histogram{{Edges: []float64{1}}} }),
		"edges not increasing": base(func(s *Spec) { s.Aggs = []string{"histogram"}; s.Histograms = []Histogram{{Edges: []float64{1, 1}}} }),
		"edge not finite": base(func(s *Spec) {
			s.Aggs = []string{"histogram"}
			s.Histograms = []Histogram{{Edges: []float64{math.Inf(1)}}}
		}),
		"field twice": base(func(s *Spec) {
			s.Aggs = []string{"histogram"}
			s.Histograms = []Histogram{{Edges: []float64{1}}, {Edges: []float64{2}}}
		}),
		"too many percentiles":  base(func(s *Spec) { s.Aggs = slices.Repeat([]string{"p50"}, MaxPercentiles+1) }),
		"negative cell size":    base(func(s *Spec) { s.By = "cell"; s.CellSize = -1 }),
		"hour and day":          base(func(s *Spec) { s.By = "hour,day" }),
		"sensor twice":          base(func(s *Spec) { s.By = "sensor,sensor" }),
		"unknown grouping part": base(func(s *Spec) { s.By = "sensor,week" }),
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
	good := base(func(s *Spec) {
		s.Aggs = []string{"histogram", "p50"}
		s.By = "day,cell,sensor"
		s.Histograms = []Histogram{{Edges: []float64{1}}, {Field: "rh", Edges: []float64{0, 50}}}
	})
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
}

func TestDecodePartialRejectsBadValues(t *testing.T) {
	field := func(f FieldPartial) *Partial {
		f.Count, f.Sum = 2, "3"
		return &Partial{Groups: map[string]*GroupPartial{"all": {Count: 2, Fields: map[string]*FieldPartial{"t": &f}}}}
	}
	for name, p := range map[string]*Partial{
		"counts differ":    field(FieldPartial{Values: []float64{1, 2}, Counts: []int64{1}}),
		"not increasing":   field(FieldPartial{Values: []float64{2, 1}, Counts: []int64{1, 1}}),
		"total too small":  field(FieldPartial{Values: []float64{1}, Counts: []int64{1}}),
		"zero count":       field(FieldPartial{Values: []float64{1, 2}, Counts: []int64{2, 0}}),
		"nan value":        field(FieldPartial{Values: []float64{math.NaN()}, Counts: []int64{2}}),
		"buckets total":    field(FieldPartial{Buckets: []int64{1, 0}}),
		"negative bucket":  field(FieldPartial{Buckets: []int64{3, -1}}),
		"too many buckets": field(FieldPartial{Buckets: append(make([]int64, MaxEdges+1), 2)}),
		"bad cell":         {Groups: map[string]*GroupPartial{"c": {Count: 1, Cell: &Cell{Kind: 9}}}},
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

// TestParseByNamesProblem checks that a grouping's error names what is
// wrong with it, not only that the whole list is unknown.
func TestParseByNamesProblem(t *testing.T) {
	for _, c := range []struct{ by, want string }{
		{"hour,day", `grouping "hour,day" names both hour and day; pick one`},
		{"sensor,hour,hour", `grouping "sensor,hour,hour" names hour twice`},
		{"cell,sensor,cell", `grouping "cell,sensor,cell" names cell twice`},
		{"sensor,week", `"week" in grouping "sensor,week" is unknown; list some of sensor, cell, and hour or day`},
		{"sensor,", `"" in grouping "sensor," is unknown`},
	} {
		_, err := ParseBy(c.by)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBy(%q) = %v, want ErrInvalid", c.by, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseBy(%q) = %q, want it to contain %q", c.by, err, c.want)
		}
	}
}

// TestCellSizeErrorNamesUnits checks that an invalid cell size's error
// gives the units in plain words.
func TestCellSizeErrorNamesUnits(t *testing.T) {
	err := validateCellSize(-1)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("validateCellSize(-1) = %v, want ErrInvalid", err)
	}
	if want := "degrees for geo locations and metres for plane ones"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
}
