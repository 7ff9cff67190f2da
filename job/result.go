package job

import (
	"maps"
	"slices"
	"time"
)

// Group is one group of a job's result.
type Group struct {
	// Sensor is the group's source when grouped by sensor.
	Sensor string
	// Start is the first instant of the group's hour or day when grouped
	// by time, and zero otherwise.
	Start time.Time
	// Cell is the group's location cell when grouped by cell; nil there
	// for the readings without a location.
	Cell *CellBounds
	// Count is the number of readings in the group.
	Count  int
	Fields map[string]*FieldResult
}

// FieldResult is the aggregate of one numeric field over a group.
type FieldResult struct {
	// Count is the number of readings with a number in the field.
	Count    int
	Min, Max float64
	// Sum is the exact sum rounded once to float64.
	Sum float64
	// Percentiles are by aggregate name, such as "p90"; missing when the
	// job kept no values (see Partial.ValuesDropped).
	Percentiles map[string]float64
	// Histogram is the count of each bucket of the field's histogram,
	// with the edges of Aggregation.Histogram.
	Histogram []int64
}

// Mean returns Sum / Count.
func (f *FieldResult) Mean() float64 { return f.Sum / float64(f.Count) }

// Result returns the partial's groups in key order: by cell, then by
// sensor, then by time. a must be the aggregation the partial was built
// with.
func (p *Partial) Result(a *Aggregation) []Group {
	keys := slices.Sorted(maps.Keys(p.Groups))
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		g := p.Groups[k]
		rg := Group{Sensor: g.Sensor, Count: int(g.Count), Fields: make(map[string]*FieldResult, len(g.Fields))}
		if a.Time != "" {
			rg.Start = time.Unix(g.Start, 0).UTC()
		}
		if g.Cell != nil {
			rg.Cell = g.Cell.bounds(a.CellSize)
		}
		for name, f := range g.Fields {
			rg.Fields[name] = f.result(name, a)
		}
		out = append(out, rg)
	}
	return out
}

func (f *FieldPartial) result(name string, a *Aggregation) *FieldResult {
	sum, _ := f.rat().Float64()
	r := &FieldResult{Count: int(f.Count), Min: f.Min, Max: f.Max, Sum: sum}
	for _, pc := range a.Percentiles {
		v, ok := f.percentile(pc)
		if !ok {
			break
		}
		if r.Percentiles == nil {
			r.Percentiles = make(map[string]float64, len(a.Percentiles))
		}
		r.Percentiles[pc.Name] = v
	}
	if h := a.Histogram(name); h != nil && len(f.Buckets) == len(h.Edges)+1 {
		r.Histogram = slices.Clone(f.Buckets)
	}
	return r
}
