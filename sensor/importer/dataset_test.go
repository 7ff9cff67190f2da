package importer

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/sensor"
)

// dataDir is the folder of public sensor datasets beside the repository.
const dataDir = "../../../shared/data/sensors"

func dataPath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(dataDir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("dataset missing: %v (the tests expect the data folder next to the repository)", err)
	}
	return p
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// importAll imports a file and returns every reading with the summary.
func importAll(t testing.TB, path string, opts Options) ([]sensor.Reading, Summary) {
	t.Helper()
	opts.Logger = quiet
	var got []sensor.Reading
	s, err := ImportFile(path, opts, func(r sensor.Reading) error {
		if err := r.Validate(); err != nil {
			t.Fatalf("importer produced an invalid reading: %v", err)
		}
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("ImportFile(%s): %v", path, err)
	}
	return got, s
}

// countContentLines counts the lines holding anything but spaces, tabs
// and carriage returns. It shares no code with the importer, so the tests
// check the importer's counts against an independent one.
func countContentLines(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.Trim(line, " \t\r")) > 0 {
			n++
		}
	}
	return n
}

func num(t testing.TB, r sensor.Reading, field string) float64 {
	t.Helper()
	v, ok := r.Get(field)
	if !ok {
		t.Fatalf("reading of %s at %s has no field %q", r.Source, r.Time, field)
	}
	f, ok := v.Number()
	if !ok {
		t.Fatalf("field %q of %s at %s is %v, not a number", field, r.Source, r.Time, v)
	}
	return f
}

func checkReading(t testing.TB, what string, r sensor.Reading, source string, ms int64, fields map[string]float64) {
	t.Helper()
	if r.Source != source {
		t.Errorf("%s: source %q, want %q", what, r.Source, source)
	}
	if want := time.UnixMilli(ms).UTC(); !r.Time.Equal(want) {
		t.Errorf("%s: time %s, want %s", what, r.Time, want)
	}
	for name, want := range fields {
		if got := num(t, r, name); got != want {
			t.Errorf("%s: %s = %v, want %v", what, name, got, want)
		}
	}
}

// The ULB files have no header and no malformed rows: every line with
// content is a reading. Their line counts, from `wc -l` plus one for an
// unterminated last line, less blank lines:
//
//	R1.txt   7563 lines, all readings
//	R2.txt  11111 lines, the last of them blank ("\r\n"), so 11110
//	R3.txt  11028 line ends plus an unterminated last line, so 11029
func TestImportULBReadings(t *testing.T) {
	cases := []struct {
		file          string
		readings      int
		blank         int
		first, last   []any // source, epoch ms, seq, internal_temp, humidity, tsr
		firstLastLine int
	}{
		{"R1.txt", 7563, 0,
			[]any{"20", int64(1163438041250), 1.0, 21.21, 51.53, 28.0},
			[]any{"8", int64(1163462348593), 406.0, 18.32, 49.82, 1.0}, 7563},
		{"R2.txt", 11110, 1,
			[]any{"20", int64(1163462403453), 407.0, 19.97, 51.98, 1.0},
			[]any{"17", int64(1163497927750), 999.0, 19.97, 51.11, 54.0}, 11110},
		// R3's sequence numbers are 1000 and up, written "1\xa0000" with a
		// Latin-1 no-break space, and its last line has no line end.
		{"R3.txt", 11029, 0,
			[]any{"20", int64(1163497985546), 1000.0, 21.21, 52.11, 42.0},
			[]any{"8", int64(1163533702640), 1595.0, 19.25, 51.93, 1.0}, 11029},
	}
	m, err := ParseMap(ULBReadingsMap)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := dataPath(t, filepath.Join("ulb-library1", c.file))
			if n := countContentLines(t, path); n != c.readings {
				t.Fatalf("independent count of %s is %d lines, the test expects %d", c.file, n, c.readings)
			}
			got, s := importAll(t, path, Options{Map: m})
			if len(got) != c.readings || s.Readings != c.readings || s.Rows != c.readings {
				t.Fatalf("%d readings (summary %d, rows %d), want %d", len(got), s.Readings, s.Rows, c.readings)
			}
			if s.Rejected != 0 || len(s.Rejections) != 0 {
				t.Fatalf("%d rows rejected, want none: %v", s.Rejected, s.Rejections)
			}
			if s.BlankLines != c.blank || s.HeaderLines != 0 {
				t.Errorf("blank lines %d, header lines %d, want %d and 0", s.BlankLines, s.HeaderLines, c.blank)
			}
			for i, want := range [][]any{c.first, c.last} {
				r := got[[]int{0, len(got) - 1}[i]]
				checkReading(t, []string{"first", "last"}[i], r, want[0].(string), want[1].(int64), map[string]float64{
					"seq": want[2].(float64), "internal_temp": want[3].(float64),
					"humidity": want[4].(float64), "tsr": want[5].(float64),
				})
			}
			if len(got[0].Fields) != 7 || got[0].Fields[0].Name != "seq" || got[0].Fields[6].Name != "tsr" {
				t.Errorf("fields %v, want seq to tsr", got[0].Fields)
			}
			if fi, err := os.Stat(path); err != nil || s.Bytes != fi.Size() {
				t.Errorf("summary read %d bytes, the file has %v", s.Bytes, fi.Size())
			}
		})
	}
}

