package node

import (
	"fmt"
	"slices"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/sensor"
)

// jobGroups turns a job's final aggregate into the API's groups, with
// the aggregates the spec requests. It returns an error text when the job
// left its percentiles out.
func jobGroups(p *job.Partial, spec *job.Spec) ([]api.AggregateGroup, string) {
	agg := spec.Aggregation()
	out := []api.AggregateGroup{}
	for _, g := range p.Result(agg) {
		out = append(out, apiJobGroup(&g, spec.Aggs, agg))
	}
	if p.ValuesDropped && len(agg.Percentiles) > 0 {
		return out, fmt.Sprintf("percentiles left out: the job's groups hold more than %d distinct values, the limit that bounds a result's size; "+
			"ask for a histogram, or group or filter the readings more narrowly", job.MaxValues)
	}
	return out, ""
}

func apiJobGroup(g *job.Group, aggs []string, agg *job.Aggregation) api.AggregateGroup {
	out := api.AggregateGroup{Sensor: g.Sensor, Count: g.Count, Fields: make(map[string]api.FieldStats, len(g.Fields))}
	if !g.Start.IsZero() {
		start := g.Start
		out.Start = &start
	}
	if g.Cell != nil {
		out.Cell = apiCell(g.Cell)
	}
	for name, f := range g.Fields {
		out.Fields[name] = apiJobField(name, f, aggs, agg)
	}
	return out
}

func apiJobField(name string, f *job.FieldResult, aggs []string, agg *job.Aggregation) api.FieldStats {
	fs := api.FieldStats{Count: f.Count}
	for _, a := range aggs {
		switch a {
		case "min":
			fs.Min = &f.Min
		case "max":
			fs.Max = &f.Max
		case "mean":
			mean := f.Mean()
			fs.Mean = &mean
		case "sum":
			fs.Sum = &f.Sum
		case "histogram":
			if h := agg.Histogram(name); h != nil && f.Histogram != nil {
				fs.Histogram = &api.Histogram{Edges: slices.Clone(h.Edges), Counts: f.Histogram}
			}
		}
	}
	if len(f.Percentiles) > 0 {
		fs.Percentiles = f.Percentiles
	}
	return fs
}

func apiCell(c *job.CellBounds) *api.Cell {
	out := &api.Cell{Kind: c.Kind.String(), Size: c.Size, Column: c.X, Row: c.Y, Min: [2]float64{c.MinX, c.MinY}}
	if c.Kind == sensor.Geo {
		out.Min = [2]float64{c.South, c.West}
	}
	return out
}
