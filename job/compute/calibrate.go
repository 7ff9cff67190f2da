package compute

import (
	"fmt"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

// CalibrationReadings is the size of the workload Calibrate times.
const CalibrationReadings = 20_000

// Calibrate folds n synthetic readings into a job.Partial grouped by
// sensor and hour, the work a worker does on each reading of a unit,
// and returns how long that took. Feed the result to Meter.Observe.
// It reads the wall clock, so it is the one part of this package that
// is not deterministic.
func Calibrate(n int) time.Duration {
	readings := syntheticReadings(n)
	by := &job.Aggregation{Grouping: job.Grouping{Time: search.ByHour, PerSensor: true}}
	p := job.NewPartial()
	start := time.Now()
	for i := range readings {
		p.Add(&readings[i], by)
	}
	return time.Since(start)
}

// syntheticReadings returns n readings of 20 sensors, one a minute each,
// with three numeric fields, like the ULB library's motes.
func syntheticReadings(n int) []sensor.Reading {
	t0 := time.Date(2006, 11, 13, 0, 0, 0, 0, time.UTC)
	out := make([]sensor.Reading, n)
	for i := range out {
		v := float64(i%997) / 10
		out[i] = sensor.Reading{
			Source: fmt.Sprint(i % 20),
			Time:   t0.Add(time.Duration(i/20) * time.Minute),
			Fields: []sensor.Field{
				{Name: "temperature", Value: sensor.Number(18 + v/10)},
				{Name: "humidity", Value: sensor.Number(30 + v/5)},
				{Name: "voltage", Value: sensor.Number(2.5 + v/1000)},
			},
		}
	}
	return out
}
