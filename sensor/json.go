package sensor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The JSON form of a reading, as HTTP ingest, MQTT and query results use
// it. One reading is one JSON object:
//
//	{"source": "R1-12",
//	 "time": "2011-03-04T10:00:00Z",
//	 "fields": {"temperature": 21.2, "status": "ok", "humidity": null},
//	 "location": {"lat": 50.8, "lon": 4.4}}
//
// "time" is an RFC 3339 string or a number of milliseconds since the Unix
// epoch, such as 1299232800000 or 1299232800000.25. A field value is a
// number, a string or null for a missing value. "location" holds either
// "lat" and "lon" in degrees or "x" and "y" in metres on a site's plan,
// and may be absent or null. Keys are case-sensitive, and an unknown or
// repeated key rejects the reading. Many readings travel as JSON lines:
// one object per line, blank lines ignored.

// Default limits of JSON input. A reading with MaxFields fields, long
// names and long texts encodes to about 90 KiB, but sensors send a few
// fields, so a line of 64 KiB leaves ample room and bounds what one bad
// line costs to read.
const (
	DefaultMaxJSONLine = 64 << 10
	DefaultMaxJSONBody = 32 << 20
)

// JSONOptions control JSON decoding. The zero value applies the default
// limits and requires every reading to carry its source and time.
type JSONOptions struct {
	// Source is the source id of readings that name none, such as the
	// sensor named by an MQTT topic. Empty means "source" is required.
	Source string
	// Time is the time of readings that carry none, such as when they
	// arrived. The zero time means "time" is required.
	Time time.Time
	// MaxLineBytes limits one reading's JSON, in bytes. Zero means
	// DefaultMaxJSONLine.
	MaxLineBytes int
	// MaxBodyBytes limits the whole input of a JSONReader, in bytes. Zero
	// means DefaultMaxJSONBody.
	MaxBodyBytes int64
	// RequireFields rejects a reading without fields, which carries no
	// value. Ingest sets it. Readers of stored readings leave it off, so
	// that readings stored without fields still decode.
	RequireFields bool
	// RejectEpochSeconds rejects a numeric time within secondsAsMillis of
	// the epoch, which is almost always epoch seconds sent as
	// milliseconds: today's time in seconds, read as milliseconds, falls
	// in January 1970. Ingest sets it.
	RejectEpochSeconds bool
}

// secondsAsMillis bounds the numeric times RejectEpochSeconds rejects:
// 10^11 ms is March 1973, and epoch seconds stay below 10^11 until the
// year 5138.
const secondsAsMillis = 100_000_000_000

func (o *JSONOptions) maxLine() int {
	if o.MaxLineBytes <= 0 {
		return DefaultMaxJSONLine
	}
	return o.MaxLineBytes
}

func (o *JSONOptions) maxBody() int64 {
	if o.MaxBodyBytes <= 0 {
		return DefaultMaxJSONBody
	}
	return o.MaxBodyBytes
}

