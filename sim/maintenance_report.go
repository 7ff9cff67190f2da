package sim

// MaintenanceReport puts one or more maintenance runs side by side, one
// column per run; with a flat and a hierarchical run it adds their ratio.
func MaintenanceReport(runs []MaintenanceResult, perfs []*Perf) Report {
	columns := []string{"metric"}
	for _, r := range runs {
		columns = append(columns, r.Mode.String())
	}
	flat, hier := -1, -1
	for k, r := range runs {
		switch r.Mode {
		case Flat:
			flat = k
		case Hier:
			hier = k
		}
	}
	withRatio := flat >= 0 && hier >= 0
	if withRatio {
		columns = append(columns, "hier/flat")
	}

	summary := NewTable("maintenance", "Maintenance under churn", columns...)
	metric := func(name string, digits int, f func(r *MaintenanceResult) float64) {
		cells := []string{name}
		for k := range runs {
			cells = append(cells, fmtFloat(f(&runs[k]), digits))
		}
		if withRatio {
			cells = append(cells, ratio(f(&runs[hier]), f(&runs[flat])))
		}
		summary.Add(cells...)
	}
	metric("nodes (target)", 0, func(r *MaintenanceResult) float64 { return float64(r.Options.Build.Nodes) })
	metric("nodes (mean live)", 1, (*MaintenanceResult).MeanLive)
	metric("window (min)", 1, func(r *MaintenanceResult) float64 { return r.Options.Window.Minutes() })
	metric("arrivals", 0, func(r *MaintenanceResult) float64 { return float64(r.Arrivals) })
	metric("departures", 0, func(r *MaintenanceResult) float64 { return float64(r.Departures) })
	for _, c := range []struct {
		name    string
		classes []trafficClass
	}{
		{"all", []trafficClass{classJoin, classSteady}},
		{"steady", []trafficClass{classSteady}},
		{"join", []trafficClass{classJoin}},
	} {
		metric("messages per node-minute ("+c.name+")", 3, func(r *MaintenanceResult) float64 {
			m, _ := classTotals(&r.Traffic, c.classes)
			return m / r.NodeMinutes
		})
		metric("bytes per node-minute ("+c.name+")", 1, func(r *MaintenanceResult) float64 {
			_, b := classTotals(&r.Traffic, c.classes)
			return b / r.NodeMinutes
		})
	}
	// The probe lookups are part of the traffic above. Each sends one
	// find-node per node it queries and gets at most one response.
	metric("probe messages per node-minute (estimate)", 3, func(r *MaintenanceResult) float64 {
		return 2 * meanQueried(r.Probes) * float64(len(r.Probes)) / r.NodeMinutes
	})

	probeRuns := make([][]Probe, len(runs))
	for k := range runs {
		probeRuns[k] = runs[k].Probes
	}
	probeTable := NewTable("maintenance-lookups", "Lookups during the window", columns[:len(runs)+1]...)
	probeRows(probeTable, probeRuns)

	rep := Report{Tables: []*Table{summary, probeTable}}
	for k := range runs {
		r := &runs[k]
		per := r.NodeMinutes
		rep.Tables = append(rep.Tables, trafficTable("maintenance-traffic-"+r.Mode.String(),
			"Traffic by type, "+r.Mode.String(), &r.Traffic, &per))
	}
	rep.Plots = append(rep.Plots, maintenancePlot(runs))
	if len(perfs) > 0 {
		perf := NewTable("maintenance-perf", "Cost of the runs on this machine", columns[:len(runs)+1]...)
		perfRows(perf, perfs, runs)
		rep.Perf = perf
	}
	return rep
}

// classTotals sums messages and bytes over classes.
func classTotals(t *Traffic, classes []trafficClass) (messages, bytes float64) {
	for _, c := range classes {
		m, b := t.Total(c)
		messages += float64(m)
		bytes += float64(b)
	}
	return messages, bytes
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmtFloat(a/b, 3)
}

func perfRows(t *Table, perfs []*Perf, runs []MaintenanceResult) {
	row := func(name string, f func(p *Perf, r *MaintenanceResult) string) {
		cells := []string{name}
		for k := range runs {
			cells = append(cells, f(perfs[k], &runs[k]))
		}
		t.Add(cells...)
	}
	row("wall time (s)", func(p *Perf, _ *MaintenanceResult) string { return fmtSeconds(p.Wall) })
	row("events", func(_ *Perf, r *MaintenanceResult) string { return fmtInt(r.Stats.Events) })
	row("events per wall second", func(p *Perf, r *MaintenanceResult) string {
		return fmtFloat(float64(r.Stats.Events)/max(p.Wall.Seconds(), 1e-9), 0)
	})
	row("peak RSS (MiB)", func(p *Perf, _ *MaintenanceResult) string { return fmtFloat(float64(p.PeakRSS)/(1<<20), 1) })
	row("peak heap (MiB)", func(p *Perf, _ *MaintenanceResult) string { return fmtFloat(float64(p.PeakHeap)/(1<<20), 1) })
	row("live heap at the end (MiB)", func(p *Perf, _ *MaintenanceResult) string { return fmtFloat(float64(p.LiveHeap)/(1<<20), 1) })
	row("GC cycles", func(p *Perf, _ *MaintenanceResult) string { return fmtInt(int64(p.GCCycles)) })
}
