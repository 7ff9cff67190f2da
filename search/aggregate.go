package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/yuinet/yui/sensor"
)

// GroupBy selects how Aggregate groups readings: by sensor, by a span
// of time, or by both, written "sensor,hour" or "sensor,day".
type GroupBy string

// Groupings.
const (
	// All puts every reading in one group.
	All GroupBy = ""
	// BySensor groups readings by source.
	BySensor GroupBy = "sensor"
	// ByHour and ByDay group readings by the UTC hour or day of their
	// time.
	ByHour GroupBy = "hour"
	ByDay  GroupBy = "day"
)

// ParseGroupBy returns the grouping named s: "", "all", or a
// comma-separated list of "sensor" and one of "hour" or "day", in any
// order. The result lists sensor first.
func ParseGroupBy(s string) (GroupBy, error) {
	if s == "" || s == "all" {
		return All, nil
	}
	var bySensor bool
	var span GroupBy
	for _, part := range strings.Split(s, ",") {
		switch g := GroupBy(strings.TrimSpace(part)); g {
		case BySensor:
			if bySensor {
				return "", fmt.Errorf("%w: grouping %q names sensor twice", ErrInvalidQuery, s)
			}
			bySensor = true
		case ByHour, ByDay:
			if span != "" {
				return "", fmt.Errorf("%w: grouping %q names two spans of time; use one of hour and day", ErrInvalidQuery, s)
			}
			span = g
		default:
			return "", fmt.Errorf("%w: grouping %q: %q is unknown; use sensor, hour or day, or sensor with one of hour and day", ErrInvalidQuery, s, part)
		}
	}
	switch {
	case bySensor && span != "":
		return BySensor + "," + span, nil
	case bySensor:
		return BySensor, nil
	}
	return span, nil
}

// sensor reports whether g groups by sensor.
func (g GroupBy) sensor() bool {
	return g == BySensor || strings.HasPrefix(string(g), string(BySensor)+",")
}

// span returns the span of time g groups by, or "" for none.
func (g GroupBy) span() GroupBy {
	_, span, found := strings.Cut(string(g), ",")
	if found {
		return GroupBy(span)
	}
	if g == ByHour || g == ByDay {
		return g
	}
	return ""
}

// Group is the aggregates of one group of readings.
type Group struct {
	// Sensor is the group's source, when grouped by sensor.
	Sensor string
	// Start is the first instant of the group's hour or day, when
	// grouped by one.
	Start time.Time
	// Count is the number of readings in the group.
	Count int
	// Fields holds the aggregates of each numeric field, by name.
	Fields map[string]*Stats
}

// Stats are the aggregates of one numeric field over a group: the number
// of readings with a number in the field, and its minimum, maximum and
// mean over them. Readings whose field is missing or text are not
// counted.
type Stats struct {
	Count    int
	Min, Max float64
	// Sum is exact before its one rounding to float64, so it does not
	// depend on the order readings arrived in.
	Sum float64

	exact exactSum
}

// Mean returns Sum / Count, or NaN for no values.
func (s *Stats) Mean() float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	return s.Sum / float64(s.Count)
}

func (s *Stats) add(v float64) {
	if s.Count == 0 || v < s.Min {
		s.Min = v
	}
	if s.Count == 0 || v > s.Max {
		s.Max = v
	}
	s.Count++
	s.exact.Add(v)
}

// finish rounds the exact sum into Sum.
func (s *Stats) finish() {
	s.Sum = s.exact.Float64()
}

// Aggregate returns the aggregates of the readings that match q, in groups
// of the kind by names: by sensor in order of source id, by time in time
// order.
// q.Limit is ignored. A user who may not read the namespace gets an error
// wrapping store.ErrForbidden.
func (s *Querier) Aggregate(ctx context.Context, user string, q Query, by GroupBy) ([]Group, error) {
	by, err := ParseGroupBy(string(by))
	if err != nil {
		return nil, err
	}
	agg := newAggregator(by)
	q.Limit = 0
	err = s.scan(ctx, user, q, func(rs []sensor.Reading) {
		for i := range rs {
			agg.add(&rs[i])
		}
	}, nil)
	if err != nil {
		return nil, err
	}
	return agg.groups(), nil
}

// aggregator accumulates groups of readings.
type aggregator struct {
	by    GroupBy
	byKey map[string]*Group
}

func newAggregator(by GroupBy) *aggregator {
	return &aggregator{by: by, byKey: make(map[string]*Group)}
}

func (a *aggregator) add(r *sensor.Reading) {
	g := a.group(r)
	g.Count++
	for _, f := range r.Fields {
		v, ok := f.Value.Number()
		if !ok {
			continue
		}
		st := g.Fields[f.Name]
		if st == nil {
			st = &Stats{}
			g.Fields[f.Name] = st
		}
		st.add(v)
	}
}

// group returns the group of r, creating it on first use. Groups are
// keyed by source, then by their start in RFC 3339, which sorts in time
// order for the years readings may have.
func (a *aggregator) group(r *sensor.Reading) *Group {
	g := Group{}
	if a.by.sensor() {
		g.Sensor = r.Source
	}
	switch a.by.span() {
	case ByHour:
		g.Start = time.Unix(hourOf(r.Time)*hourSeconds, 0).UTC()
	case ByDay:
		g.Start = time.Unix(floorDiv(r.Time.Unix(), daySeconds)*daySeconds, 0).UTC()
	}
	key := g.Sensor
	if !g.Start.IsZero() {
		key += "\x00" + g.Start.Format(time.RFC3339)
	}
	if found := a.byKey[key]; found != nil {
		return found
	}
	g.Fields = make(map[string]*Stats)
	a.byKey[key] = &g
	return &g
}

func (a *aggregator) groups() []Group {
	keys := make([]string, 0, len(a.byKey))
	for k := range a.byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		g := a.byKey[k]
		for _, st := range g.Fields {
			st.finish()
		}
		out = append(out, *g)
	}
	return out
}