// DecodeJSON decodes one reading from a JSON object and validates it. The
// error wraps ErrTooLarge, ErrMalformed or ErrInvalid and names the value
// at fault.
func DecodeJSON(data []byte, opts JSONOptions) (Reading, error) {
	if len(data) > opts.maxLine() {
		return Reading{}, fmt.Errorf("%w: reading is %d bytes of JSON, limit %d", ErrTooLarge, len(data), opts.maxLine())
	}
	if !utf8.Valid(data) {
		return Reading{}, fmt.Errorf("%w: JSON is not valid UTF-8", ErrMalformed)
	}
	d := jsonDecoder{dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	r, err := d.reading(opts)
	if err != nil {
		return Reading{}, err
	}
	if err := r.Validate(); err != nil {
		return Reading{}, err
	}
	return r, nil
}

// UnmarshalJSON decodes a reading that carries its own source and time,
// with the default limits.
func (r *Reading) UnmarshalJSON(data []byte) error {
	got, err := DecodeJSON(data, JSONOptions{})
	if err != nil {
		return err
	}
	*r = got
	return nil
}

// jsonDecoder walks the tokens of one reading, so that fields keep their
// order and nested values are rejected before they are read.
type jsonDecoder struct {
	dec *json.Decoder
	// rejectSeconds is JSONOptions.RejectEpochSeconds.
	rejectSeconds bool
}

func (d *jsonDecoder) reading(opts JSONOptions) (Reading, error) {
	d.rejectSeconds = opts.RejectEpochSeconds
	if err := d.expectDelim('{', "a reading"); err != nil {
		return Reading{}, err
	}
	var (
		r    Reading
		seen = map[string]bool{}
	)
	for d.dec.More() {
		key, err := d.key(seen, "reading")
		if err != nil {
			return Reading{}, err
		}
		if err := d.member(&r, key); err != nil {
			return Reading{}, err
		}
	}
	if err := d.end(); err != nil {
		return Reading{}, err
	}
	return fillDefaults(r, seen, opts)
}

func (d *jsonDecoder) member(r *Reading, key string) error {
	var err error
	switch key {
	case "source":
		r.Source, err = d.text("source")
	case "time":
		r.Time, err = d.time()
	case "fields":
		r.Fields, err = d.fields()
	case "location":
		r.Location, err = d.location()
	default:
		return fmt.Errorf("%w: unknown key %q in reading: want source, time, fields or location", ErrMalformed, key)
	}
	return err
}

// end consumes the closing brace and checks that nothing but spaces
// follows it.
func (d *jsonDecoder) end() error {
	if _, err := d.dec.Token(); err != nil {
		return malformed(err)
	}
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: more than one JSON value: send one reading per line", ErrMalformed)
	}
	return nil
}

func fillDefaults(r Reading, seen map[string]bool, opts JSONOptions) (Reading, error) {
	if !seen["source"] {
		if opts.Source == "" {
			return Reading{}, fmt.Errorf("%w: reading has no \"source\"", ErrInvalid)
		}
		r.Source = opts.Source
	}
	if !seen["time"] {
		if opts.Time.IsZero() {
			return Reading{}, fmt.Errorf("%w: reading from %q has no \"time\"", ErrInvalid, r.Source)
		}
		r.Time = opts.Time.UTC()
	}
	if opts.RequireFields && len(r.Fields) == 0 {
		return Reading{}, fmt.Errorf("%w: reading from %q at %s has no fields: send its values as \"fields\": {\"NAME\": VALUE}",
			ErrInvalid, r.Source, r.Time.Format(time.RFC3339Nano))
	}
	return r, nil
}

// key reads an object key and rejects a repeated one, which JSON parsers
// resolve in different ways.
func (d *jsonDecoder) key(seen map[string]bool, in string) (string, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return "", malformed(err)
	}
	key := tok.(string) // the decoder returns only string keys inside an object
	if seen[key] {
		return "", fmt.Errorf("%w: key %q appears twice in %s", ErrMalformed, key, in)
	}
	seen[key] = true
	return key, nil
}

func (d *jsonDecoder) expectDelim(want json.Delim, what string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return malformed(err)
	}
	if tok != want {
		return fmt.Errorf("%w: %s is %s, want a JSON object", ErrMalformed, what, describeToken(tok))
	}
	return nil
}

func (d *jsonDecoder) text(what string) (string, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return "", malformed(err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s is %s, want a string", ErrMalformed, what, describeToken(tok))
	}
	return s, nil
}

func (d *jsonDecoder) time() (time.Time, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return time.Time{}, malformed(err)
	}
	switch v := tok.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: time %q is not RFC 3339, such as 2011-03-04T10:00:00Z", ErrInvalid, v)
		}
		return t.UTC(), nil
	case json.Number:
		t, err := parseEpochMillis(string(v))
		if err == nil && d.rejectSeconds && max(t.UnixMilli(), -t.UnixMilli()) < secondsAsMillis {
			return time.Time{}, earlyTimeError(v, t)
		}
		return t, err
	}
	return time.Time{}, fmt.Errorf("%w: time is %s, want an RFC 3339 string or epoch milliseconds", ErrMalformed, describeToken(tok))
}

