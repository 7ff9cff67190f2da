// Package sensortest evaluates queries over sensor readings by scanning
// them one by one. It is the reference that tests of a real query engine
// compare against: slow, simple and easy to check by hand.
package sensortest

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/yuinet/yui/sensor"
)

// Query selects readings. Every condition that is set must hold; the zero
// Query selects every reading.
type Query struct {
	// Sources, when not empty, keeps readings whose source is one of them.
	Sources []string
	// From and To keep readings with From <= Time < To. A zero time leaves
	// that end open.
	From, To time.Time
	// Where lists field=value conditions. A reading matches when it has
	// every listed field with the listed value, compared with
	// sensor.Value.Equal, so a Missing value matches a field that is
	// present and missing.
	Where []Condition
	// Near, when set, keeps readings whose location lies within a radius.
	Near *Near
}

// Condition is one field=value test.
type Condition struct {
	Field string
	Value sensor.Value
}

// Near is a disc around a point. A Geo point matches only Geo locations,
// by great-circle distance in metres on a sphere of the Earth's mean
// radius. A Plane point matches only Plane locations, by Euclidean
// distance in the plane's metres. The boundary is inside the disc.
type Near struct {
	Point  sensor.Location
	Radius float64
}

// EarthRadius is the mean radius of the Earth in metres (IUGG), used for
// great-circle distances.
const EarthRadius = 6_371_008.8

// Match reports whether r satisfies every condition of q.
func (q *Query) Match(r *sensor.Reading) bool {
	if len(q.Sources) > 0 && !slices.Contains(q.Sources, r.Source) {
		return false
	}
	if !q.From.IsZero() && r.Time.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && !r.Time.Before(q.To) {
		return false
	}
	for _, c := range q.Where {
		v, ok := r.Get(c.Field)
		if !ok || !v.Equal(c.Value) {
			return false
		}
	}
	return q.Near == nil || q.Near.contains(r.Location)
}

func (n *Near) contains(l *sensor.Location) bool {
	if l == nil || l.Kind != n.Point.Kind {
		return false
	}
	return Distance(n.Point, *l) <= n.Radius
}

// Distance returns the distance in metres between two locations of the
// same kind: great-circle for Geo, Euclidean for Plane. It returns +Inf
// for locations of different kinds.
func Distance(a, b sensor.Location) float64 {
	switch {
	case a.Kind != b.Kind:
		return math.Inf(1)
	case a.Kind == sensor.Plane:
		return math.Hypot(a.X-b.X, a.Y-b.Y)
	}
	// The haversine formula, accurate at short distances.
	lat1, lat2 := radians(a.Lat), radians(b.Lat)
	dLat, dLon := lat2-lat1, radians(b.Lon-a.Lon)
	h := math.Pow(math.Sin(dLat/2), 2) + math.Cos(lat1)*math.Cos(lat2)*math.Pow(math.Sin(dLon/2), 2)
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

func radians(deg float64) float64 { return deg * math.Pi / 180 }

// Filter returns the readings that match q, in their original order.
func Filter(readings []sensor.Reading, q Query) []sensor.Reading {
	var out []sensor.Reading
	for i := range readings {
		if q.Match(&readings[i]) {
			out = append(out, readings[i])
		}
	}
	return out
}

// GroupBy is the grouping of Aggregate: always by field, and optionally by
// source and by time bucket.
type GroupBy struct {
	Source bool
	// Bucket, when positive, groups by intervals of this length aligned
	// to the Unix epoch: a reading at t falls in the bucket starting at
	// the largest multiple of Bucket since 1970-01-01 UTC not after t.
	Bucket time.Duration
}

// Key identifies one group. Source and Bucket are zero unless GroupBy
// groups by them.
type Key struct {
	Field  string
	Source string
	Bucket time.Time
}

// Stats aggregates one group. Min, Max, Sum and Mean cover the numeric
// values only and are 0 when Count is 0.
type Stats struct {
	// Count is the number of numeric values.
	Count int
	// Missing and Texts count the missing and text values, which the
	// other statistics leave out.
	Missing int
	Texts   int
	Min     float64
	Max     float64
	// Sum uses compensated (Neumaier) summation, so it is exact to within
	// a few units in the last place even over many values.
	Sum  float64
	Mean float64

	compensation float64
}

// Group is the statistics of one key.
type Group struct {
	Key
	Stats
}

// Aggregate computes Stats for every field of the readings that match q,
// grouped by the keys that by selects, and returns the groups sorted by
// field, then source, then bucket.
func Aggregate(readings []sensor.Reading, q Query, by GroupBy) []Group {
	groups := map[Key]*Stats{}
	for i := range readings {
		r := &readings[i]
		if !q.Match(r) {
			continue
		}
		for _, f := range r.Fields {
			k := by.key(f.Name, r)
			s := groups[k]
			if s == nil {
				s = &Stats{}
				groups[k] = s
			}
			s.add(f.Value)
		}
	}
	out := make([]Group, 0, len(groups))
	for k, s := range groups {
		s.finish()
		out = append(out, Group{Key: k, Stats: *s})
	}
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Source, b.Source), a.Bucket.Compare(b.Bucket))
	})
	return out
}

func (by GroupBy) key(field string, r *sensor.Reading) Key {
	k := Key{Field: field}
	if by.Source {
		k.Source = r.Source
	}
	if by.Bucket > 0 {
		k.Bucket = BucketStart(r.Time, by.Bucket)
	}
	return k
}

// BucketStart returns the start of the bucket of length d, aligned to the
// Unix epoch, that holds t.
func BucketStart(t time.Time, d time.Duration) time.Time {
	ns := t.UnixNano()
	start := ns - ns%int64(d)
	if ns%int64(d) < 0 {
		start -= int64(d)
	}
	return time.Unix(0, start).UTC()
}

func (s *Stats) add(v sensor.Value) {
	f, ok := v.Number()
	switch {
	case v.IsMissing():
		s.Missing++
		return
	case !ok:
		s.Texts++
		return
	}
	if s.Count == 0 || f < s.Min {
		s.Min = f
	}
	if s.Count == 0 || f > s.Max {
		s.Max = f
	}
	s.Count++

	// Neumaier's variant of Kahan summation keeps the low-order bits that
	// each addition loses in a separate compensation term.
	t := s.Sum + f
	if math.Abs(s.Sum) >= math.Abs(f) {
		s.compensation += (s.Sum - t) + f
	} else {
		s.compensation += (f - t) + s.Sum
	}
	s.Sum = t
}

func (s *Stats) finish() {
	s.Sum += s.compensation
	s.compensation = 0
	if s.Count > 0 {
		s.Mean = s.Sum / float64(s.Count)
	}
}
