package importer

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/sensor"
)

func TestNumberParser(t *testing.T) {
	cases := []struct {
		cell    string
		decimal byte
		want    float64
		integer bool
		ok      bool
	}{
		{"21,21", ',', 21.21, false, true},
		{"21.21", '.', 21.21, false, true},
		{"3", ',', 3, true, true},
		{"-200", '.', -200, true, true},
		{"-200.0", '.', -200, false, true},
		{"+3.5", '.', 3.5, false, true},
		{".5", '.', 0.5, false, true},
		{"5.", '.', 5, false, true},
		{"1e3", '.', 1000, false, true},
		{"2.5E-2", '.', 0.025, false, true},
		{"1 000", '.', 1000, true, true},
		{"1\xa0000", ',', 1000, true, true},
		{"1\u00a0595", ',', 1595, true, true},
		{"12\u202f345,5", ',', 12345.5, false, true},
		{"1\u2009000\u2009000", '.', 1e6, true, true},
		{"1,234.5", '.', 1234.5, false, true},
		{"1.234,5", ',', 1234.5, false, true},
		{"-1 234 567", '.', -1234567, true, true},
		{"12,34", '.', 0, false, false},
		{"1 00", '.', 0, false, false},
		{"1234 567", '.', 0, false, false},
		{"1 000 00", '.', 0, false, false},
		{" 1", '.', 0, false, false},
		{"1,5", '.', 0, false, false},
		{"1e", '.', 0, false, false},
		{"1e999", '.', 0, false, false},
		{"Inf", '.', 0, false, false},
		{"NaN", '.', 0, false, false},
		{"0x10", '.', 0, false, false},
		{"1_000", '.', 0, false, false},
		{"", '.', 0, false, false},
		{"-", '.', 0, false, false},
		{".", '.', 0, false, false},
		{"2004-03-10", '.', 0, false, false},
		{"18.00.00", '.', 0, false, false},
		{"18.00.00", ',', 0, false, false},
		{"10/03/2004", ',', 0, false, false},
		{"1\xc2", '.', 0, false, false},
	}
	for _, c := range cases {
		p := numberParser{decimal: c.decimal}
		v, integer, ok := p.parse([]byte(c.cell))
		if ok != c.ok || (ok && (v != c.want || integer != c.integer)) {
			t.Errorf("parse(%q, %q) = %v, %v, %v; want %v, %v, %v", c.cell, c.decimal, v, integer, ok, c.want, c.integer, c.ok)
		}
	}
}

