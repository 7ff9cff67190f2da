package sim

import (
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Figure size of every plot.
const (
	plotWidth  = 16 * vg.Centimeter
	plotHeight = 10 * vg.Centimeter
)

// modeColors are the colours of the flat and hierarchical series.
var modeColors = map[Mode]color.Color{
	Flat: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	Hier: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// save writes p to path; the extension (.svg, .png, .pdf) picks the
// format.
func save(p *plot.Plot, path string) error {
	if err := p.Save(plotWidth, plotHeight, path); err != nil {
		return fmt.Errorf("sim: write plot %s: %w", path, err)
	}
	return nil
}

// convergencePlot draws the share of correct lookups of each check over
// the time since the last join.
func convergencePlot(r BuildResult) Plot {
	return Plot{Name: "build-convergence", draw: func(path string) error {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Convergence of %d nodes (%s)", r.Options.Nodes, r.Mode)
		p.X.Label.Text = "check start after the last join (s)"
		p.Y.Label.Text = "lookups finding the true closest node (%)"
		points := make(plotter.XYs, len(r.Checks))
		for k, c := range r.Checks {
			points[k].X = (c.At - r.LastJoin).Seconds()
			points[k].Y = 100 * c.Success()
		}
		line, dots, err := plotter.NewLinePoints(points)
		if err != nil {
			return err
		}
		line.Color = modeColors[r.Mode]
		target := plotter.NewFunction(func(float64) float64 { return 100 * r.Options.Target })
		target.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
		p.Add(line, dots, target, plotter.NewGrid())
		p.Legend.Add("checks", line, dots)
		p.Legend.Add("target", target)
		p.Legend.Top, p.Legend.Left = false, false
		return save(p, path)
	}}
}

// maintenancePlot draws the messages per node-minute of each message type,
// one bar group per run.
func maintenancePlot(runs []MaintenanceResult) Plot {
	return Plot{Name: "maintenance-traffic", draw: func(path string) error {
		p := plot.New()
		p.Title.Text = "Messages per node-minute under churn"
		p.Y.Label.Text = "messages per node-minute"

		var union Traffic
		for k := range runs {
			for c := range numClasses {
				for i := range maxTypes {
					union.Messages[c][i] += runs[k].Traffic.Messages[c][i]
				}
			}
		}
		types := union.Types()
		names := make([]string, len(types))
		for k, t := range types {
			names[k] = t.String()
		}

		width := vg.Points(60 / float64(max(len(runs), 1)))
		for k := range runs {
			r := &runs[k]
			values := make(plotter.Values, len(types))
			for j, t := range types {
				for c := range numClasses {
					values[j] += float64(r.Traffic.Messages[c][t])
				}
				values[j] /= max(r.NodeMinutes, 1e-9)
			}
			bars, err := plotter.NewBarChart(values, width)
			if err != nil {
				return err
			}
			bars.Color = modeColors[r.Mode]
			bars.LineStyle.Width = 0
			bars.Offset = width * vg.Length(float64(k)-float64(len(runs)-1)/2)
			p.Add(bars)
			p.Legend.Add(r.Mode.String(), bars)
		}
		p.NominalX(names...)
		p.Legend.Top = true
		return save(p, path)
	}}
}

// hopsPlot draws the hop count histogram.
func hopsPlot(h []int) Plot {
	return Plot{Name: "lookup-hops", draw: func(path string) error {
		counts := histogram(h, func(v int) int { return v })
		values := make(plotter.Values, len(counts))
		names := make([]string, len(counts))
		for v, c := range counts {
			values[v] = float64(c)
			names[v] = fmt.Sprint(v)
		}
		p := plot.New()
		p.Title.Text = "Lookup hop counts"
		p.X.Label.Text = "hops"
		p.Y.Label.Text = "lookups"
		bars, err := plotter.NewBarChart(values, vg.Points(20))
		if err != nil {
			return err
		}
		bars.Color = modeColors[Flat]
		p.Add(bars)
		p.NominalX(names...)
		return save(p, path)
	}}
}

// latencyPlot draws the lookup latency histogram.
func latencyPlot(lat []time.Duration) Plot {
	return Plot{Name: "lookup-latency", draw: func(path string) error {
		values := make(plotter.Values, len(lat))
		for k, d := range lat {
			values[k] = float64(d) / float64(time.Millisecond)
		}
		p := plot.New()
		p.Title.Text = "Lookup latency"
		p.X.Label.Text = "latency (ms)"
		p.Y.Label.Text = "lookups"
		if len(values) == 0 {
			return save(p, path)
		}
		hist, err := plotter.NewHist(values, 40)
		if err != nil {
			return err
		}
		hist.FillColor = modeColors[Flat]
		p.Add(hist)
		return save(p, path)
	}}
}
