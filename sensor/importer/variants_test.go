package importer

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuinet/yui/sensor"
)

// The tests in this file rewrite the public datasets in other shapes under
// t.TempDir(): other line ends, a byte order mark, cut-off ends, the
// original UCI layout. They check that the importer reads each the same
// way or fails with a clear error.

func readData(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(dataPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func toLF(b []byte) []byte   { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
func toCRLF(b []byte) []byte { return bytes.ReplaceAll(toLF(b), []byte("\n"), []byte("\r\n")) }

// sameReadings fails unless got and want hold equal readings in order.
func sameReadings(t *testing.T, got, want []sensor.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d readings, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Equal(&want[i]) {
			t.Fatalf("reading %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestLineEndsAndBOM(t *testing.T) {
	for _, rel := range []string{"ulb-library1/R1.txt", "ulb-library1/R3.txt", "air-quality/AirQualityUCI.csv"} {
		want, ws := importAll(t, dataPath(t, rel), Options{})
		raw := readData(t, rel)
		variants := map[string][]byte{
			"LF":        toLF(raw),
			"CRLF":      toCRLF(raw),
			"BOM":       append([]byte("\xef\xbb\xbf"), raw...),
			"BOM LF":    append([]byte("\xef\xbb\xbf"), toLF(raw)...),
			"no end":    bytes.TrimRight(raw, "\r\n"),
			"two blank": append(toCRLF(raw), "\r\n\r\n"...),
		}
		for name, b := range variants {
			t.Run(rel+" "+name, func(t *testing.T) {
				got, s := importAll(t, writeTemp(t, filepath.Base(rel), b), Options{})
				sameReadings(t, got, want)
				if s.Rejected != 0 {
					t.Fatalf("%d rows rejected: %v", s.Rejected, s.Rejections)
				}
				if s.Layout.HeaderLine != ws.Layout.HeaderLine {
					t.Errorf("header line %d, want %d", s.Layout.HeaderLine, ws.Layout.HeaderLine)
				}
				if s.Layout.HeaderLine > 0 && s.Layout.Columns[0].Header != "Date" {
					t.Errorf("first header cell %q, want Date: the byte order mark leaked into it", s.Layout.Columns[0].Header)
				}
				if s.Bytes != int64(len(b)) {
					t.Errorf("read %d bytes of %d", s.Bytes, len(b))
				}
			})
		}
	}
}

// A file cut inside its last line loses that row, reported as truncated
// with its line number. A cut that leaves a row that still parses (inside
// the last number) cannot be detected and gives a reading.
func TestTruncatedLastLine(t *testing.T) {
	raw := toLF(readData(t, "ulb-library1/R1.txt"))
	lastStart := bytes.LastIndexByte(raw[:len(raw)-1], '\n') + 1
	last := string(raw[lastStart:]) // "1163462348593 8 406 18,32 2,68 49,82 20,91 1 1\n"
	want, _ := importAll(t, dataPath(t, "ulb-library1/R1.txt"), Options{})

	cases := []struct {
		name     string
		keep     int // bytes kept of the last line
		readings int
		rejected bool
	}{
		{"inside the time", 7, 7562, true},
		{"after a separator", len("1163462348593 8 406 "), 7562, true},
		{"inside a decimal", len("1163462348593 8 406 18,"), 7562, true},
		{"before the last cell", len(last) - 3, 7562, true},
		{"after the last cell", len(last) - 1, 7563, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := raw[:lastStart+c.keep]
			got, s := importAll(t, writeTemp(t, "R1.txt", b), Options{})
			if len(got) != c.readings {
				t.Fatalf("%d readings, want %d", len(got), c.readings)
			}
			sameReadings(t, got[:7562], want[:7562])
			if !c.rejected {
				if s.Rejected != 0 {
					t.Fatalf("rejected %v", s.Rejections)
				}
				return
			}
			if s.Rejected != 1 || len(s.Rejections) != 1 {
				t.Fatalf("%d rejected, want 1", s.Rejected)
			}
			e := s.Rejections[0]
			if e.Line != 7563 || e.Reason != ReasonTruncated || !strings.Contains(e.Error(), "R1.txt:7563: truncated last line") {
				t.Fatalf("rejection %q (line %d, %s), want line 7563 truncated", e.Error(), e.Line, e.Reason)
			}
		})
	}
}

// A cut inside the last number of the air quality file leaves a row that
// parses, with a shorter number.
func TestTruncatedInsideNumber(t *testing.T) {
	raw := readData(t, "air-quality/AirQualityUCI.csv")
	cut := bytes.TrimSuffix(raw, []byte("37058276918\r\n")) // "...,0.50280"
	got, s := importAll(t, writeTemp(t, "AirQualityUCI.csv", cut), Options{})
	if len(got) != 9357 || s.Rejected != 0 {
		t.Fatalf("%d readings, %d rejected: want 9357 and 0", len(got), s.Rejected)
	}
	if v := num(t, got[9356], "AH"); v != 0.5028 {
		t.Fatalf("AH of the cut last row = %v, want 0.5028", v)
	}
}

func TestBinaryFilesRejected(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(readData(t, "ulb-library1/R1.txt"))
	w.Close()
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	controls := bytes.Repeat([]byte("\x01\x02\x03abc\x1b\n"), 100)
	utf16 := []byte("\xff\xfeD\x00a\x00t\x00e\x00")

	cases := map[string]struct {
		data []byte
		want string
	}{
		"gzip":          {gz.Bytes(), "NUL byte at offset"},
		"random":        {random, "NUL byte at offset"},
		"png header":    {[]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "NUL byte at offset 8 (line 3)"},
		"control bytes": {controls, "control characters"},
		"UTF-16":        {utf16, "UTF-16"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeTemp(t, "data.bin", c.data)
			_, err := ImportFile(p, Options{Logger: quiet}, func(sensor.Reading) error { return nil })
			if !errors.Is(err, ErrBinary) {
				t.Fatalf("ImportFile = %v, want ErrBinary", err)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q should name the file and say %q", err, c.want)
			}
		})
	}
}

func TestEmptyAndHeaderOnlyFiles(t *testing.T) {
	header := "Date,Time,CO(GT),PT08.S1(CO),NMHC(GT),C6H6(GT),PT08.S2(NMHC),NOx(GT),PT08.S3(NOx),NO2(GT),PT08.S4(NO2),PT08.S5(O3),T,RH,AH\r\n"
	cases := []struct {
		name string
		data string
		err  error
		want string
	}{
		{"empty", "", ErrEmpty, "has no bytes"},
		{"blank lines", "\r\n  \n\t\n", ErrEmpty, "only blank or comment lines (3)"},
		{"BOM only", "\xef\xbb\xbf", ErrEmpty, "only blank"},
		{"header only", header, ErrNoData, "AirQualityUCI.csv:1: the file has a header and no data rows"},
		{"header and blanks", "\n" + header + "\n\n", ErrNoData, "AirQualityUCI.csv:2:"},
		{"header without end", strings.TrimSpace(header), ErrNoData, ":1:"},
		{"one text line", "hello world\n", ErrNoData, ":1: the file has a header"},
		{"text only", "name,colour\nfig,green\nplum,purple\n", ErrLayout, "no time column found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, "AirQualityUCI.csv", []byte(c.data))
			_, err := ImportFile(p, Options{Logger: quiet}, func(sensor.Reading) error { return nil })
			if !errors.Is(err, c.err) {
				t.Fatalf("ImportFile = %v, want %v", err, c.err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "AirQualityUCI.csv") {
				t.Fatalf("error %q should name the file and say %q", err, c.want)
			}
		})
	}
}

// toUCIOriginal rewrites the CSV in the layout UCI publishes: semicolons,
// decimal commas, dates as 10/03/2004, times as 18.00.00, -200 for missing
// values, two empty columns at the end of every line, and 114 lines of
// only semicolons after the data.
func toUCIOriginal(csv []byte) []byte {
	var b bytes.Buffer
	lines := strings.Split(strings.TrimRight(string(csv), "\r\n"), "\r\n")
	for i, line := range lines {
		cells := strings.Split(line, ",")
		if i > 0 {
			y, m, d := cells[0][0:4], cells[0][5:7], cells[0][8:10]
			cells[0] = d + "/" + m + "/" + y
			cells[1] = strings.ReplaceAll(cells[1], ":", ".")
			for j := 2; j < len(cells); j++ {
				if cells[j] == "-200.0" {
					cells[j] = "-200"
				}
				cells[j] = strings.ReplaceAll(cells[j], ".", ",")
			}
		}
		b.WriteString(strings.Join(cells, ";") + ";;\r\n")
	}
	for range 114 {
		b.WriteString(strings.Repeat(";", 16) + "\r\n")
	}
	return b.Bytes()
}

func TestAirQualityOriginalLayout(t *testing.T) {
	want, _ := importAll(t, dataPath(t, "air-quality/AirQualityUCI.csv"), Options{})
	orig := toUCIOriginal(readData(t, "air-quality/AirQualityUCI.csv"))
	if !bytes.Contains(orig, []byte("\r\n10/03/2004;18.00.00;2,6;1360,0;150;11,881723488680304;")) {
		t.Fatalf("rewrite is not in the original layout: %q", orig[:300])
	}
	got, s := importAll(t, writeTemp(t, "AirQualityUCI.csv", orig), Options{})
	sameReadings(t, got, want)

	l := s.Layout
	if l.Delimiter != Semicolon || l.Decimal != ',' || l.HeaderLine != 1 || len(l.Columns) != 17 {
		t.Fatalf("layout %v", l)
	}
	if l.Columns[0].Role != RoleDate || l.Columns[1].Role != RoleTime || l.Columns[1].Kind != "time of day" {
		t.Errorf("date and time columns %v %v", l.Columns[0], l.Columns[1])
	}
	if l.Columns[15].Role != RoleIgnore || l.Columns[16].Role != RoleIgnore {
		t.Errorf("trailing empty columns %v %v, want ignored", l.Columns[15], l.Columns[16])
	}
	if s.BlankLines != 114 || s.Rejected != 0 || s.Rows != 9357 {
		t.Errorf("%d blank lines, %d rejected, %d rows: want 114, 0, 9357", s.BlankLines, s.Rejected, s.Rows)
	}

	// Tab-separated, with the CSV's ISO dates.
	tsv := bytes.ReplaceAll(readData(t, "air-quality/AirQualityUCI.csv"), []byte(","), []byte("\t"))
	got, s = importAll(t, writeTemp(t, "AirQualityUCI.tsv", tsv), Options{})
	sameReadings(t, got, want)
	if s.Layout.Delimiter != Tab {
		t.Errorf("delimiter %s, want tab", s.Layout.Delimiter)
	}
}

// The ULB dataset's description writes sequence numbers above 999 as
// "1 000". The files use a no-break space, but an ASCII space must work
// too, both when every row has such a number and when the file crosses 999.
func TestDigitGroupsSplitBySpace(t *testing.T) {
	r2 := toLF(readData(t, "ulb-library1/R2.txt"))
	r3 := toLF(readData(t, "ulb-library1/R3.txt"))
	ascii := bytes.ReplaceAll(r3, []byte{0xa0}, []byte(" "))
	want3, _ := importAll(t, dataPath(t, "ulb-library1/R3.txt"), Options{})
	want2, _ := importAll(t, dataPath(t, "ulb-library1/R2.txt"), Options{})

	t.Run("every row", func(t *testing.T) {
		got, s := importAll(t, writeTemp(t, "R3.txt", ascii), Options{})
		sameReadings(t, got, want3)
		if !s.Layout.Columns[2].grouped || len(s.Layout.Columns) != 9 {
			t.Fatalf("layout %v: want 9 columns, column 2 grouped", s.Layout)
		}
	})

	tail := func(b []byte, n int) []byte {
		lines := bytes.SplitAfter(bytes.TrimRight(b, "\n"), []byte("\n"))
		return bytes.Join(lines[len(lines)-n:], nil)
	}
	head := func(b []byte, n int) []byte {
		return bytes.Join(bytes.SplitAfter(b, []byte("\n"))[:n], nil)
	}
	for _, mix := range [][2]int{{300, 2000}, {900, 500}} {
		t.Run(fmt.Sprintf("%d rows below 1000 then %d above", mix[0], mix[1]), func(t *testing.T) {
			b := append(append(tail(r2, mix[0]), '\n'), head(ascii, mix[1])...)
			got, s := importAll(t, writeTemp(t, "mixed.txt", b), Options{})
			if s.Rejected != 0 {
				t.Fatalf("%d rejected: %v", s.Rejected, s.Rejections[:min(3, len(s.Rejections))])
			}
			sameReadings(t, got[:mix[0]], want2[len(want2)-mix[0]:])
			sameReadings(t, got[mix[0]:], want3[:mix[1]])
		})
	}
}

// badRowsFile is R1's first 50 lines with faults at known lines.
func badRowsFile(t *testing.T) ([]byte, map[int]Reason) {
	lines := strings.Split(string(toLF(readData(t, "ulb-library1/R1.txt"))), "\n")[:50]
	faults := map[int]Reason{
		10: ReasonColumns,     // a cell short
		20: ReasonNumber,      // a letter in a number
		30: ReasonTime,        // a letter in the time
		35: ReasonBinary,      // a NUL byte
		40: ReasonLineTooLong, // 100 KB
		45: ReasonColumns,     // a cell too many
		51: ReasonTruncated,   // cut off at the end of the file
	}
	lines[9] = "1163438043250 20 2 21,21 2,81 51,53 22,08 20"
	lines[19] = "1163438045250 20 3 21,x1 2,81 51,53 22,08 20 28"
	lines[29] = "11634380472x0 20 4 21,21 2,81 51,53 22,08 20 28"
	lines[34] = "1163438048250 20 5 21,21 2,81 51,53 22,08 20 28\x00"
	lines[39] = strings.Repeat("1", 100_000)
	lines[44] = "1163438049250 20 6 21,21 2,81 51,53 22,08 20 28 99"
	return []byte(strings.Join(lines, "\n") + "\n1163438051250 20 7 21,2"), faults
}

func TestRejectedRowsReported(t *testing.T) {
	data, faults := badRowsFile(t)
	p := writeTemp(t, "bad.txt", data)
	var reported []*RowError
	got, s := importAll(t, p, Options{OnReject: func(e *RowError) { reported = append(reported, e) }})

	if len(got) != 50-6 || s.Readings != 44 || s.Rejected != 7 || s.Rows != 51 {
		t.Fatalf("%d readings, %d rejected, %d rows: want 44, 7, 51", len(got), s.Rejected, s.Rows)
	}
	if len(reported) != 7 || len(s.Rejections) != 7 {
		t.Fatalf("%d rows reported, %d kept, want 7", len(reported), len(s.Rejections))
	}
	for i, e := range reported {
		if want, ok := faults[e.Line]; !ok || e.Reason != want {
			t.Errorf("line %d rejected as %s (%s), want %v", e.Line, e.Reason, e.Detail, want)
		}
		if e.File != p || s.Rejections[i].Line != e.Line {
			t.Errorf("rejection %d names %s line %d", i, e.File, e.Line)
		}
	}
	if e := reported[1]; e.Column != 3 || !strings.Contains(e.Detail, `"21,x1"`) {
		t.Errorf("number rejection %q should name column 3 and the cell", e.Error())
	}
	if s.ByReason[ReasonColumns] != 2 || s.ByReason[ReasonTruncated] != 1 {
		t.Errorf("by reason %v", s.ByReason)
	}
}

func TestStrictStopsAtFirstRejection(t *testing.T) {
	data, _ := badRowsFile(t)
	p := writeTemp(t, "bad.txt", data)
	n := 0
	s, err := ImportFile(p, Options{Strict: true, Logger: quiet}, func(sensor.Reading) error { n++; return nil })
	var e *RowError
	if !errors.As(err, &e) || !errors.Is(err, ErrRejected) {
		t.Fatalf("ImportFile = %v, want a *RowError", err)
	}
	if e.Line != 10 || !strings.HasPrefix(err.Error(), p+":10: wrong number of cells: 8 cells, want 9") {
		t.Fatalf("error %q, want line 10", err)
	}
	if n != 9 || s.Readings != 9 || s.Rejected != 1 {
		t.Fatalf("%d readings emitted, summary %d and %d rejected: want 9 and 1", n, s.Readings, s.Rejected)
	}
}

func TestCSVRowFaults(t *testing.T) {
	var b strings.Builder
	b.WriteString("time,node,temp,status\n")
	for i := range 40 {
		fmt.Fprintf(&b, "2024-01-01T00:%02d:00Z,n%d,%d.5,ok\n", i, i%3, i)
	}
	b.WriteString(`2024-01-01T01:00:00Z,a,"2.5","a ""quoted"" word"` + "\n") // line 42: fine
	b.WriteString(`2024-01-01T01:01:00Z,a,3.5,"unclosed` + "\n")             // 43
	b.WriteString("2024-01-01T01:02:00Z,,4.5,ok\n")                          // 44: empty source
	b.WriteString("2024-01-01T01:03:00Z,a,1e999,ok\n")                       // 45: not finite
	b.WriteString("2024-13-01T01:04:00Z,a,5,ok\n")                           // 46: month 13
	b.WriteString("2024-01-01T01:05:00+01:00,a,NaN,\n")                      // 47: fine, both missing
	b.WriteString("1850-01-01T01:06:00Z,a,6,ok\n")                           // 48: fine
	b.WriteString("1492-01-01T01:06:00Z,a,6,ok\n")                           // 49: before MinTime
	b.WriteString("2024-01-01T01:07:00Z,a,7,ok,,\n")                         // 50: fine, empty extra cells
	b.WriteString("2024-01-01T01:08:00Z,a,8\n")                              // 51: a cell short
	b.WriteString("2024-01-01T01:09:00Z,a,9," + strings.Repeat("x", 300) + "\n")
	got, s := importAll(t, writeTemp(t, "faults.csv", []byte(b.String())), Options{})

	want := map[int]Reason{43: ReasonQuote, 44: ReasonSource, 45: ReasonNumber, 46: ReasonTime, 49: ReasonTime, 51: ReasonColumns, 52: ReasonText}
	if s.Rejected != len(want) {
		t.Fatalf("%d rejected, want %d: %v", s.Rejected, len(want), s.Rejections)
	}
	for _, e := range s.Rejections {
		if want[e.Line] != e.Reason {
			t.Errorf("line %d rejected as %s (%s), want %v", e.Line, e.Reason, e.Detail, want[e.Line])
		}
	}
	if len(got) != 44 {
		t.Fatalf("%d readings, want 44", len(got))
	}
	if v, _ := got[40].Get("status"); !v.Equal(sensor.Text(`a "quoted" word`)) {
		t.Errorf("quoted cell = %v", v)
	}
	r := got[41]
	if v, _ := r.Get("temp"); !v.IsMissing() {
		t.Errorf("NaN read as %v, want missing", v)
	}
	if v, _ := r.Get("status"); !v.IsMissing() {
		t.Errorf("empty cell read as %v, want missing", v)
	}
	if r.Time.Hour() != 0 || r.Time.Minute() != 5 {
		t.Errorf("time with +01:00 offset read as %s, want 00:05 UTC", r.Time)
	}
}

func TestProgressReportsBytes(t *testing.T) {
	path := dataPath(t, "ulb-library1/R2.txt")
	fi, _ := os.Stat(path)
	var calls []int64
	importAll(t, path, Options{Progress: func(n int64) { calls = append(calls, n) }})
	if len(calls) < int(fi.Size()/progressStep) {
		t.Fatalf("%d progress calls for %d bytes, want at least one per %d", len(calls), fi.Size(), progressStep)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] <= calls[i-1] {
			t.Fatalf("progress went from %d to %d", calls[i-1], calls[i])
		}
	}
	if calls[len(calls)-1] != fi.Size() {
		t.Fatalf("last progress %d, want the file size %d", calls[len(calls)-1], fi.Size())
	}
}
