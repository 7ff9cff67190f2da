package sim

import (
	"math"
	"slices"
	"time"
)

// Report holds the tables and plots of one scenario run. Tables other
// than Perf depend only on the options and the seed.
type Report struct {
	Tables []*Table
	// Perf holds the wall-clock time and memory of the run, which vary
	// from run to run.
	Perf *Table
	// Plots are drawn into files named by their keys.
	Plots []Plot
}

// Plot is a figure to write to a file.
type Plot struct {
	Name string // file name stem, such as "build-convergence"
	draw func(path string) error
}

// BuildReport turns a build result into tables and plots.
func BuildReport(r BuildResult, kademliaK int, perf *Perf) Report {
	nodes := r.Options.Nodes
	summary := NewTable("build", "Build: "+fmtInt(nodes)+" nodes, "+r.Mode.String(), "metric", "value")
	summary.Add("mode", r.Mode.String())
	summary.Add("nodes", fmtInt(nodes))
	summary.Add("broadcast domains", fmtInt(r.LANs))
	summary.Add("k", fmtInt(kademliaK))
	summary.Add("join rate (nodes/s)", fmtFloat(r.Options.JoinRate, 0))
	summary.Add("last join (s)", fmtSeconds(r.LastJoin))
	summary.Add("converged", fmtBool(r.Converged))
	if r.Converged {
		summary.Add("converged at (s)", fmtSeconds(r.ConvergedAt))
		summary.Add("converged after last join (s)", fmtSeconds(r.ConvergedAt-r.LastJoin))
	}
	summary.Add("lookups per check", fmtInt(r.Options.Probes))
	summary.Add("target success (%)", fmtPercent(r.Options.Target))
	if len(r.Checks) > 0 {
		summary.Add("success of the last check (%)", fmtPercent(r.Checks[len(r.Checks)-1].Success()))
	}
	summary.Add("end (s)", fmtSeconds(r.End))
	summary.Add("contacts per node", fmtFloat(float64(r.Contacts)/float64(max(nodes, 1)), 1))
	summary.Add("nodes in the global DHT", fmtInt(r.Participants))
	addStatsRows(summary, &r.Stats, nodes)

	checks := NewTable("build-checks", "Convergence checks", "at (s)", "after last join (s)", "lookups", "ended", "correct", "success (%)", "correct counting joining nodes")
	for _, c := range r.Checks {
		checks.Add(fmtSeconds(c.At), fmtSeconds(c.At-r.LastJoin), fmtInt(c.Lookups), fmtInt(c.Ended), fmtInt(c.Correct), fmtPercent(c.Success()), fmtInt(c.CorrectWithJoining))
	}

	tables := []*Table{summary, checks}
	if r.Converged {
		tables = append(tables, convergedLookupsTable(r))
	}
	rep := Report{
		Tables: append(tables, trafficTable("build-traffic", "Traffic of the whole run", &r.Stats.Traffic, nil)),
		Plots:  []Plot{convergencePlot(r)},
	}
	if perf != nil {
		rep.Perf = perfTable("build-perf", perf, &r.Stats, nodes, r.Contacts)
	}
	return rep
}

// convergedLookupsTable describes the lookups of the check that reached
// the target: lookups on the converged network. A check decided early has
// lookups still running. All started at one moment, so those are slower
// than every one that ended, and a latency percentile is exact as long as
// its rank falls on an ended lookup. Hop counts are those of the ended
// lookups.
func convergedLookupsTable(r BuildResult) *Table {
	t := NewTable("build-lookups", "Lookups of the check that converged", "metric", "value")
	var ended []Probe
	for _, p := range r.ConvergedProbes {
		if p.Done {
			ended = append(ended, p)
		}
	}
	total := len(r.ConvergedProbes)
	t.Add("lookups", fmtInt(total))
	t.Add("ended when decided", fmtInt(len(ended)))
	t.Add("correct", fmtInt(summarize(ended).Correct))

	lat := latencies(ended)
	slices.Sort(lat)
	for _, pc := range []float64{50, 90, 99, 100} {
		name := "latency p" + fmtFloat(pc, 0) + " (ms)"
		if pc == 100 {
			name = "latency max (ms)"
		}
		rank := min(max(int(math.Ceil(pc/100*float64(total))), 1), total)
		if rank <= len(lat) {
			t.Add(name, fmtMillis(lat[rank-1]))
		} else {
			t.Add(name, "still running")
		}
	}

	t.Add("hops mean (ended)", fmtFloat(meanHops(ended), 2))
	for _, pc := range []float64{50, 90, 99, 100} {
		name := "hops p" + fmtFloat(pc, 0) + " (ended)"
		if pc == 100 {
			name = "hops max (ended)"
		}
		t.Add(name, fmtInt(Percentiles(hops(ended), pc)[0]))
	}
	t.Add("requests per lookup (ended)", fmtFloat(meanQueried(ended), 1))
	return t
}

