package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/yuinet/yui/sensor"
)

// BenchmarkImport measures the parse rate on the public datasets, read from
// memory so that the disk does not count. It reports MB/s and readings/s of
// wall time, and the same per second of the process's CPU time, which
// other load on the machine does not lower.
func BenchmarkImport(b *testing.B) {
	files := []struct {
		rel  string
		spec string
	}{
		{"ulb-library1/R1.txt", ""},
		{"ulb-library1/R2.txt", ""},
		{"ulb-library1/R3.txt", ""},
		{"ulb-library1/N1.txt", ULBLinksMap},
		{"air-quality/AirQualityUCI.csv", ""},
	}
	for _, f := range files {
		data, err := os.ReadFile(dataPath(b, f.rel))
		if err != nil {
			b.Fatal(err)
		}
		m, err := ParseMap(f.spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(f.rel), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			readings := 0
			cpu := cpuTime()
			for b.Loop() {
				s, err := Import(bytes.NewReader(data), f.rel, Options{Map: m, Logger: quiet}, func(sensor.Reading) error { return nil })
				if err != nil || s.Rejected != 0 {
					b.Fatalf("Import: %v, %d rejected", err, s.Rejected)
				}
				readings += s.Readings
			}
			b.ReportMetric(float64(readings)/b.Elapsed().Seconds(), "readings/s")
			if used := (cpuTime() - cpu).Seconds(); used > 0 {
				b.ReportMetric(float64(readings)/used, "readings/cpu-s")
				b.ReportMetric(float64(b.N)*float64(len(data))/1e6/used, "MB/cpu-s")
			}
		})
	}
}
