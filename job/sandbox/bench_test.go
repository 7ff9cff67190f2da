package sandbox

import (
	"context"
	"testing"

	"github.com/yuinet/yui/sensor"
)

// BenchmarkRunFahrenheit runs the example module on units of 1,000
// readings, which includes instantiating the module and starting the Go
// runtime inside it for every run.
func BenchmarkRunFahrenheit(b *testing.B) {
	r, err := New(context.Background(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	raw, err := readModule("fahrenheit")
	if err != nil {
		b.Fatal(err)
	}
	m, err := r.Compile(context.Background(), raw)
	if err != nil {
		b.Fatal(err)
	}
	in := make([]sensor.Reading, 1000)
	for i := range in {
		in[i] = reading("20", int64(1163438041+i), 15+float64(i%100)/10)
	}
	for b.Loop() {
		out, err := m.Run(context.Background(), nil, in)
		if err != nil {
			b.Fatal(err)
		}
		if len(out) != len(in) {
			b.Fatalf("%d readings out, want %d", len(out), len(in))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in))*1000, "ns/1000readings")
}

// BenchmarkCompileFahrenheit compiles the example module, which a worker
// does once per job.
func BenchmarkCompileFahrenheit(b *testing.B) {
	raw, err := readModule("fahrenheit")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r, err := New(context.Background(), Config{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Compile(context.Background(), raw); err != nil {
			b.Fatal(err)
		}
		r.Close(context.Background())
	}
}