func TestTimeCells(t *testing.T) {
	utc := func(y int, m time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, m, d, h, mi, s, ns, time.UTC)
	}
	cases := []struct {
		cell string
		kind timeKind
		want time.Time
	}{
		{"1163438041250", timeUnixMS, time.UnixMilli(1163438041250).UTC()},
		{"1163438041", timeUnixS, time.Unix(1163438041, 0).UTC()},
		{"1163438041.25", timeUnixS, time.Unix(1163438041, 250e6).UTC()},
		{"1163438041250123", timeUnixUS, time.UnixMicro(1163438041250123).UTC()},
		{"1163438041250123456", timeUnixNS, time.Unix(0, 1163438041250123456).UTC()},
		{"2004-03-10 18:00:00", timeDateTime, utc(2004, 3, 10, 18, 0, 0, 0)},
		{"2004-03-10T18:00:00Z", timeDateTime, utc(2004, 3, 10, 18, 0, 0, 0)},
		{"2004-03-31 03:38:15.757551", timeDateTime, utc(2004, 3, 31, 3, 38, 15, 757551000)},
		{"2004-03-10T18:00:00.5+01:00", timeDateTime, utc(2004, 3, 10, 17, 0, 0, 5e8)},
		{"2004-03-10T18:00-0230", timeDateTime, utc(2004, 3, 10, 20, 30, 0, 0)},
		{"10/03/2004 18.00.00", timeDateTime, utc(2004, 3, 10, 18, 0, 0, 0)},
		{"10.03.2004  18:00", timeDateTime, utc(2004, 3, 10, 18, 0, 0, 0)},
		{"2004-03-10 18:00:00,123", timeDateTime, utc(2004, 3, 10, 18, 0, 0, 123e6)},
		{"2004-03-10 18:00:00.1234567891", timeDateTime, utc(2004, 3, 10, 18, 0, 0, 123456789)},
	}
	p := rowParser{zone: time.UTC, layout: &Layout{DateOrder: DayFirst}}
	for _, c := range cases {
		if k := timeKindOf([]byte(c.cell)); !c.kind.epoch() && k != c.kind {
			t.Errorf("timeKindOf(%q) = %s, want %s", c.cell, k, c.kind)
		}
		got, err := p.timeCell([]byte(c.cell), c.kind)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("timeCell(%q, %s) = %s, %v; want %s", c.cell, c.kind, got, err, c.want)
		}
	}
	for _, cell := range []string{"2004-13-10 18:00:00", "2004-02-30 00:00:00", "2004-03-10 24:00:00",
		"2004-03-10 18:60:00", "2004-03-10", "18:00:00", "2004-03-10 18:00:00+25:00", "2004-03-10 18:00:00 CET",
		"04-03-10 18:00:00", "2004-03-10T", "2004-03-10 18.00"} {
		if _, err := p.timeCell([]byte(cell), timeDateTime); err == nil {
			t.Errorf("timeCell(%q) accepted an invalid date-time", cell)
		}
	}
	for _, cell := range []string{"", "-", "12a", "99999999999999999999", "1.2.3"} {
		if _, err := p.timeCell([]byte(cell), timeUnixMS); err == nil {
			t.Errorf("timeCell(%q, unix_ms) accepted an invalid epoch", cell)
		}
	}
	if k := timeKindOf([]byte("18.00")); k != timeNone {
		t.Errorf("18.00 read as %s: it is a decimal number", k)
	}
}

func TestEpochRanges(t *testing.T) {
	cases := map[int64]timeKind{
		946684799: timeNone, 946684800: timeUnixS, 4102444799: timeUnixS, 4102444800: timeNone,
		1163438041250: timeUnixMS, 1163438041250123: timeUnixUS, 1163438041250123456: timeUnixNS,
		20: timeNone, 406: timeNone, 99999999999: timeNone,
	}
	for n, want := range cases {
		if got := epochKind(n); got != want {
			t.Errorf("epochKind(%d) = %s, want %s", n, got, want)
		}
	}
}

func lines(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, l := range s {
		out[i] = []byte(l)
	}
	return out
}

func TestDetectDelimiter(t *testing.T) {
	cases := []struct {
		name  string
		lines [][]byte
		want  Delimiter
	}{
		{"ulb", lines("1163438041250 20 1 21,21 2,81 51,53 22,08 20 28", "1163438041468 10 1 20,07 3 51,46 22,3 2 2"), Whitespace},
		{"ulb, same commas per line", lines("1163438041250 20 1 21,21 2,81 51,53 22,08 20 28", "1163438041468 10 1 20,07 3,1 51,46 22,3 2 2"), Whitespace},
		{"csv", lines("Date,Time,CO(GT)", "2004-03-10,18:00:00,2.6"), Comma},
		{"csv with spaces in cells", lines("time,place,note", "2004-03-10 18:00,north hall,door open"), Comma},
		{"semicolon decimal comma", lines("Date;Time;CO(GT);T;;", "10/03/2004;18.00.00;2,6;13,6;;", "10/03/2004;19.00.00;2;13,3;;"), Semicolon},
		{"tab", lines("a\tb c\td", "1\t2 3\t4"), Tab},
		{"pipe", lines("a|b", "1|2"), Pipe},
		{"quoted commas", lines(`t,"x, y"`, `1,"2,3"`), Comma},
	}
	for _, c := range cases {
		got, err := detectDelimiter(c.lines, DefaultMaxColumns)
		if err != nil || got != c.want {
			t.Errorf("%s: detectDelimiter = %s, %v; want %s", c.name, got, err, c.want)
		}
	}
	if _, err := detectDelimiter(lines("one", "two"), DefaultMaxColumns); err == nil {
		t.Error("detectDelimiter found a delimiter in single-cell lines")
	}
}