// earlyTimeError returns the error for a numeric time within
// secondsAsMillis of the epoch. It calls the time epoch seconds only when,
// read as seconds, it is after 1973, because a small or negative number
// is more likely a counter or an offset.
func earlyTimeError(v json.Number, t time.Time) error {
	if ms := t.UnixMilli(); ms >= secondsAsMillis/1000 {
		return fmt.Errorf("%w: time %s ms is %s, which looks like epoch seconds: send epoch milliseconds (seconds × 1000) or an RFC 3339 string",
			ErrInvalid, v, t.Format(time.RFC3339Nano))
	}
	return fmt.Errorf("%w: time %s ms is %s, within three years of 1970: send epoch milliseconds or an RFC 3339 string",
		ErrInvalid, v, t.Format(time.RFC3339Nano))
}

// parseEpochMillis reads milliseconds since the Unix epoch, with up to six
// decimals for sub-millisecond times. It parses the digits exactly, since
// a float64 holds only about a microsecond of precision at today's epochs.
func parseEpochMillis(s string) (time.Time, error) {
	bad := fmt.Errorf("%w: time %s is not whole epoch milliseconds with at most 6 decimals, such as 1299232800000", ErrInvalid, s)
	whole, frac, _ := strings.Cut(s, ".")
	if strings.ContainsAny(s, "eE") || len(frac) > 6 {
		return time.Time{}, bad
	}
	ms, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return time.Time{}, bad
	}
	// Bound ms before scaling it, so the products below cannot overflow.
	if ms < MinTime.UnixMilli() || ms >= MaxTime.UnixMilli() {
		return time.Time{}, fmt.Errorf("%w: time %s ms is outside %d to %d", ErrInvalid, s, MinTime.Year(), MaxTime.Year())
	}
	ns := int64(0)
	if frac != "" {
		ns, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if strings.HasPrefix(whole, "-") {
			ns = -ns
		}
	}
	return time.Unix(0, ms*int64(time.Millisecond)+ns).UTC(), nil
}

func (d *jsonDecoder) fields() ([]Field, error) {
	if err := d.expectDelim('{', "fields"); err != nil {
		return nil, err
	}
	var (
		fields []Field
		seen   = map[string]bool{}
	)
	for d.dec.More() {
		if len(fields) == MaxFields {
			return nil, fmt.Errorf("%w: more than %d fields", ErrTooLarge, MaxFields)
		}
		name, err := d.key(seen, "fields")
		if err != nil {
			return nil, err
		}
		v, err := d.value(name)
		if err != nil {
			return nil, err
		}
		fields = append(fields, Field{Name: name, Value: v})
	}
	if _, err := d.dec.Token(); err != nil {
		return nil, malformed(err)
	}
	return fields, nil
}

func (d *jsonDecoder) value(name string) (Value, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return Value{}, malformed(err)
	}
	switch v := tok.(type) {
	case nil:
		return Missing(), nil
	case string:
		return Text(v), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return Value{}, fmt.Errorf("%w: field %q: number %s is outside the range of a float64", ErrInvalid, name, v)
		}
		return Number(f), nil
	}
	return Value{}, fmt.Errorf("%w: field %q is %s, want a number, a string or null", ErrMalformed, name, describeToken(tok))
}

func (d *jsonDecoder) location() (*Location, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, malformed(err)
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: location is %s, want an object such as {\"lat\": 50.8, \"lon\": 4.4}", ErrMalformed, describeToken(tok))
	}
	coords := map[string]float64{}
	seen := map[string]bool{}
	for d.dec.More() {
		key, err := d.key(seen, "location")
		if err != nil {
			return nil, err
		}
		if err := d.coordinate(coords, key); err != nil {
			return nil, err
		}
	}
	if _, err := d.dec.Token(); err != nil {
		return nil, malformed(err)
	}
	return locationOf(coords, seen)
}

