package sim

import "time"

// latencyBin is the width of one bar of the latency histogram.
const latencyBin = 50 * time.Millisecond

// LookupReport turns a lookup run into tables and plots. They include the
// tables and plot of the build (see BuildReport), so that one run at a
// large size gives both the build's convergence and the lookups.
func LookupReport(r LookupResultSet, kademliaK int, perf *Perf) Report {
	summary := NewTable("lookup", "Lookups: "+fmtInt(r.Options.Build.Nodes)+" nodes, "+r.Build.Mode.String(), "metric", "value")
	summary.Add("nodes", fmtInt(r.Options.Build.Nodes))
	summary.Add("converged after last join (s)", fmtSeconds(r.Build.ConvergedAt-r.Build.LastJoin))
	probeRows(summary, [][]Probe{r.Probes})

	hopCounts := NewTable("lookup-hops", "Hop count distribution", "hops", "lookups", "share (%)")
	h := hops(r.Probes)
	counts := histogram(h, func(v int) int { return v })
	for v, c := range counts {
		if c > 0 {
			hopCounts.Add(fmtInt(v), fmtInt(c), fmtPercent(float64(c)/float64(len(h))))
		}
	}

	latency := NewTable("lookup-latency", "Latency distribution", "from (ms)", "to (ms)", "lookups", "share (%)")
	lat := latencies(r.Probes)
	bins := histogram(lat, func(d time.Duration) int { return int(d / latencyBin) })
	for b, c := range bins {
		if c > 0 {
			from := time.Duration(b) * latencyBin
			latency.Add(fmtMillis(from), fmtMillis(from+latencyBin), fmtInt(c), fmtPercent(float64(c)/float64(len(lat))))
		}
	}

	build := BuildReport(r.Build, kademliaK, nil)
	rep := Report{
		Tables: append([]*Table{summary, hopCounts, latency}, build.Tables...),
		Plots:  append([]Plot{hopsPlot(h), latencyPlot(lat)}, build.Plots...),
	}
	if perf != nil {
		rep.Perf = perfTable("lookup-perf", perf, &r.Stats, r.Options.Build.Nodes, r.Build.Contacts)
	}
	return rep
}

// histogram counts values by bin, for bins from 0 to the largest.
func histogram[T any](values []T, bin func(T) int) []int {
	var counts []int
	for _, v := range values {
		b := max(bin(v), 0)
		for len(counts) <= b {
			counts = append(counts, 0)
		}
		counts[b]++
	}
	return counts
}