// TestImportULBDetected imports R1 and R3 with no options at all and checks
// that detection finds what ULBReadingsMap states.
func TestImportULBDetected(t *testing.T) {
	for _, file := range []string{"R1.txt", "R3.txt"} {
		path := dataPath(t, filepath.Join("ulb-library1", file))
		m, _ := ParseMap(ULBReadingsMap)
		want, _ := importAll(t, path, Options{Map: m})
		got, s := importAll(t, path, Options{})

		l := s.Layout
		if l.Delimiter != Whitespace || l.HeaderLine != 0 || l.Decimal != ',' {
			t.Fatalf("%s: layout %v", file, l)
		}
		roles := []Role{RoleTime, RoleSource, RoleField, RoleField, RoleField, RoleField, RoleField, RoleField, RoleField}
		for j, c := range l.Columns {
			if c.Role != roles[j] {
				t.Errorf("%s: column %d is %s, want %s", file, j, c.Role, roles[j])
			}
		}
		if l.Columns[0].Kind != "unix_ms" {
			t.Errorf("%s: time column is %s, want unix_ms", file, l.Columns[0].Kind)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d readings detected, %d mapped", file, len(got), len(want))
		}
		for i := range got {
			if got[i].Source != want[i].Source || !got[i].Time.Equal(want[i].Time) {
				t.Fatalf("%s: reading %d is %s at %s, mapped %s at %s", file, i, got[i].Source, got[i].Time, want[i].Source, want[i].Time)
			}
			for k, f := range got[i].Fields {
				if !f.Value.Equal(want[i].Fields[k].Value) {
					t.Fatalf("%s: reading %d field %d = %v, mapped %v", file, i, k, f.Value, want[i].Fields[k].Value)
				}
			}
		}
		if got[0].Fields[0].Name != "col2" {
			t.Errorf("%s: first field named %q, want col2", file, got[0].Fields[0].Name)
		}
	}
}