func (d *jsonDecoder) coordinate(coords map[string]float64, key string) error {
	switch key {
	case "lat", "lon", "x", "y":
	default:
		return fmt.Errorf("%w: unknown key %q in location: want lat and lon, or x and y", ErrMalformed, key)
	}
	tok, err := d.dec.Token()
	if err != nil {
		return malformed(err)
	}
	num, ok := tok.(json.Number)
	if !ok {
		return fmt.Errorf("%w: location %s is %s, want a number", ErrMalformed, key, describeToken(tok))
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return fmt.Errorf("%w: location %s %s is outside the range of a float64", ErrInvalid, key, num)
	}
	coords[key] = f
	return nil
}

func locationOf(c map[string]float64, seen map[string]bool) (*Location, error) {
	switch {
	case seen["lat"] && seen["lon"] && !seen["x"] && !seen["y"]:
		return GeoPoint(c["lat"], c["lon"]), nil
	case seen["x"] && seen["y"] && !seen["lat"] && !seen["lon"]:
		return PlanePoint(c["x"], c["y"]), nil
	}
	keys := make([]string, 0, len(seen))
	for _, k := range []string{"lat", "lon", "x", "y"} {
		if seen[k] {
			keys = append(keys, k)
		}
	}
	return nil, fmt.Errorf("%w: location has %s: want exactly lat and lon, or exactly x and y",
		ErrInvalid, describeKeys(keys))
}

func describeKeys(keys []string) string {
	if len(keys) == 0 {
		return "no coordinates"
	}
	return "keys " + strings.Join(keys, ", ")
}

// describeToken names a JSON token for an error message.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case json.Number:
		return "number " + string(v)
	case string:
		return "string " + strconv.Quote(truncate(v, 40))
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	}
	return fmt.Sprintf("%v", tok)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// malformed wraps a syntax error of the JSON decoder.
func malformed(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: invalid JSON: %v", ErrMalformed, err)
}

// AppendJSON appends the JSON object of a valid reading to dst, without a
// line end. Times are written in RFC 3339 with the reading's full
// precision and numbers in the shortest form that reads back the same, so
// DecodeJSON returns a reading Equal to r. It fails with ErrInvalid if r
// does not validate.
func AppendJSON(dst []byte, r *Reading) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return dst, err
	}
	dst = append(dst, `{"source":`...)
	dst = appendJSONString(dst, r.Source)
	dst = append(dst, `,"time":"`...)
	dst = r.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","fields":{`...)
	for i, f := range r.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		dst = appendJSONValue(dst, f.Value)
	}
	dst = append(dst, '}')
	if l := r.Location; l != nil {
		dst = appendJSONLocation(dst, l)
	}
	return append(dst, '}'), nil
}

// MarshalJSON encodes the reading as AppendJSON does.
func (r Reading) MarshalJSON() ([]byte, error) {
	return AppendJSON(nil, &r)
}

func appendJSONValue(dst []byte, v Value) []byte {
	switch v.kind {
	case KindNumber:
		return appendJSONNumber(dst, v.num)
	case KindText:
		return appendJSONString(dst, v.text)
	}
	return append(dst, "null"...)
}

func appendJSONLocation(dst []byte, l *Location) []byte {
	if l.Kind == Geo {
		dst = append(dst, `,"location":{"lat":`...)
		dst = appendJSONNumber(dst, l.Lat)
		dst = append(dst, `,"lon":`...)
		dst = appendJSONNumber(dst, l.Lon)
	} else {
		dst = append(dst, `,"location":{"x":`...)
		dst = appendJSONNumber(dst, l.X)
		dst = append(dst, `,"y":`...)
		dst = appendJSONNumber(dst, l.Y)
	}
	return append(dst, '}')
}

