package jobsim

import (
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Point is one run for Plot and the tables: its starting workers, the
// workers added mid-job, its churn and its result.
type Point struct {
	Workers        int
	Added          bool
	AddedWorkers   int
	ChurnPerMinute float64
	Result         Result
}

// seriesColors are the colours of the runs without and with workers
// added mid-job.
var seriesColors = [2]color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// Plot writes the completion time against the starting workers, on log
// scales, one line without and one with workers added mid-job, to path;
// the extension (.svg, .png, .pdf) picks the format.
func Plot(path, title string, points []Point) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "workers at the start"
	p.Y.Label.Text = "completion time (s)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())

	for k, name := range []string{"no workers added", "workers added mid-job"} {
		var xys plotter.XYs
		for _, pt := range points {
			if pt.Added == (k == 1) {
				xys = append(xys, plotter.XY{X: float64(pt.Workers), Y: pt.Result.Completion.Seconds()})
			}
		}
		if len(xys) == 0 {
			continue
		}
		slices.SortFunc(xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		line, dots, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("jobsim: plot %s: %w", name, err)
		}
		line.Color, dots.Color = seriesColors[k], seriesColors[k]
		p.Add(line, dots)
		p.Legend.Add(name, line, dots)
	}
	p.Legend.Top = true
	if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, path); err != nil {
		return fmt.Errorf("jobsim: write plot %s: %w", path, err)
	}
	return nil
}
