package sensor

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestDecodeJSONExample(t *testing.T) {
	in := `{"source":"R1-12","time":"2011-03-04T10:00:00Z",
		"fields":{"temperature":21.2,"status":"ok","humidity":null},
		"location":{"lat":50.8,"lon":4.4}}`
	got, err := DecodeJSON([]byte(in), JSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Reading{
		Source: "R1-12",
		Time:   time.Date(2011, 3, 4, 10, 0, 0, 0, time.UTC),
		Fields: []Field{
			{Name: "temperature", Value: Number(21.2)},
			{Name: "status", Value: Text("ok")},
			{Name: "humidity", Value: Missing()},
		},
		Location: GeoPoint(50.8, 4.4),
	}
	if !got.Equal(&want) {
		t.Fatalf("DecodeJSON = %+v, want %+v", got, want)
	}
}

func TestDecodeJSONTimes(t *testing.T) {
	cases := map[string]time.Time{
		`"2011-03-04T11:00:00+01:00"`:      time.Date(2011, 3, 4, 10, 0, 0, 0, time.UTC),
		`"2011-03-04T10:00:00.123456789Z"`: time.Date(2011, 3, 4, 10, 0, 0, 123456789, time.UTC),
		`1299232800000`:                    time.Date(2011, 3, 4, 10, 0, 0, 0, time.UTC),
		`1299232800000.25`:                 time.Date(2011, 3, 4, 10, 0, 0, 250_000, time.UTC),
		`1299232800000.000001`:             time.Date(2011, 3, 4, 10, 0, 0, 1, time.UTC),
		`-1000`:                            time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		`-1000.5`:                          time.Date(1969, 12, 31, 23, 59, 58, 999_500_000, time.UTC),
	}
	for in, want := range cases {
		r, err := DecodeJSON([]byte(`{"source":"s","time":`+in+`}`), JSONOptions{})
		if err != nil {
			t.Errorf("time %s: %v", in, err)
			continue
		}
		if !r.Time.Equal(want) || r.Time.Location() != time.UTC {
			t.Errorf("time %s = %v, want %v in UTC", in, r.Time, want)
		}
	}
}

func TestDecodeJSONDefaults(t *testing.T) {
	arrived := time.Date(2026, 12, 4, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	opts := JSONOptions{Source: "mote-7", Time: arrived}

	r, err := DecodeJSON([]byte(`{"fields":{"t":1}}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "mote-7" {
		t.Errorf("source = %q, want the default mote-7", r.Source)
	}
	if !r.Time.Equal(arrived) || r.Time.Location() != time.UTC {
		t.Errorf("time = %v, want the default %v in UTC", r.Time, arrived)
	}

	r, err = DecodeJSON([]byte(`{"source":"other","time":0}`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "other" || r.Time.UnixNano() != 0 {
		t.Errorf("reading = %q at %v, want its own source and time", r.Source, r.Time)
	}
}

func TestDecodeJSONRequireFields(t *testing.T) {
	opts := JSONOptions{Time: time.Unix(1299232800, 0), RequireFields: true}
	for _, in := range []string{
		`{"source":"bad"}`,
		`{"source":"bad","fields":{}}`,
		`{"source":"bad","time":0,"location":{"lat":50.8,"lon":4.4}}`,
	} {
		_, err := DecodeJSON([]byte(in), opts)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error = %v, want ErrInvalid", in, err)
			continue
		}
		if !strings.Contains(err.Error(), `"bad"`) {
			t.Errorf("%s: error %q does not name the source", in, err)
		}
		if !strings.Contains(err.Error(), "no fields") {
			t.Errorf("%s: error %q does not say the reading has no fields", in, err)
		}
	}

	if _, err := DecodeJSON([]byte(`{"source":"ok","fields":{"t":null}}`), opts); err != nil {
		t.Errorf("reading with a null field: %v, want it accepted", err)
	}
	if _, err := DecodeJSON([]byte(`{"source":"stored","time":0}`), JSONOptions{}); err != nil {
		t.Errorf("reading without fields and RequireFields off: %v, want it accepted", err)
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	cases := []struct {
		name, in string
		want     error
		mention  string
	}{
		{"not JSON", `{"source":`, ErrMalformed, "invalid JSON"},
		{"array", `[1,2]`, ErrMalformed, "an array"},
		{"two values", `{"source":"s","time":0} {}`, ErrMalformed, "more than one"},
		{"unknown key", `{"source":"s","time":0,"temp":1}`, ErrMalformed, `"temp"`},
		{"repeated key", `{"source":"s","source":"t","time":0}`, ErrMalformed, `"source" appears twice`},
		{"repeated field", `{"source":"s","time":0,"fields":{"a":1,"a":2}}`, ErrMalformed, `"a" appears twice`},
		{"no source", `{"time":0}`, ErrInvalid, `no "source"`},
		{"no time", `{"source":"s"}`, ErrInvalid, `no "time"`},
		{"source number", `{"source":12,"time":0}`, ErrMalformed, "number 12"},
		{"empty source", `{"source":"","time":0}`, ErrInvalid, "source id is empty"},
		{"time text", `{"source":"s","time":"yesterday"}`, ErrInvalid, `"yesterday"`},
		{"time bool", `{"source":"s","time":true}`, ErrMalformed, "boolean true"},
		{"time exponent", `{"source":"s","time":1e12}`, ErrInvalid, "1e12"},
		{"time decimals", `{"source":"s","time":1.1234567}`, ErrInvalid, "1.1234567"},
		{"time far", `{"source":"s","time":99999999999999999}`, ErrInvalid, "outside"},
		{"field bool", `{"source":"s","time":0,"fields":{"ok":false}}`, ErrMalformed, `field "ok" is boolean false`},
		{"field nested", `{"source":"s","time":0,"fields":{"v":{"a":1}}}`, ErrMalformed, `field "v" is an object`},
		{"field array", `{"source":"s","time":0,"fields":{"v":[1]}}`, ErrMalformed, `field "v" is an array`},
		{"field huge", `{"source":"s","time":0,"fields":{"v":1e400}}`, ErrInvalid, "1e400"},
		{"fields array", `{"source":"s","time":0,"fields":[]}`, ErrMalformed, "fields is an array"},
		{"field name empty", `{"source":"s","time":0,"fields":{"":1}}`, ErrInvalid, "field name is empty"},
		{"text too long", `{"source":"s","time":0,"fields":{"n":"` + strings.Repeat("x", MaxTextLen+1) + `"}}`, ErrInvalid, "limit"},
		{"location half", `{"source":"s","time":0,"location":{"lat":1}}`, ErrInvalid, "keys lat"},
		{"location mixed", `{"source":"s","time":0,"location":{"lat":1,"lon":2,"x":3,"y":4}}`, ErrInvalid, "lat, lon, x, y"},
		{"location key", `{"source":"s","time":0,"location":{"lat":1,"lng":2}}`, ErrMalformed, `"lng"`},
		{"location text", `{"source":"s","time":0,"location":{"lat":"1","lon":2}}`, ErrMalformed, `location lat is string "1"`},
		{"location range", `{"source":"s","time":0,"location":{"lat":91,"lon":2}}`, ErrInvalid, "lat 91"},
		{"location string", `{"source":"s","time":0,"location":"here"}`, ErrMalformed, `"here"`},
		{"bad UTF-8", "{\"source\":\"\xff\",\"time\":0}", ErrMalformed, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeJSON([]byte(c.in), JSONOptions{})
			if !errors.Is(err, c.want) {
				t.Fatalf("error = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("error %q does not mention %q", err, c.mention)
			}
		})
	}
}

func TestDecodeJSONLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"source":"s","time":0,"fields":{`)
	for i := range MaxFields + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"f` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString(`}}`)
	_, err := DecodeJSON([]byte(b.String()), JSONOptions{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "256 fields") {
		t.Fatalf("%d fields: error = %v, want ErrTooLarge naming the limit", MaxFields+1, err)
	}

	line := `{"source":"s","time":0}`
	_, err = DecodeJSON([]byte(line), JSONOptions{MaxLineBytes: len(line) - 1})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("line over MaxLineBytes: error = %v, want ErrTooLarge", err)
	}
	if _, err := DecodeJSON([]byte(line), JSONOptions{MaxLineBytes: len(line)}); err != nil {
		t.Fatalf("line of exactly MaxLineBytes: %v", err)
	}
}

func TestAppendJSONRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := genReading().Draw(t, "reading")
		b, err := AppendJSON(nil, &r)
		if err != nil {
			t.Fatalf("AppendJSON: %v", err)
		}
		got, err := DecodeJSON(b, JSONOptions{})
		if err != nil {
			t.Fatalf("DecodeJSON(%s): %v", b, err)
		}
		if !got.Equal(&r) {
			t.Fatalf("round trip of %s = %+v, want %+v", b, got, r)
		}
	})
}

func TestAppendJSONEscapes(t *testing.T) {
	r := Reading{
		Source: `mote "7" \ α`,
		Time:   time.Date(2011, 3, 4, 10, 0, 0, 5, time.UTC),
		Fields: []Field{
			{Name: "note", Value: Text("tab\there")},
			{Name: "t", Value: Number(-0.5)},
			{Name: "big", Value: Number(1e21)},
			{Name: "gone", Value: Missing()},
		},
		Location: PlanePoint(12.5, 3),
	}
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"source":"mote \"7\" \\ α","time":"2011-03-04T10:00:00.000000005Z",` +
		`"fields":{"note":"tab\u0009here","t":-0.5,"big":1e+21,"gone":null},"location":{"x":12.5,"y":3}}`
	if string(b) != want {
		t.Fatalf("MarshalJSON =\n%s\nwant\n%s", b, want)
	}

	var back Reading
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(&r) {
		t.Fatalf("UnmarshalJSON = %+v, want %+v", back, r)
	}
}

func TestAppendJSONRejectsInvalid(t *testing.T) {
	r := validReading()
	r.Source = ""
	if _, err := AppendJSON(nil, &r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AppendJSON of an invalid reading = %v, want ErrInvalid", err)
	}
}

func TestJSONReaderLines(t *testing.T) {
	in := strings.Join([]string{
		`{"source":"a","time":1}`,
		``,
		`{"source":"b","time":2,"fields":{"x":true}}`,
		`   `,
		`{"source":"c","time":3}` + "\r",
		`not json`,
		`{"source":"d","time":4}`,
	}, "\n")
	jr := NewJSONReader(strings.NewReader(in), JSONOptions{})

	type result struct {
		source string
		line   int
		bad    bool
	}
	var got []result
	for {
		r, line, err := jr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			if le.Line != line {
				t.Fatalf("LineError.Line = %d, Next returned line %d", le.Line, line)
			}
			got = append(got, result{line: line, bad: true})
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			got = append(got, result{source: r.Source, line: line})
		}
	}
	want := []result{{"a", 1, false}, {"", 3, true}, {"c", 5, false}, {"", 6, true}, {"d", 7, false}}
	if len(got) != len(want) {
		t.Fatalf("results = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestJSONReaderLongLine(t *testing.T) {
	long := `{"source":"` + strings.Repeat("x", 200) + `","time":0}`
	in := `{"source":"a","time":0}` + "\n" + long + "\n" + `{"source":"b","time":0}`
	jr := NewJSONReader(strings.NewReader(in), JSONOptions{MaxLineBytes: 64})

	if r, _, err := jr.Next(); err != nil || r.Source != "a" {
		t.Fatalf("line 1 = %q, %v; want source a", r.Source, err)
	}
	_, line, err := jr.Next()
	if !errors.Is(err, ErrTooLarge) || line != 2 || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("line 2: %v at line %d, want ErrTooLarge naming line 2", err, line)
	}
	if r, line, err := jr.Next(); err != nil || r.Source != "b" || line != 3 {
		t.Fatalf("line 3 = %q at %d, %v; want source b after the long line", r.Source, line, err)
	}
	if _, _, err := jr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: %v, want io.EOF", err)
	}
}

func TestJSONReaderBodyLimit(t *testing.T) {
	line := `{"source":"a","time":0}` + "\n"
	in := strings.Repeat(line, 10)

	jr := NewJSONReader(strings.NewReader(in), JSONOptions{MaxBodyBytes: int64(len(in))})
	n := 0
	for {
		_, _, err := jr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("body of exactly the limit: %v", err)
		}
		n++
	}
	if n != 10 {
		t.Fatalf("read %d readings, want 10", n)
	}

	jr = NewJSONReader(strings.NewReader(in), JSONOptions{MaxBodyBytes: int64(len(in) - 1)})
	var err error
	for err == nil {
		_, _, err = jr.Next()
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("body over the limit: %v, want ErrTooLarge", err)
	}
	if _, _, again := jr.Next(); !errors.Is(again, ErrTooLarge) {
		t.Fatalf("Next after the limit = %v, want the same ErrTooLarge", again)
	}
}

func TestJSONReaderEndlessLine(t *testing.T) {
	// One line far longer than the body limit stops at the limit instead
	// of being read to its end.
	r := &countingReader{r: strings.NewReader(strings.Repeat("x", 10<<20))}
	jr := NewJSONReader(r, JSONOptions{MaxLineBytes: 1024, MaxBodyBytes: 64 << 10})
	var err error
	for err == nil || !errors.Is(err, ErrTooLarge) && !errors.Is(err, io.EOF) {
		_, _, err = jr.Next()
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("endless line: %v, want ErrTooLarge", err)
	}
	if r.n > 1<<20 {
		t.Fatalf("read %d bytes of an endless line, want about the 64 KiB body limit", r.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDecodeJSONRejectEpochSeconds(t *testing.T) {
	opts := JSONOptions{RejectEpochSeconds: true}
	for _, c := range []struct{ in, want string }{
		{`{"source":"s","time":1733390000,"fields":{"t":1}}`, "looks like epoch seconds"},
		{`{"source":"s","time":99999999999.5,"fields":{"t":1}}`, "looks like epoch seconds"},
		{`{"source":"s","time":0,"fields":{"t":1}}`, "within three years of 1970"},
		{`{"source":"s","time":-5,"fields":{"t":1}}`, "within three years of 1970"},
		{`{"source":"s","time":-1733390000,"fields":{"t":1}}`, "within three years of 1970"},
	} {
		_, err := DecodeJSON([]byte(c.in), opts)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error = %v, want ErrInvalid", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say %q", c.in, err, c.want)
		}
	}

	for _, in := range []string{
		`{"source":"s","time":100000000000,"fields":{"t":1}}`,
		`{"source":"s","time":1733390000000,"fields":{"t":1}}`,
		`{"source":"s","time":"1970-01-21T01:29:50Z","fields":{"t":1}}`,
		`{"source":"s","fields":{"t":1}}`,
	} {
		opts := opts
		opts.Time = time.Unix(0, 0)
		if _, err := DecodeJSON([]byte(in), opts); err != nil {
			t.Errorf("%s: %v, want it accepted", in, err)
		}
	}
	if _, err := DecodeJSON([]byte(`{"source":"s","time":1733390000}`), JSONOptions{}); err != nil {
		t.Errorf("small time with RejectEpochSeconds off: %v, want it accepted", err)
	}
}
