package search

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/sensor"
)

// bruteAggregate groups the brute-force matches of q and aggregates them
// without the package's aggregator.
func bruteAggregate(all []sensor.Reading, q Query, by GroupBy) map[string]*Group {
	q.Limit = 0
	groups := make(map[string]*Group)
	for _, r := range bruteQuery(all, q) {
		var parts []string
		if strings.Contains(string(by), "sensor") {
			parts = append(parts, r.Source)
		}
		if strings.Contains(string(by), "hour") {
			parts = append(parts, r.Time.Truncate(time.Hour).Format(time.RFC3339))
		}
		if strings.Contains(string(by), "day") {
			parts = append(parts, time.Date(r.Time.Year(), r.Time.Month(), r.Time.Day(), 0, 0, 0, 0, time.UTC).Format(time.RFC3339))
		}
		key := strings.Join(parts, "/")
		g := groups[key]
		if g == nil {
			g = &Group{Fields: make(map[string]*Stats)}
			groups[key] = g
		}
		g.Count++
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			st := g.Fields[f.Name]
			if st == nil {
				st = &Stats{Min: math.Inf(1), Max: math.Inf(-1)}
				g.Fields[f.Name] = st
			}
			st.Count++
			st.Sum += v
			st.Min = math.Min(st.Min, v)
			st.Max = math.Max(st.Max, v)
		}
	}
	return groups
}

func groupKey(g Group) string {
	var parts []string
	if g.Sensor != "" {
		parts = append(parts, g.Sensor)
	}
	if !g.Start.IsZero() {
		parts = append(parts, g.Start.Format(time.RFC3339))
	}
	return strings.Join(parts, "/")
}

func TestAggregateMatchesBruteForce(t *testing.T) {
	c := newCluster(t, 4, "col7")
	d := writeDataset(t, c, "library", 1500)
	gates := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name string
		q    Query
		by   GroupBy
	}{
		{"all readings", Query{}, All},
		{"by sensor", Query{From: d.start, To: d.start.Add(90 * time.Minute)}, BySensor},
		{"by hour", Query{Sensor: "gate-north"}, ByHour},
		{"by day", Query{Where: []Condition{{Field: "status", Op: Equal, Value: sensor.Text("open")}}}, ByDay},
		{"near by sensor", Query{Near: &Near{Center: *sensor.PlanePoint(15, 15), Radius: 10}}, BySensor},
		{"time range by hour", Query{From: gates.Add(22 * time.Hour), To: gates.Add(27 * time.Hour)}, ByHour},
		{"by sensor and hour", Query{From: d.start, To: d.start.Add(5 * time.Hour)}, "sensor,hour"},
		{"by day and sensor", Query{}, "day,sensor"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			q := tt.q
			q.Namespace = "library"
			got, err := c.node(0).querier.Aggregate(ctx, "", q, tt.by)
			if err != nil {
				t.Fatalf("Aggregate: %v", err)
			}
			want := bruteAggregate(d.all, q, tt.by)
			if len(want) == 0 {
				t.Fatal("the query matches no reading, so it tests nothing")
			}
			if len(got) != len(want) {
				t.Fatalf("%d groups, brute force has %d", len(got), len(want))
			}
			keys := make([]string, len(got))
			for i, g := range got {
				keys[i] = groupKey(g)
				w := want[keys[i]]
				if w == nil {
					t.Fatalf("group %q is not in the brute force result", keys[i])
				}
				assertSameGroup(t, keys[i], g, w)
			}
			if !slices.IsSorted(keys) {
				t.Errorf("groups are not in order: %q", keys)
			}
		})
	}
}

func assertSameGroup(t *testing.T, key string, got Group, want *Group) {
	t.Helper()
	if got.Count != want.Count {
		t.Errorf("group %q counts %d readings, brute force %d", key, got.Count, want.Count)
	}
	if len(got.Fields) != len(want.Fields) {
		t.Errorf("group %q has %d numeric fields, brute force %d", key, len(got.Fields), len(want.Fields))
	}
	for name, w := range want.Fields {
		g := got.Fields[name]
		if g == nil {
			t.Errorf("group %q lacks field %s", key, name)
			continue
		}
		if g.Count != w.Count || g.Min != w.Min || g.Max != w.Max {
			t.Errorf("group %q field %s: count %d min %v max %v, brute force %d %v %v",
				key, name, g.Count, g.Min, g.Max, w.Count, w.Min, w.Max)
		}
		if wm := w.Sum / float64(w.Count); math.Abs(g.Mean()-wm) > 1e-9*math.Max(1, math.Abs(wm)) {
			t.Errorf("group %q field %s: mean %v, brute force %v", key, name, g.Mean(), wm)
		}
	}
}

func TestParseGroupBy(t *testing.T) {
	for in, want := range map[string]GroupBy{
		"":            All,
		"all":         All,
		"sensor":      BySensor,
		"day":         ByDay,
		"hour,sensor": "sensor,hour",
		"sensor, day": "sensor,day",
		"sensor,hour": "sensor,hour",
	} {
		got, err := ParseGroupBy(in)
		if err != nil {
			t.Errorf("ParseGroupBy(%q): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("ParseGroupBy(%q) = %q, want %q", in, got, want)
		}
	}

	for _, in := range []string{"week", "hour,day", "sensor,sensor", "sensor,", "cell"} {
		if _, err := ParseGroupBy(in); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("ParseGroupBy(%q) error = %v, want ErrInvalidQuery", in, err)
		}
	}
}
