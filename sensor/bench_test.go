package sensor_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// loadR1 imports the ULB library's R1.txt, 7563 readings of 7 fields.
func loadR1(b *testing.B) []sensor.Reading {
	b.Helper()
	m, err := importer.ParseMap(importer.ULBReadingsMap)
	if err != nil {
		b.Fatal(err)
	}
	var rs []sensor.Reading
	opts := importer.Options{Map: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	_, err = importer.ImportFile("../../shared/data/sensors/ulb-library1/R1.txt", opts, func(r sensor.Reading) error {
		rs = append(rs, r)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

// BenchmarkSegment encodes and decodes R1's readings in segments of 1000,
// and reports the encoded size per reading.
func BenchmarkSegment(b *testing.B) {
	rs := loadR1(b)
	const size = 1000
	var segments [][]byte
	total := 0
	for i := 0; i < len(rs); i += size {
		seg, err := sensor.EncodeSegment(rs[i:min(i+size, len(rs))])
		if err != nil {
			b.Fatal(err)
		}
		segments = append(segments, seg)
		total += len(seg)
	}

	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(total))
		for b.Loop() {
			for i := 0; i < len(rs); i += size {
				if _, err := sensor.EncodeSegment(rs[i:min(i+size, len(rs))]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(rs))*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
		b.ReportMetric(float64(total)/float64(len(rs)), "bytes/reading")
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(total))
		for b.Loop() {
			for _, seg := range segments {
				if _, err := sensor.DecodeSegment(seg); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(rs))*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	})
}
