package town

import (
	"fmt"
	"image/color"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/yuinet/yui/sim"
)

// SummaryTable renders summaries as one table, a row per summary.
func SummaryTable(name, title string, sums []Summary) *sim.Table {
	t := sim.NewTable(name, title,
		"protocol", "failed (%)", "churn (%)", "runs", "delivery (%)", "limit (%)", "worst run (%)",
		"runs at limit", "p50 (ms)", "p90 (ms)", "max (ms)", "data tx per delivery", "control tx per node-minute")
	for _, s := range sums {
		t.Add(s.Protocol, percent(s.Fail), percent(s.Churn), strconv.Itoa(s.Runs),
			percent(s.Ratio), percent(s.Limit), percent(s.MinRatio), strconv.Itoa(s.AtLimit),
			millis(s.LatencyP50), millis(s.LatencyP90), millis(s.LatencyMax),
			decimal(s.DataPerDelivery()), decimal(s.ControlPerNodeMinute()))
	}
	return t
}

// FitTable renders the fitted link statistics next to those of a graph.
func FitTable(fit Fit, measured, generated LinkStats) *sim.Table {
	t := sim.NewTable("town-links", "Link statistics: measured (ULB N1) and generated",
		"statistic", "measured", "generated")
	t.Add("relays", strconv.Itoa(measured.Relays), strconv.Itoa(generated.Relays))
	t.Add("directed links", strconv.Itoa(measured.Links), strconv.Itoa(generated.Links))
	t.Add("mean degree", decimal(measured.MeanDegree), decimal(generated.MeanDegree))
	t.Add("degree sd", decimal(measured.SDDegree), decimal(generated.SDDegree))
	t.Add("mean RSSI (dBm)", decimal(measured.MeanRSSI), decimal(generated.MeanRSSI))
	t.Add("RSSI sd (dB)", decimal(measured.SDRSSI), decimal(generated.SDRSSI))
	t.Add("mean LQI", decimal(measured.MeanLQI), decimal(generated.MeanLQI))
	t.Add("LQI sd", decimal(measured.SDLQI), decimal(generated.SDLQI))
	t.Add("mean delivery", fmt.Sprintf("%.3f", measured.MeanDelivery), fmt.Sprintf("%.3f", generated.MeanDelivery))
	t.Add("delivery sd", fmt.Sprintf("%.3f", measured.SDDelivery), fmt.Sprintf("%.3f", generated.SDDelivery))
	t.Add("delivery = a + b·LQI: a", fmt.Sprintf("%.4f", fit.DeliveryIntercept), "")
	t.Add("delivery = a + b·LQI: b", fmt.Sprintf("%.6f", fit.DeliverySlope), "")
	t.Add("corr(presence, LQI)", fmt.Sprintf("%.3f", fit.CorrLQI), "")
	t.Add("corr(presence, RSSI)", fmt.Sprintf("%.3f", fit.CorrRSSI), "")
	t.Add("RSSI sd between directions (dB)", fmt.Sprintf("%.3f", fit.SDDirection), "")
	return t
}

func percent(v float64) string { return strconv.FormatFloat(100*v, 'f', 2, 64) }

func decimal(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

// protocolColors colour the series of the sweep plot.
var protocolColors = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// SweepPlot draws the delivery ratio of each protocol against the failed
// share, with the connectivity limit of the first protocol's runs, which
// is the same for all protocols, dashed. The extension of path (.svg,
// .png) picks the format.
func SweepPlot(path, title string, sums []Summary) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "relays failed (%)"
	p.Y.Label.Text = "receivers reached (%)"
	p.Y.Min, p.Y.Max = 0, 100

	var names []string
	series := map[string]plotter.XYs{}
	var limit plotter.XYs
	for _, s := range sums {
		if _, ok := series[s.Protocol]; !ok {
			names = append(names, s.Protocol)
		}
		series[s.Protocol] = append(series[s.Protocol], plotter.XY{X: 100 * s.Fail, Y: 100 * s.Ratio})
		if s.Protocol == sums[0].Protocol {
			limit = append(limit, plotter.XY{X: 100 * s.Fail, Y: 100 * s.Limit})
		}
	}
	for k, name := range names {
		line, dots, err := plotter.NewLinePoints(series[name])
		if err != nil {
			return fmt.Errorf("town: plot %s: %w", name, err)
		}
		line.Color = protocolColors[k%len(protocolColors)]
		dots.Color = line.Color
		p.Add(line, dots)
		p.Legend.Add(name, line, dots)
	}
	if len(limit) > 0 {
		line, err := plotter.NewLine(limit)
		if err != nil {
			return fmt.Errorf("town: plot limit: %w", err)
		}
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
		p.Add(line)
		p.Legend.Add("connectivity limit", line)
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = false, true
	if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, path); err != nil {
		return fmt.Errorf("town: write plot %s: %w", path, err)
	}
	return nil
}

// LatencyPlot draws the p50 (solid) and p90 (dashed) latency of each
// protocol against the failed share, on a logarithmic scale because
// repairs take seconds to minutes where a flood takes milliseconds.
func LatencyPlot(path, title string, sums []Summary) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "relays failed (%)"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}

	var names []string
	p50, p90 := map[string]plotter.XYs{}, map[string]plotter.XYs{}
	for _, s := range sums {
		if _, ok := p50[s.Protocol]; !ok {
			names = append(names, s.Protocol)
			p50[s.Protocol], p90[s.Protocol] = plotter.XYs{}, plotter.XYs{}
		}
		if s.Delivered == 0 {
			continue // no latency to draw, and 0 has no logarithm
		}
		x := 100 * s.Fail
		p50[s.Protocol] = append(p50[s.Protocol], plotter.XY{X: x, Y: msFloat(s.LatencyP50)})
		p90[s.Protocol] = append(p90[s.Protocol], plotter.XY{X: x, Y: msFloat(s.LatencyP90)})
	}
	for k, name := range names {
		for _, series := range []struct {
			points plotter.XYs
			label  string
			dashed bool
		}{{p50[name], name + " p50", false}, {p90[name], name + " p90", true}} {
			if len(series.points) == 0 {
				continue
			}
			line, err := plotter.NewLine(series.points)
			if err != nil {
				return fmt.Errorf("town: plot %s: %w", series.label, err)
			}
			line.Color = protocolColors[k%len(protocolColors)]
			if series.dashed {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			}
			p.Add(line)
			p.Legend.Add(series.label, line)
		}
	}
	p.Add(plotter.NewGrid())
	// Flood's lines run along the bottom and repairs along the top, so the
	// legend goes between them.
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.YOffs = -2 * vg.Centimeter
	if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, path); err != nil {
		return fmt.Errorf("town: write plot %s: %w", path, err)
	}
	return nil
}

// msFloat returns d in milliseconds, at least 0.001 so that it has a
// logarithm.
func msFloat(d time.Duration) float64 {
	return max(float64(d)/float64(time.Millisecond), 0.001)
}
