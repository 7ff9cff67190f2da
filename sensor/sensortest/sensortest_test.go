package sensortest

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/sensor"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func num(f float64) sensor.Value { return sensor.Number(f) }

// sample is a hand-made set of readings; the comments give each reading's
// number, which the tests use to name what they expect.
func sample() []sensor.Reading {
	return []sensor.Reading{
		// 1, 2: source a at the plane's origin.
		{Source: "a", Time: at(0), Fields: []sensor.Field{{Name: "temp", Value: num(20)}, {Name: "status", Value: sensor.Text("ok")}}, Location: sensor.PlanePoint(0, 0)},
		{Source: "a", Time: at(10), Fields: []sensor.Field{{Name: "temp", Value: num(22)}, {Name: "status", Value: sensor.Text("ok")}}, Location: sensor.PlanePoint(0, 0)},
		// 3, 4: source b at (3, 4), 5 m from the origin.
		{Source: "b", Time: at(20), Fields: []sensor.Field{{Name: "temp", Value: sensor.Missing()}, {Name: "status", Value: sensor.Text("fault")}}, Location: sensor.PlanePoint(3, 4)},
		{Source: "b", Time: at(70), Fields: []sensor.Field{{Name: "temp", Value: num(30)}}, Location: sensor.PlanePoint(3, 4)},
		// 5, 6: source c on the equator, 0.001° and 0.01° from (0, 0):
		// about 111 m and 1112 m.
		{Source: "c", Time: at(75), Fields: []sensor.Field{{Name: "temp", Value: num(-5.5)}, {Name: "hum", Value: num(40)}}, Location: sensor.GeoPoint(0, 0.001)},
		{Source: "c", Time: at(130), Fields: []sensor.Field{{Name: "hum", Value: num(42)}}, Location: sensor.GeoPoint(0.01, 0)},
		// 7: source d, no location.
		{Source: "d", Time: at(200), Fields: []sensor.Field{{Name: "temp", Value: num(25)}}},
	}
}

// numbers returns the 1-based numbers of the readings of sample that rs
// holds.
func numbers(t *testing.T, rs []sensor.Reading) []int {
	t.Helper()
	all := sample()
	var out []int
	for i := range rs {
		for j := range all {
			if rs[i].Equal(&all[j]) {
				out = append(out, j+1)
			}
		}
	}
	return out
}