// appendJSONNumber writes a finite float in the shortest form that parses
// back to it; "1e+21" is a valid JSON number. Negative zero is written as
// 0, which Value.Equal treats as equal.
func appendJSONNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendJSONString writes s as a JSON string. Quotes, backslashes and
// control characters are escaped; s is valid UTF-8 because the reading
// validated.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// LineError is a JSON line that did not give a valid reading. The reader
// skips it and goes on.
type LineError struct {
	// Line counts from 1 and includes blank lines.
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the reason, which wraps ErrTooLarge, ErrMalformed or
// ErrInvalid.
func (e *LineError) Unwrap() error { return e.Err }

// JSONReader reads readings from JSON lines, one object per line. It
// holds at most one line in memory. A JSONReader is not safe for
// concurrent use.
type JSONReader struct {
	opts JSONOptions
	br   *lineScanner
	line int
	err  error // sticky: returned by every later Next
}

// NewJSONReader returns a reader of the JSON lines in r.
func NewJSONReader(r io.Reader, opts JSONOptions) *JSONReader {
	sc := newLineScanner(r, opts.maxLine())
	sc.limit = opts.maxBody()
	return &JSONReader{opts: opts, br: sc}
}

// Next returns the next reading and its line number. A line that does
// not decode returns a *LineError, and the reader may go on with the next
// line. Next returns io.EOF at the end of the input. An input larger than
// MaxBodyBytes ends with an error wrapping ErrTooLarge, and a read error
// ends it too. Every later call returns the same error.
func (jr *JSONReader) Next() (Reading, int, error) {
	for jr.err == nil {
		text, err := jr.br.next()
		if jr.br.read > jr.opts.maxBody() {
			jr.err = fmt.Errorf("%w: JSON body exceeds %d bytes: split it", ErrTooLarge, jr.opts.maxBody())
			break
		}
		if errors.Is(err, io.EOF) && text == nil {
			jr.err = io.EOF
			break
		}
		jr.line++
		if errors.Is(err, errLongLine) {
			return Reading{}, jr.line, &LineError{Line: jr.line, Err: fmt.Errorf("%w: line is longer than %d bytes", ErrTooLarge, jr.opts.maxLine())}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			jr.err = fmt.Errorf("sensor: read JSON line %d: %w", jr.line, err)
			break
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		r, err := DecodeJSON(text, jr.opts)
		if err != nil {
			return Reading{}, jr.line, &LineError{Line: jr.line, Err: err}
		}
		return r, jr.line, nil
	}
	return Reading{}, jr.line, jr.err
}

// errLongLine reports a line above the limit; the scanner has skipped it.
var errLongLine = errors.New("line too long")

// lineScanner returns one line at a time and skips over-long lines
// without holding them, unlike bufio.Scanner, which stops at the first.
type lineScanner struct {
	br   *bufio.Reader
	max  int
	read int64 // bytes consumed, line ends included
	// limit stops skipLine once read passes it, so that one endless line
	// is not read to its end.
	limit int64
}

func newLineScanner(r io.Reader, max int) *lineScanner {
	// Room for the line end too, "\r\n" at most.
	return &lineScanner{br: bufio.NewReaderSize(r, max+2), max: max, limit: math.MaxInt64}
}

// next returns the next line without its line end. At the end of the
// input it returns the last unended line with io.EOF, or nil and io.EOF.
// The line is valid until the next call.
func (s *lineScanner) next() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	s.read += int64(len(line))
	if errors.Is(err, bufio.ErrBufferFull) {
		return []byte{}, s.skipLine()
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) > s.max {
		return []byte{}, errLongLine
	}
	if errors.Is(err, io.EOF) && len(line) == 0 {
		return nil, io.EOF
	}
	return line, err
}

// skipLine reads past the end of an over-long line.
func (s *lineScanner) skipLine() error {
	for s.read <= s.limit {
		chunk, err := s.br.ReadSlice('\n')
		s.read += int64(len(chunk))
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil, errors.Is(err, io.EOF):
			return errLongLine
		}
		return err
	}
	return errLongLine
}
