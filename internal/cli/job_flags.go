package cli

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/yuinet/yui/api"
)

// jobAggregates are the aggregates --agg accepts besides percentiles.
var jobAggregates = []string{"count", "sum", "min", "max", "mean", "histogram"}

// percentileAgg matches a percentile such as p50 or p99.9; the node
// checks the range.
var percentileAgg = regexp.MustCompile(`^p[0-9]{1,3}(\.[0-9]{1,3})?$`)

// parseAggregates reads --agg.
func parseAggregates(list string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if !slices.Contains(jobAggregates, a) && !percentileAgg.MatchString(a) {
			return nil, fmt.Errorf("invalid --agg %q: %q is not one of %s, or a percentile such as p50 or p99.9",
				list, a, strings.Join(jobAggregates, ", "))
		}
		out = append(out, a)
	}
	return out, nil
}

// parseHistogram reads one --histogram: "E1,E2,..." for every numeric
// field, or "FIELD=E1,E2,..." for one.
func parseHistogram(arg string) (api.HistogramEdges, error) {
	var h api.HistogramEdges
	edges := arg
	if i := strings.LastIndexByte(arg, '='); i >= 0 {
		h.Field, edges = arg[:i], arg[i+1:]
		if h.Field == "" {
			return h, fmt.Errorf("invalid --histogram %q: no field name before '='", arg)
		}
	}
	for _, e := range strings.Split(edges, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(e), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return h, fmt.Errorf("invalid --histogram %q: edge %q is not a finite number", arg, e)
		}
		if n := len(h.Edges); n > 0 && x <= h.Edges[n-1] {
			return h, fmt.Errorf("invalid --histogram %q: edges must increase, but %v follows %v", arg, x, h.Edges[n-1])
		}
		h.Edges = append(h.Edges, x)
	}
	return h, nil
}

// checkJobNumbers rejects --verify and --segments-per-unit values that
// the node would otherwise treat as its defaults.
func checkJobNumbers(verify, per int) error {
	if verify < 1 || verify > 5 {
		return fmt.Errorf("invalid --verify %d: run each unit on 1 to 5 workers", verify)
	}
	if per < 0 {
		return fmt.Errorf("invalid --segments-per-unit %d: use a positive number of segments, or 0 for the node's default", per)
	}
	return nil
}

// histogramText prints a histogram's counts as "<e0:n e0:n e1:n ...", each count
// after the lowest edge of its bucket.
func histogramText(h *api.Histogram) string {
	if h == nil || len(h.Counts) != len(h.Edges)+1 {
		return "-"
	}
	parts := []string{"<" + formatStat(h.Edges[0]) + ":" + strconv.FormatInt(h.Counts[0], 10)}
	for i, e := range h.Edges {
		parts = append(parts, formatStat(e)+":"+strconv.FormatInt(h.Counts[i+1], 10))
	}
	return strings.Join(parts, " ")
}

// cellName names a location cell by its kind and lowest corner, such as
// geo:50.84,4.35.
func cellName(c *api.Cell) string {
	return c.Kind + ":" + formatStat(c.Min[0]) + "," + formatStat(c.Min[1])
}

// resultAggregates returns the aggregates a job's groups hold, in the
// order --agg lists them, for printing a job whose request is not at
// hand.
func resultAggregates(groups []api.AggregateGroup) []string {
	has := make(map[string]bool)
	for _, g := range groups {
		for _, f := range g.Fields {
			has["min"] = has["min"] || f.Min != nil
			has["max"] = has["max"] || f.Max != nil
			has["mean"] = has["mean"] || f.Mean != nil
			has["sum"] = has["sum"] || f.Sum != nil
			has["histogram"] = has["histogram"] || f.Histogram != nil
			for p := range f.Percentiles {
				has[p] = true
			}
		}
	}
	out := []string{"count"}
	for _, a := range jobAggregates[1:] {
		if has[a] {
			out = append(out, a)
			delete(has, a)
		}
	}
	var percentiles []string
	for p, ok := range has {
		if ok && strings.HasPrefix(p, "p") {
			percentiles = append(percentiles, p)
		}
	}
	slices.SortFunc(percentiles, func(a, b string) int {
		x, _ := strconv.ParseFloat(a[1:], 64)
		y, _ := strconv.ParseFloat(b[1:], 64)
		return cmpFloat(x, y)
	})
	return append(out, percentiles...)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