func TestFilter(t *testing.T) {
	cases := []struct {
		name string
		q    Query
		want []int
	}{
		{"all", Query{}, []int{1, 2, 3, 4, 5, 6, 7}},
		{"source", Query{Sources: []string{"a"}}, []int{1, 2}},
		{"two sources", Query{Sources: []string{"d", "b"}}, []int{3, 4, 7}},
		{"unknown source", Query{Sources: []string{"z"}}, nil},
		{"time range, end excluded", Query{From: at(10), To: at(70)}, []int{2, 3}},
		{"from only", Query{From: at(130)}, []int{6, 7}},
		{"to only", Query{To: at(10)}, []int{1}},
		{"text value", Query{Where: []Condition{{"status", sensor.Text("ok")}}}, []int{1, 2}},
		{"number value", Query{Where: []Condition{{"temp", num(30)}}}, []int{4}},
		{"missing value", Query{Where: []Condition{{"temp", sensor.Missing()}}}, []int{3}},
		{"two conditions", Query{Where: []Condition{{"temp", num(-5.5)}, {"hum", num(40)}}}, []int{5}},
		{"absent field", Query{Where: []Condition{{"wind", sensor.Missing()}}}, nil},
		{"plane disc, boundary in", Query{Near: &Near{Point: *sensor.PlanePoint(0, 0), Radius: 5}}, []int{1, 2, 3, 4}},
		{"plane disc, small", Query{Near: &Near{Point: *sensor.PlanePoint(0, 0), Radius: 4.99}}, []int{1, 2}},
		{"geo disc 200 m", Query{Near: &Near{Point: *sensor.GeoPoint(0, 0), Radius: 200}}, []int{5}},
		{"geo disc 2 km", Query{Near: &Near{Point: *sensor.GeoPoint(0, 0), Radius: 2000}}, []int{5, 6}},
		{"combined", Query{Sources: []string{"b", "c"}, From: at(60), Near: &Near{Point: *sensor.PlanePoint(3, 4), Radius: 1}}, []int{4}},
	}
	for _, c := range cases {
		if got := numbers(t, Filter(sample(), c.q)); !slices.Equal(got, c.want) {
			t.Errorf("%s: Filter = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDistance(t *testing.T) {
	// One degree along the equator or a meridian is 2πR/360 metres.
	degree := 2 * math.Pi * EarthRadius / 360
	cases := []struct {
		a, b *sensor.Location
		want float64
	}{
		{sensor.GeoPoint(0, 0), sensor.GeoPoint(1, 0), degree},
		{sensor.GeoPoint(0, 0), sensor.GeoPoint(0, -1), degree},
		{sensor.GeoPoint(0, 179.5), sensor.GeoPoint(0, -179.5), degree},
		{sensor.GeoPoint(90, 0), sensor.GeoPoint(-90, 0), math.Pi * EarthRadius},
		{sensor.PlanePoint(0, 0), sensor.PlanePoint(3, 4), 5},
	}
	for _, c := range cases {
		if got := Distance(*c.a, *c.b); math.Abs(got-c.want) > 1e-6*c.want {
			t.Errorf("Distance(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if d := Distance(*sensor.GeoPoint(0, 0), *sensor.PlanePoint(0, 0)); !math.IsInf(d, 1) {
		t.Errorf("distance between kinds = %v, want +Inf", d)
	}
}

func TestAggregateByField(t *testing.T) {
	got := Aggregate(sample(), Query{}, GroupBy{})
	want := []Group{
		{Key{Field: "hum"}, Stats{Count: 2, Min: 40, Max: 42, Sum: 82, Mean: 41}},
		{Key{Field: "status"}, Stats{Texts: 3}},
		{Key{Field: "temp"}, Stats{Count: 5, Missing: 1, Min: -5.5, Max: 30, Sum: 91.5, Mean: 18.3}},
	}
	checkGroups(t, got, want)
}

func TestAggregateBySource(t *testing.T) {
	got := Aggregate(sample(), Query{Where: []Condition{}}, GroupBy{Source: true})
	want := []Group{
		{Key{Field: "hum", Source: "c"}, Stats{Count: 2, Min: 40, Max: 42, Sum: 82, Mean: 41}},
		{Key{Field: "status", Source: "a"}, Stats{Texts: 2}},
		{Key{Field: "status", Source: "b"}, Stats{Texts: 1}},
		{Key{Field: "temp", Source: "a"}, Stats{Count: 2, Min: 20, Max: 22, Sum: 42, Mean: 21}},
		{Key{Field: "temp", Source: "b"}, Stats{Count: 1, Missing: 1, Min: 30, Max: 30, Sum: 30, Mean: 30}},
		{Key{Field: "temp", Source: "c"}, Stats{Count: 1, Min: -5.5, Max: -5.5, Sum: -5.5, Mean: -5.5}},
		{Key{Field: "temp", Source: "d"}, Stats{Count: 1, Min: 25, Max: 25, Sum: 25, Mean: 25}},
	}
	checkGroups(t, got, want)
}

func TestAggregateByBucket(t *testing.T) {
	got := Aggregate(sample(), Query{To: at(200)}, GroupBy{Bucket: time.Hour})
	h := func(hour int) time.Time { return time.Date(2024, 5, 1, hour, 0, 0, 0, time.UTC) }
	want := []Group{
		{Key{Field: "hum", Bucket: h(11)}, Stats{Count: 1, Min: 40, Max: 40, Sum: 40, Mean: 40}},
		{Key{Field: "hum", Bucket: h(12)}, Stats{Count: 1, Min: 42, Max: 42, Sum: 42, Mean: 42}},
		{Key{Field: "status", Bucket: h(10)}, Stats{Texts: 3}},
		{Key{Field: "temp", Bucket: h(10)}, Stats{Count: 2, Missing: 1, Min: 20, Max: 22, Sum: 42, Mean: 21}},
		{Key{Field: "temp", Bucket: h(11)}, Stats{Count: 2, Min: -5.5, Max: 30, Sum: 24.5, Mean: 12.25}},
	}
	checkGroups(t, got, want)

	both := Aggregate(sample(), Query{Sources: []string{"b"}}, GroupBy{Source: true, Bucket: time.Hour})
	checkGroups(t, both, []Group{
		{Key{Field: "status", Source: "b", Bucket: h(10)}, Stats{Texts: 1}},
		{Key{Field: "temp", Source: "b", Bucket: h(10)}, Stats{Missing: 1}},
		{Key{Field: "temp", Source: "b", Bucket: h(11)}, Stats{Count: 1, Min: 30, Max: 30, Sum: 30, Mean: 30}},
	})
}

func checkGroups(t *testing.T, got, want []Group) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d groups, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Field != w.Field || g.Source != w.Source || !g.Bucket.Equal(w.Bucket) {
			t.Errorf("group %d is %+v, want %+v", i, g.Key, w.Key)
			continue
		}
		if g.Count != w.Count || g.Missing != w.Missing || g.Texts != w.Texts || g.Min != w.Min || g.Max != w.Max ||
			math.Abs(g.Sum-w.Sum) > 1e-12 || math.Abs(g.Mean-w.Mean) > 1e-12 {
			t.Errorf("group %+v: %+v, want %+v", g.Key, g.Stats, w.Stats)
		}
	}
}

func TestBucketStart(t *testing.T) {
	cases := []struct {
		t    time.Time
		d    time.Duration
		want time.Time
	}{
		{time.Date(2024, 5, 1, 10, 59, 59, 999, time.UTC), time.Hour, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC), time.Hour, time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Hour, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
		// Weeks start on Thursdays, like the Unix epoch.
		{time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), 7 * 24 * time.Hour, time.Date(2024, 4, 25, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := BucketStart(c.t, c.d); !got.Equal(c.want) {
			t.Errorf("BucketStart(%s, %s) = %s, want %s", c.t, c.d, got, c.want)
		}
	}
}

// TestCompensatedSum checks that the sum keeps a small value that plain
// float64 addition would lose between two large ones.
func TestCompensatedSum(t *testing.T) {
	var rs []sensor.Reading
	for i, v := range []float64{1e16, 1, -1e16, 1} {
		rs = append(rs, sensor.Reading{Source: "s", Time: at(i), Fields: []sensor.Field{{Name: "v", Value: num(v)}}})
	}
	g := Aggregate(rs, Query{}, GroupBy{})
	if len(g) != 1 || g[0].Sum != 2 || g[0].Mean != 0.5 {
		t.Fatalf("Aggregate = %+v, want sum 2 and mean 0.5", g)
	}
}