// addStatsRows adds the network counters to a metric/value table.
func addStatsRows(t *Table, s *Stats, nodes int) {
	var messages, bytes uint64
	for c := range numClasses {
		m, b := s.Total(trafficClass(c))
		messages += m
		bytes += b
	}
	t.Add("messages", fmtInt(messages))
	t.Add("messages per node", fmtFloat(float64(messages)/float64(max(nodes, 1)), 1))
	t.Add("bytes per node", fmtFloat(float64(bytes)/float64(max(nodes, 1)), 0))
	t.Add("events", fmtInt(s.Events))
	t.Add("peak events queued", fmtInt(s.PeakQueue))
	t.Add("lost", fmtInt(s.Lost))
	t.Add("undelivered", fmtInt(s.Undelivered))
	t.Add("invalid", fmtInt(s.Invalid))
	t.Add("stuck ticks", fmtInt(s.StuckTicks))
	t.Add("size checks", fmtInt(s.SizeChecks))
	t.Add("size mismatches", fmtInt(s.SizeMismatches))
}

// trafficTable lists traffic by message type and class. With perNodeMinute
// set, rates are divided by it; otherwise totals are shown.
func trafficTable(name, title string, t *Traffic, perNodeMinute *float64) *Table {
	unit := ""
	if perNodeMinute != nil {
		unit = " per node-minute"
	}
	tab := NewTable(name, title, "type", "class", "messages"+unit, "bytes"+unit, "bytes per message")
	for _, typ := range t.Types() {
		for c := range numClasses {
			m, b := t.Messages[c][typ], t.Bytes[c][typ]
			if m == 0 {
				continue
			}
			tab.Add(typ.String(), trafficClass(c).String(), rate(m, perNodeMinute), rate(b, perNodeMinute),
				fmtFloat(float64(b)/float64(m), 1))
		}
	}
	return tab
}

func rate(v uint64, per *float64) string {
	if per == nil {
		return fmtInt(v)
	}
	return fmtFloat(float64(v) / *per, 3)
}

// String returns "join" or "steady".
func (c trafficClass) String() string {
	if c == classJoin {
		return "join"
	}
	return "steady"
}

// perfTable reports the cost of a run on the machine running it.
func perfTable(name string, p *Perf, s *Stats, nodes, contacts int) *Table {
	t := NewTable(name, "Cost of the run on this machine", "metric", "value")
	t.Add("wall time (s)", fmtSeconds(p.Wall))
	t.Add("events per wall second", fmtFloat(float64(s.Events)/max(p.Wall.Seconds(), 1e-9), 0))
	t.Add("peak RSS (MiB)", fmtFloat(float64(p.PeakRSS)/(1<<20), 1))
	t.Add("peak heap (MiB)", fmtFloat(float64(p.PeakHeap)/(1<<20), 1))
	t.Add("live heap at the end (MiB)", fmtFloat(float64(p.LiveHeap)/(1<<20), 1))
	t.Add("live heap per node (bytes)", fmtFloat(float64(p.LiveHeap)/float64(max(nodes, 1)), 0))
	if contacts > 0 {
		t.Add("live heap per contact (bytes)", fmtFloat(float64(p.LiveHeap)/float64(contacts), 1))
	}
	t.Add("GC cycles", fmtInt(int64(p.GCCycles)))
	return t
}

// probeRows adds lookup statistics to a metric table with one column per
// run.
func probeRows(t *Table, runs [][]Probe) {
	row := func(metric string, f func(probes []Probe) string) {
		cells := []string{metric}
		for _, probes := range runs {
			cells = append(cells, f(probes))
		}
		t.Add(cells...)
	}
	row("lookups", func(p []Probe) string { return fmtInt(len(p)) })
	row("success (%)", func(p []Probe) string { return fmtPercent(summarize(p).Success()) })
	row("target left during lookup", func(p []Probe) string { return fmtInt(summarize(p).TargetLeft) })
	row("source left during lookup", func(p []Probe) string {
		s := summarize(p)
		return fmtInt(s.Lookups - s.Done)
	})
	for _, pc := range []float64{50, 90, 99} {
		row("latency p"+fmtFloat(pc, 0)+" (ms)", func(p []Probe) string { return fmtMillis(Percentiles(latencies(p), pc)[0]) })
	}
	row("latency max (ms)", func(p []Probe) string { return fmtMillis(Percentiles(latencies(p), 100)[0]) })
	row("hops mean", func(p []Probe) string { return fmtFloat(meanHops(p), 2) })
	for _, pc := range []float64{50, 90, 99} {
		row("hops p"+fmtFloat(pc, 0), func(p []Probe) string { return fmtInt(Percentiles(hops(p), pc)[0]) })
	}
	row("hops max", func(p []Probe) string { return fmtInt(Percentiles(hops(p), 100)[0]) })
	row("requests per lookup", func(p []Probe) string { return fmtFloat(meanQueried(p), 1) })
}

// latencies returns the latencies of the finished probes.
func latencies(probes []Probe) []time.Duration {
	var out []time.Duration
	for _, p := range probes {
		if p.Done {
			out = append(out, p.Latency)
		}
	}
	return out
}

func hops(probes []Probe) []int {
	var out []int
	for _, p := range probes {
		if p.Done {
			out = append(out, p.Hops)
		}
	}
	return out
}

func meanHops(probes []Probe) float64 {
	h := hops(probes)
	sum := 0
	for _, v := range h {
		sum += v
	}
	return float64(sum) / float64(max(len(h), 1))
}

func meanQueried(probes []Probe) float64 {
	sum, done := 0, 0
	for _, p := range probes {
		if p.Done {
			sum += p.Queried
			done++
		}
	}
	return float64(sum) / float64(max(done, 1))
}
