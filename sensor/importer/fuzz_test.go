package importer

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/yuinet/yui/sensor"
)

// FuzzImport feeds the importer arbitrary bytes under small limits. It must
// return readings that pass Validate, a summary whose counts add up and
// rejections that name real lines, or an error from the package's list,
// and never panic. The limits keep memory bounded: one line of at most
// 256 bytes and a sample of at most 2 KiB.
func FuzzImport(f *testing.F) {
	seeds := []string{
		"1163438041250 20 1 21,21 2,81 51,53 22,08 20 28\r\n1163438041468 10 1 20,07 3 51,46 22,3 2 2\r\n",
		"1163497985546 20 1\xa0000 21,21 2,68\n1163497985781 10 1 000 19,97 2,81\n",
		"Date,Time,CO(GT),T\r\n2004-03-10,18:00:00,2.6,13.6\r\n2004-03-10,19:00:00,-200,-200.0\r\n",
		"Date;Time;CO(GT);T;;\n10/03/2004;18.00.00;2,6;13,6;;\n;;;;;\n",
		"\xef\xbb\xbfmoteid x_location y_location\n1 21.5 23\n2 24.5 20\n",
		"time,node,v\n\"2024-01-01T00:00:00Z\",\"a\"\"b\",1e3\n2024-01-01T00:01:00+09:00,c,\n",
		"",
		"\x00\x01\x02",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		opts := Options{
			Strict:       strict,
			MaxLineBytes: 256,
			MaxColumns:   32,
			SampleBytes:  2048,
			SampleRows:   64,
			Logger:       quiet,
		}
		readings := 0
		s, err := Import(bytes.NewReader(data), "fuzz.txt", opts, func(r sensor.Reading) error {
			readings++
			if err := r.Validate(); err != nil {
				t.Fatalf("importer produced an invalid reading: %v", err)
			}
			return nil
		})
		if err != nil && !knownError(err) {
			t.Fatalf("Import returned an unexpected error: %v", err)
		}
		if err != nil && s.Layout == nil {
			return
		}
		if readings != s.Readings || s.Rows != s.Readings+s.Rejected {
			t.Fatalf("counts do not add up: %d emitted, summary %+v", readings, s)
		}
		for _, e := range s.Rejections {
			if e.Line < 1 || e.Line > s.Lines {
				t.Fatalf("rejection names line %d of %d", e.Line, s.Lines)
			}
		}
		if s.Bytes > int64(len(data)) {
			t.Fatalf("read %d bytes of %d", s.Bytes, len(data))
		}
	})
}

func knownError(err error) bool {
	for _, known := range []error{ErrEmpty, ErrBinary, ErrNoData, ErrLayout, ErrMap, ErrRejected} {
		if errors.Is(err, known) {
			return true
		}
	}
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// FuzzParseMap checks that ParseMap either fails with ErrMap or returns a
// map whose String form parses back to the same map.
func FuzzParseMap(f *testing.F) {
	for _, s := range []string{ULBReadingsMap, ULBLinksMap, "date=Date,time=Time:iso,source=@lab-3,ignore=6-8", "x=1,y=2", "=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		m, err := ParseMap(spec)
		if err != nil {
			if !errors.Is(err, ErrMap) {
				t.Fatalf("ParseMap(%q) = %v, want ErrMap", spec, err)
			}
			return
		}
		again, err := ParseMap(m.String())
		if err != nil {
			t.Fatalf("ParseMap(%q).String() = %q does not parse: %v", spec, m.String(), err)
		}
		if again.String() != m.String() {
			t.Fatalf("map %q reads back as %q", m.String(), again.String())
		}
	})
}