func rows(s ...string) [][][]byte {
	var out [][][]byte
	sp := splitter{delim: Semicolon, maxColumns: DefaultMaxColumns}
	for _, l := range s {
		cells, _ := sp.split([]byte(l))
		out = append(out, cloneCells(cells))
	}
	return out
}

func TestDetectDecimal(t *testing.T) {
	cases := []struct {
		name  string
		rows  [][][]byte
		delim Delimiter
		want  byte
	}{
		{"decimal comma", rows("21,21;3;51,53"), Semicolon, ','},
		{"decimal point", rows("21.21;3;51.53"), Semicolon, '.'},
		{"both: point wins", rows("21,21;3.5"), Semicolon, '.'},
		{"thousands with semicolon", rows("1,234;5"), Semicolon, ','},
		{"thousands with whitespace", rows("1,234;5"), Whitespace, '.'},
		{"comma-separated file", rows("21,21"), Comma, '.'},
		{"dates are not decimals", rows("10.03.2004;18.00.00;2,6"), Semicolon, ','},
		{"exponent", rows("1.5e3;2"), Semicolon, '.'},
		{"integers only", rows("1;2;3"), Semicolon, '.'},
	}
	for _, c := range cases {
		if got, _ := detectDecimal(c.rows, c.delim); got != c.want {
			t.Errorf("%s: detectDecimal = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLooksLikeHeader(t *testing.T) {
	cases := []struct {
		name string
		rows [][][]byte
		want bool
	}{
		{"names over numbers", rows("moteid;x;y", "1;21,5;23", "2;24,5;20"), true},
		{"numbers", rows("1;21,5;23", "2;24,5;20"), false},
		{"names over dates", rows("Date;Time", "10/03/2004;18.00.00"), true},
		{"a number in the first row", rows("id;2004", "a;1"), false},
		{"a time in the first row", rows("10/03/2004;x", "11/03/2004;y"), false},
		{"text table with names", rows("name;colour", "fig;green", "plum;purple"), true},
		{"text table, value repeats", rows("fig;green", "fig;purple"), false},
		{"alone", rows("date;time;value"), true},
		{"empty cells", rows(";;"), false},
	}
	for _, c := range cases {
		if got := looksLikeHeader(c.rows[0], c.rows[1:], ','); got != c.want {
			t.Errorf("%s: looksLikeHeader = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDetectSentinels(t *testing.T) {
	stats := func(decimal byte, values ...string) columnStats {
		var r [][][]byte
		for _, v := range values {
			r = append(r, [][]byte{[]byte(v)})
		}
		return collectStats(r, 1, decimal, newMissingSet(DefaultMissing))[0]
	}
	cases := []struct {
		name    string
		columns []columnStats
		want    []float64
	}{
		{"below non-negative values", []columnStats{stats('.', "2.6", "-200", "1.1", "0")}, []float64{-200}},
		{"far below a spread", []columnStats{stats('.', "-1.9", "13.6", "-200.0", "44.6")}, []float64{-200}},
		{"a column of sentinels", []columnStats{stats('.', "-200", "-200")}, []float64{-200}},
		{"inside the range", []columnStats{stats('.', "-250", "-200", "-150")}, nil},
		{"close below a wide spread", []columnStats{stats('.', "-150", "-200", "100")}, nil},
		{"one column vetoes", []columnStats{stats('.', "5", "-200"), stats('.', "-300", "-200", "-100")}, nil},
		{"-9999", []columnStats{stats('.', "-9999", "12.5", "13")}, []float64{-9999}},
		{"not a candidate", []columnStats{stats('.', "-300", "5", "6")}, nil},
	}
	for _, c := range cases {
		numeric := make([]bool, len(c.columns))
		for i := range numeric {
			numeric[i] = true
		}
		if got := detectSentinels(c.columns, numeric); !slices.Equal(got, c.want) {
			t.Errorf("%s: detectSentinels = %v, want %v", c.name, got, c.want)
		}
	}
}

// detect runs detection on a file given as text.
func detect(t *testing.T, text string, opts Options) (*Layout, error) {
	t.Helper()
	opts.Logger = quiet
	rd, err := NewReader(strings.NewReader(text), "test.csv", opts)
	if err != nil {
		return nil, err
	}
	return rd.Layout(), nil
}

func TestDetectDateOrder(t *testing.T) {
	cases := []struct {
		name  string
		dates []string
		want  DateOrder
		note  bool
	}{
		{"day above 12", []string{"10/03/2004", "13/03/2004"}, DayFirst, false},
		{"month first", []string{"03/10/2004", "03/13/2004"}, MonthFirst, true},
		{"ambiguous", []string{"01/02/2004", "03/04/2004"}, DayFirst, true},
		{"iso", []string{"2004-03-10", "2004-03-13"}, DayFirst, false},
	}
	for _, c := range cases {
		text := "date,value\n"
		for i, d := range c.dates {
			text += fmt.Sprintf("%s,%d\n", d, i)
		}
		l, err := detect(t, text, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if l.DateOrder != c.want || (len(l.Notes) > 1) != c.note {
			t.Errorf("%s: date order %v, notes %q; want %v, a note %v", c.name, l.DateOrder, l.Notes, c.want, c.note)
		}
	}
}

func TestDetectRolesByHeader(t *testing.T) {
	text := "Timestamp;Node ID;Latitude;Longitude;Temp °C;Status;Extra\n" +
		"2024-05-01T10:00:00Z;a1;35,68;139,76;21,5;ok;\n" +
		"2024-05-01T10:01:00Z;a2;35,69;139,77;21,7;ok;\n"
	l, err := detect(t, text, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Role{RoleTime, RoleSource, RoleLat, RoleLon, RoleField, RoleField, RoleField}
	for j, c := range l.Columns {
		if c.Role != want[j] {
			t.Errorf("column %d (%q) is %s, want %s", j, c.Header, c.Role, want[j])
		}
	}
	if l.Columns[4].Name != "Temp °C" || l.Columns[4].Kind != "number" || l.Columns[5].Kind != "text" || l.Columns[6].Kind != "any" {
		t.Errorf("fields %v %v %v", l.Columns[4], l.Columns[5], l.Columns[6])
	}

	var got []sensor.Reading
	_, err = Import(strings.NewReader(text), "test.csv", Options{Logger: quiet}, func(r sensor.Reading) error {
		got = append(got, r)
		return nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("Import: %d readings, %v", len(got), err)
	}
	if l := got[1].Location; l == nil || l.Kind != sensor.Geo || l.Lat != 35.69 || l.Lon != 139.77 {
		t.Errorf("location %+v, want geo 35.69, 139.77", got[1].Location)
	}
	if got[0].Source != "a1" {
		t.Errorf("source %q, want a1", got[0].Source)
	}
}

func TestLatin1Text(t *testing.T) {
	text := "time;temp\xb0C;place\n1163438041250;21,5;caf\xe9\n1163438041251;21,6;caf\xe9\n"
	var got []sensor.Reading
	s, err := Import(strings.NewReader(text), "latin1.txt", Options{Logger: quiet}, func(r sensor.Reading) error {
		got = append(got, r)
		return nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("Import: %d readings, %v, %v", len(got), err, s.Rejections)
	}
	if got[0].Fields[0].Name != "temp°C" {
		t.Errorf("field name %q, want temp°C", got[0].Fields[0].Name)
	}
	if v, _ := got[0].Get("place"); !v.Equal(sensor.Text("café")) {
		t.Errorf("place = %v, want café", v)
	}
}

func TestParseMap(t *testing.T) {
	cases := []struct {
		spec string
		want Map
	}{
		{"time=0,source=1,temp=2", Map{Columns: []MapEntry{
			{Role: RoleTime, Column: 0}, {Role: RoleSource, Column: 1}, {Role: RoleField, Column: 2, Name: "temp"}}}},
		{" date = Date , time=Time:iso ", Map{Columns: []MapEntry{
			{Role: RoleDate, Column: -1, Header: "Date"}, {Role: RoleTime, Column: -1, Header: "Time", Format: "iso"}}}},
		{"time=0:unix_ms,source=@lab-3", Map{Columns: []MapEntry{{Role: RoleTime, Column: 0, Format: "unix_ms"}}, Source: "lab-3"}},
		{"field=5,ignore=6-8", Map{Columns: []MapEntry{
			{Role: RoleField, Column: 5}, {Role: RoleIgnore, Column: 6}, {Role: RoleIgnore, Column: 7}, {Role: RoleIgnore, Column: 8}}}},
		{"X=3,y=4,LAT=5", Map{Columns: []MapEntry{{Role: RoleX, Column: 3}, {Role: RoleY, Column: 4}, {Role: RoleLat, Column: 5}}}},
		{"date=0:dmy,", Map{Columns: []MapEntry{{Role: RoleDate, Column: 0, Format: "dmy"}}}},
		{"", Map{}},
	}
	for _, c := range cases {
		got, err := ParseMap(c.spec)
		if err != nil {
			t.Errorf("ParseMap(%q): %v", c.spec, err)
			continue
		}
		if !slices.Equal(got.Columns, c.want.Columns) || got.Source != c.want.Source {
			t.Errorf("ParseMap(%q) = %+v, want %+v", c.spec, got, c.want)
		}
		again, err := ParseMap(got.String())
		if err != nil || !slices.Equal(again.Columns, got.Columns) || again.Source != got.Source {
			t.Errorf("ParseMap(%q) does not read back its String %q: %+v, %v", c.spec, got.String(), again, err)
		}
	}
	for _, spec := range []string{"time", "=3", "time=", "time=0:bogus", "temp=0:unix_ms", "lat=1-3", "source=@",
		"time=-1", "ignore=5-2", "date=0:unix_s"} {
		if _, err := ParseMap(spec); !errors.Is(err, ErrMap) {
			t.Errorf("ParseMap(%q) = %v, want ErrMap", spec, err)
		}
	}
}

func TestMapApplied(t *testing.T) {
	text := "Date;Time;T;RH\n10/03/2004;18.00.00;13,6;48,9\n10/03/2004;19.00.00;13,3;47,7\n"
	cases := []struct {
		spec string
		err  error
		want string
	}{
		{"date=Date,time=time,temp=T,ignore=3", nil, ""},
		{"date=0:mdy,time=1", nil, ""},
		{"time=0:unix_ms", nil, ""},
		{"time=9", ErrLayout, "column 9, but the file has 4 columns"},
		{"time=Zeit", ErrLayout, `"Zeit", but the header has no such cell`},
		{"time=0,temp=0", ErrMap, "column 0 is mapped twice"},
		{"time=2", ErrLayout, `cells (such as "13,6") are not times`},
		{"date=0,time=1,x=2", ErrMap, "both lat and lon, or both x and y"},
		{"date=0,time=1,source=@a,source=2", ErrMap, "also names a source column"},
		{"source=@bad\tid", ErrMap, "fixed source id"},
	}
	for _, c := range cases {
		m, err := ParseMap(c.spec)
		if err != nil {
			t.Fatalf("ParseMap(%q): %v", c.spec, err)
		}
		l, err := detect(t, text, Options{Map: m})
		if !errors.Is(err, c.err) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("map %q: %v, want %v saying %q", c.spec, err, c.err, c.want)
			continue
		}
		if c.spec == "date=Date,time=time,temp=T,ignore=3" && (l.Columns[2].Name != "temp" || l.Columns[3].Role != RoleIgnore) {
			t.Errorf("map %q gave %v", c.spec, l.Columns)
		}
		if c.spec == "date=0:mdy,time=1" && l.DateOrder != MonthFirst {
			t.Errorf("map %q gave date order %v", c.spec, l.DateOrder)
		}
	}
}

func TestLayoutMapReadsBack(t *testing.T) {
	l, err := detect(t, "1163438041250 20 1 21,21\n1163438041468 10 1 20,07\n1163438041470 10 1 20,07\n1163438041471 10 1 20,07\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	spec := l.Map().String()
	if spec != "time=0:unix_ms,source=1,col2=2,col3=3" {
		t.Fatalf("Layout.Map() = %q", spec)
	}
	m, err := ParseMap(spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := detect(t, "1163438041250 20 1 21,21\n", Options{Map: m})
	if err != nil || again.String() == "" || again.Columns[1].Role != RoleSource {
		t.Fatalf("layout from its own map: %v, %v", again, err)
	}
}

func TestMergeGroups(t *testing.T) {
	split := func(s string) [][]byte { return lines(strings.Fields(s)...) }
	cases := []struct {
		cells   string
		want    int
		grouped []bool
		integer []bool
		out     string
		ok      bool
	}{
		{"t 20 1 000 21,21", 4, nil, nil, "t 20 1000 21,21", true},
		{"t 20 1 000 346 364", 5, nil, nil, "t 20 1000 346 364", true},
		{"t 20 1 234 346 364", 5, []bool{false, false, true}, nil, "t 20 1234 346 364", true},
		{"t 20 1 234 346 364", 5, nil, []bool{false, true, true, false, false}, "t 20 1234 346 364", true},
		{"t 20 1 234 346 364", 5, nil, nil, "", false},
		{"t 1 000 2 000", 3, nil, nil, "t 1000 2000", true},
		{"t 20 1 000", 2, nil, nil, "", false},
		{"t 20 0 000", 3, nil, nil, "", false},
		{"t 20 1 000,5", 3, nil, nil, "t 20 1000,5", true},
	}
	for _, c := range cases {
		got, ok := mergeGroups(split(c.cells), c.want, ',', c.grouped, c.integer)
		if ok != c.ok || (ok && string(joinCells(got)) != c.out) {
			t.Errorf("mergeGroups(%q, %d) = %q, %v; want %q, %v", c.cells, c.want, joinCells(got), ok, c.out, c.ok)
		}
	}
}

func joinCells(cells [][]byte) []byte {
	var out []byte
	for i, c := range cells {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, c...)
	}
	return out
}

func TestSplitter(t *testing.T) {
	cases := []struct {
		delim Delimiter
		line  string
		want  []string
		err   error
	}{
		{Comma, "a,b,c", []string{"a", "b", "c"}, nil},
		{Comma, " a , b ,c ", []string{"a", "b", "c"}, nil},
		{Comma, "a,,", []string{"a", "", ""}, nil},
		{Comma, `"a,b", "c""d" ,e`, []string{"a,b", `c"d`, "e"}, nil},
		{Comma, `"",x`, []string{"", "x"}, nil},
		{Comma, `"a`, nil, errQuote},
		{Comma, `"a"b,c`, nil, errQuote},
		{Tab, "a\t b\t", []string{"a", "b", ""}, nil},
		{Whitespace, "  a \t b  ", []string{"a", "b"}, nil},
		{Whitespace, "1\xa0000 x", []string{"1\xa0000", "x"}, nil},
		{Comma, strings.Repeat(",", 5), nil, errColumns},
	}
	for _, c := range cases {
		s := splitter{delim: c.delim, maxColumns: 5}
		got, err := s.split([]byte(c.line))
		if !errors.Is(err, c.err) {
			t.Errorf("split(%q) error %v, want %v", c.line, err, c.err)
			continue
		}
		var strs []string
		for _, g := range got {
			strs = append(strs, string(g))
		}
		if err == nil && !slices.Equal(strs, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.line, strs, c.want)
		}
	}
}

// A date-time column alone, epoch seconds with fractions and zone offsets.
func TestOtherTimeLayouts(t *testing.T) {
	cases := []struct {
		name string
		text string
		want []time.Time
	}{
		{"intel lab style", "2004-03-31 03:38:15.757551 2 1 122.153 -3.91901 11.04 2.03397\n" +
			"2004-02-28 00:59:16.02785 3 1 19.9884 37.0933 45.08 2.69964\n",
			[]time.Time{time.Date(2004, 3, 31, 3, 38, 15, 757551000, time.UTC), time.Date(2004, 2, 28, 0, 59, 16, 27850000, time.UTC)}},
		{"epoch seconds", "ts,v\n1163438041.5,1\n1163438042.25,2\n",
			[]time.Time{time.Unix(1163438041, 5e8).UTC(), time.Unix(1163438042, 25e7).UTC()}},
		{"zoned", "when,v\n2024-05-01T10:00:00+09:00,1\n2024-05-01T10:00:00Z,2\n",
			[]time.Time{time.Date(2024, 5, 1, 1, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}},
		{"date only", "day,v\n2024-05-01,1\n2024-05-02,2\n",
			[]time.Time{time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)}},
	}
	for _, c := range cases {
		var got []time.Time
		_, err := Import(strings.NewReader(c.text), "t.txt", Options{Logger: quiet}, func(r sensor.Reading) error {
			got = append(got, r.Time)
			return nil
		})
		if err != nil || !slices.EqualFunc(got, c.want, time.Time.Equal) {
			t.Errorf("%s: times %v, %v; want %v", c.name, got, err, c.want)
		}
	}

	// Times without an offset are in Options.TimeZone.
	zone := time.FixedZone("CET", 3600)
	var got time.Time
	Import(strings.NewReader("when,v\n2024-05-01 10:00,1\n"), "t.txt", Options{Logger: quiet, TimeZone: zone}, func(r sensor.Reading) error {
		got = r.Time
		return nil
	})
	if want := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("zoned time %s, want %s in UTC", got, want)
	}
}

func TestMissingOptions(t *testing.T) {
	text := "t,a,b\n1163438041250,-999,x\n1163438041251,5,MISSING\n1163438041252,n/a,7\n"
	cases := []struct {
		name string
		opts Options
		a    []string
	}{
		{"defaults detect -999", Options{}, []string{"missing", "5", "missing"}},
		{"keep sentinels", Options{KeepSentinels: true}, []string{"-999", "5", "missing"}},
		// With "n/a" no longer missing, column a is text, and "-999" is still
		// missing because it equals a marker's number.
		{"own markers", Options{Missing: []string{"MISSING", "-999.0"}, KeepSentinels: true}, []string{"missing", `"5"`, `"n/a"`}},
	}
	for _, c := range cases {
		var got []string
		c.opts.Logger = quiet
		Import(strings.NewReader(text), "t.csv", c.opts, func(r sensor.Reading) error {
			v, _ := r.Get("a")
			got = append(got, v.String())
			return nil
		})
		if !slices.Equal(got, c.a) {
			t.Errorf("%s: column a = %q, want %q", c.name, got, c.a)
		}
	}
}

// genReader produces a CSV of n rows without holding it in memory.
type genReader struct {
	n, row int
	buf    []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.row == g.n {
			return 0, io.EOF
		}
		if g.row == 0 {
			g.buf = append(g.buf, "time,node,temp,humidity\n"...)
		}
		g.buf = fmt.Appendf(g.buf, "%d,n%d,%d.%02d,%d.5\n", int64(1163438041250)+int64(g.row)*1000, g.row%50, 15+g.row%10, g.row%100, 40+g.row%20)
		g.row++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// TestStreamingMemory imports about 17 MB and checks that the live heap
// never holds a large part of it: the importer keeps one line and the
// sample.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 17 MB")
	}
	const rows = 600_000
	var peak uint64
	count := 0
	s, err := Import(&genReader{n: rows}, "gen.csv", Options{Logger: quiet}, func(r sensor.Reading) error {
		count++
		if count%50_000 == 0 {
			peak = max(peak, liveHeap())
		}
		return nil
	})
	if err != nil || count != rows || s.Rejected != 0 {
		t.Fatalf("Import: %d readings, %d rejected, %v", count, s.Rejected, err)
	}
	if s.Bytes < 16<<20 {
		t.Fatalf("generated only %d bytes", s.Bytes)
	}
	// Keeping the input, or the readings, would need well over 16 MB.
	if peak > 8<<20 {
		t.Fatalf("live heap reached %d MB while importing %d MB", peak>>20, s.Bytes>>20)
	}
	t.Logf("live heap at most %d KB while importing %d MB", peak>>10, s.Bytes>>20)
}

// A line of 20 MB is rejected without being held: the import allocates far
// less than the line.
func TestLongLineNotHeld(t *testing.T) {
	text := io.MultiReader(
		strings.NewReader("time,v\n1163438041250,1\n1163438041251,2\n"),
		strings.NewReader(strings.Repeat("9", 20<<20)),
		strings.NewReader("\n1163438041252,3\n"),
	)
	before := totalAlloc()
	var n int
	s, err := Import(text, "long.csv", Options{Logger: quiet}, func(sensor.Reading) error { n++; return nil })
	allocated := totalAlloc() - before
	if err != nil || n != 3 || s.Rejected != 1 || s.Rejections[0].Line != 4 || s.Rejections[0].Reason != ReasonLineTooLong {
		t.Fatalf("Import: %d readings, rejections %v, %v", n, s.Rejections, err)
	}
	if allocated > 8<<20 {
		t.Fatalf("import allocated %d MB for a 20 MB line", allocated>>20)
	}
}

func TestFixedSourceAndFileName(t *testing.T) {
	text := "time,v\n1163438041250,1.5\n"
	cases := []struct {
		file, spec, want string
	}{
		{"/data/AirQualityUCI.csv", "", "AirQualityUCI"},
		{"noext", "", "noext"},
		{".hidden", "", ".hidden"},
		{"x.csv", "source=@lab-3", "lab-3"},
	}
	for _, c := range cases {
		m, _ := ParseMap(c.spec)
		var got string
		_, err := Import(strings.NewReader(text), c.file, Options{Map: m, Logger: quiet}, func(r sensor.Reading) error {
			got = r.Source
			return nil
		})
		if err != nil || got != c.want {
			t.Errorf("file %q map %q: source %q, %v; want %q", c.file, c.spec, got, err, c.want)
		}
	}
}

func TestNumbersNotFinite(t *testing.T) {
	p := numberParser{decimal: '.'}
	for _, cell := range []string{"1e309", "-1e309"} {
		if v, _, ok := p.parse([]byte(cell)); ok || math.IsInf(v, 0) {
			t.Errorf("parse(%q) = %v, %v: want rejected", cell, v, ok)
		}
	}
}

// A file of many blank lines before its data does not make the sample grow
// with it: detection gives up after a bounded number of lines.
func TestSampleBounded(t *testing.T) {
	text := strings.Repeat("\n", 100_000) + "1163438041250,1\n1163438041251,2\n"
	_, err := Import(strings.NewReader(text), "blank.csv", Options{Logger: quiet}, func(sensor.Reading) error { return nil })
	if !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "the first 8000 lines are blank") {
		t.Fatalf("Import = %v, want detection to give up after 8000 blank lines", err)
	}
	var got int
	_, err = Import(strings.NewReader(text), "blank.csv", Options{Logger: quiet, SampleRows: 20_000}, func(sensor.Reading) error { got++; return nil })
	if err != nil || got != 2 {
		t.Fatalf("with a larger sample: %d readings, %v", got, err)
	}
}

func TestMappedMillisRejectsSeconds(t *testing.T) {
	m, err := ParseMap("time=0:unix_ms,source=1,t=2")
	if err != nil {
		t.Fatal(err)
	}
	text := "1163438041 20 21.5\n1163438101 20 21.6\n1163438161000 20 21.7\n"
	var got []sensor.Reading
	s, err := Import(strings.NewReader(text), "secs.txt", Options{Logger: quiet, Map: m}, func(r sensor.Reading) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || s.Rejected != 2 {
		t.Fatalf("imported %d readings and rejected %d, want the millisecond row alone and 2 rejected", len(got), s.Rejected)
	}
	if d := s.Rejections[0].Detail; !strings.Contains(d, "looks like epoch seconds") || !strings.Contains(d, "unix_s") {
		t.Errorf("rejection %q, want one saying the values look like seconds and naming unix_s", d)
	}
}