// AirQualityUCI.csv has a header and 9357 data rows, one per hour from
// 2004-03-10 18:00 to 2005-04-04 14:00 (9357 hours), and no malformed
// rows. Missing values are written -200 or -200.0.
func TestImportAirQuality(t *testing.T) {
	path := dataPath(t, "air-quality/AirQualityUCI.csv")
	const rows = 9357
	if n := countContentLines(t, path) - 1; n != rows {
		t.Fatalf("independent count is %d data lines, the test expects %d", n, rows)
	}
	got, s := importAll(t, path, Options{})
	if len(got) != rows || s.Rows != rows || s.Rejected != 0 || s.HeaderLines != 1 {
		t.Fatalf("%d readings, %d rows, %d rejected, %d header lines: want %d, %d, 0, 1", len(got), s.Rows, s.Rejected, s.HeaderLines, rows, rows)
	}
	start := time.Date(2004, 3, 10, 18, 0, 0, 0, time.UTC)
	if got[rows-1].Time.Sub(start) != (rows-1)*time.Hour {
		t.Errorf("last reading at %s, want %d hours after %s", got[rows-1].Time, rows-1, start)
	}
	if got[0].Source != "AirQualityUCI" || len(got[0].Fields) != 13 {
		t.Errorf("first reading: source %q, %d fields, want AirQualityUCI and 13", got[0].Source, len(got[0].Fields))
	}

	want := map[string]float64{"CO(GT)": 2.6, "PT08.S1(CO)": 1360, "NMHC(GT)": 150, "C6H6(GT)": 11.881723488680304, "T": 13.599999904633, "AH": 0.7577538251293606}
	checkReading(t, "line 2", got[0], "AirQualityUCI", start.UnixMilli(), want)

	// Line 8532 has a real negative temperature, which must not be missing.
	checkReading(t, "line 8532", got[8530], "AirQualityUCI", time.Date(2005, 3, 1, 4, 0, 0, 0, time.UTC).UnixMilli(),
		map[string]float64{"T": -0.050000000745058, "CO(GT)": 0.2})

	// Line 12 writes a missing CO(GT) as -200.0; the last line a missing
	// NMHC(GT) as -200; line 1827 has every value missing.
	for _, c := range []struct {
		index int
		field string
	}{{10, "CO(GT)"}, {rows - 1, "NMHC(GT)"}, {1825, "AH"}, {1825, "CO(GT)"}} {
		if v, _ := got[c.index].Get(c.field); !v.IsMissing() {
			t.Errorf("line %d: %s = %v, want missing", c.index+2, c.field, v)
		}
	}
	if v := num(t, got[10], "NMHC(GT)"); v != 14 {
		t.Errorf("line 12: NMHC(GT) = %v, want 14", v)
	}

	// An independent count of the cells holding -200 or -200.0.
	raw, _ := os.ReadFile(path)
	sentinels := 0
	for _, line := range bytes.Split(raw, []byte("\n")) {
		for _, c := range bytes.Split(bytes.TrimSpace(line), []byte(",")) {
			if string(c) == "-200" || string(c) == "-200.0" {
				sentinels++
			}
		}
	}
	missing := 0
	for _, r := range got {
		for _, f := range r.Fields {
			if f.Value.IsMissing() {
				missing++
			}
		}
	}
	if missing != s.MissingValues {
		t.Errorf("readings hold %d missing values, summary says %d", missing, s.MissingValues)
	}
	if missing != sentinels || missing != 16701 {
		t.Errorf("%d missing values, want 16701 (8443 cells of -200 and 8258 of -200.0), independent count %d", missing, sentinels)
	}
}

// mote_locs.txt has a header and 54 motes.
func TestLoadIntelLabLocations(t *testing.T) {
	path := dataPath(t, "intel-lab/mote_locs.txt")
	locs, s, err := LoadLocationsFile(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if n := countContentLines(t, path) - 1; len(locs) != n || n != 54 {
		t.Fatalf("%d locations, independent count %d, want 54", len(locs), n)
	}
	if s.Rejected != 0 || s.HeaderLines != 1 {
		t.Errorf("%d rejected, %d header lines", s.Rejected, s.HeaderLines)
	}
	for id, want := range map[string][2]float64{"1": {21.5, 23}, "23": {6, 24}, "54": {26.5, 2}} {
		l, ok := locs[id]
		if !ok || l.Kind != sensor.Plane || l.X != want[0] || l.Y != want[1] {
			t.Errorf("mote %s at %+v, want plane %v", id, l, want)
		}
	}
}

// The locations attach to readings by source id.
func TestLocationsAttachToReadings(t *testing.T) {
	locs, _, err := LoadLocationsFile(dataPath(t, "intel-lab/mote_locs.txt"), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParseMap(ULBReadingsMap)
	got, _ := importAll(t, dataPath(t, "ulb-library1/R1.txt"), Options{Map: m, Locations: locs})
	for _, r := range got[:50] {
		want := locs[r.Source]
		if r.Location == nil || *r.Location != want {
			t.Fatalf("reading of %s at %v, want %v", r.Source, r.Location, want)
		}
	}
}

// N1.txt holds link measurements, 127903 lines with no header and no
// malformed rows; its node id is column 3, so it needs ULBLinksMap.
func TestImportULBLinks(t *testing.T) {
	path := dataPath(t, "ulb-library1/N1.txt")
	m, err := ParseMap(ULBLinksMap)
	if err != nil {
		t.Fatal(err)
	}
	got, s := importAll(t, path, Options{Map: m})
	if n := countContentLines(t, path); len(got) != n || n != 127903 || s.Rejected != 0 {
		t.Fatalf("%d readings, %d rejected, independent count %d, want 127903", len(got), s.Rejected, n)
	}
	// First line: 1163438002000 0 0 16 13 8 234.
	checkReading(t, "first", got[0], "16", 1163438002000, map[string]float64{"neighbour": 13, "lqi_raw": 8, "rssi": 234})
}
