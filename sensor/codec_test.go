package sensor

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"pgregory.net/rapid"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	cases := map[string]func(*Reading){
		"as built":      func(*Reading) {},
		"no fields":     func(r *Reading) { r.Fields = nil },
		"geo":           func(r *Reading) { r.Location = GeoPoint(45.07, 7.69) },
		"no location":   func(r *Reading) { r.Location = nil },
		"nanoseconds":   func(r *Reading) { r.Time = t0.Add(123456789) },
		"before 1970":   func(r *Reading) { r.Time = time.Date(1850, 1, 1, 0, 0, 0, 1, time.UTC) },
		"earliest time": func(r *Reading) { r.Time = MinTime },
		"max fields":    func(r *Reading) { r.Fields = manyFields(MaxFields) },
		"tiny number":   func(r *Reading) { r.Fields[0].Value = Number(5e-324) },
		"negative zero": func(r *Reading) { r.Fields[0].Value = Number(math.Copysign(0, -1)) },
		"float32 exact": func(r *Reading) { r.Fields[0].Value = Number(0.15625) },
		"long text":     func(r *Reading) { r.Fields[1].Value = Text(strings.Repeat("é", MaxTextLen/2)) },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			r := validReading()
			edit(&r)
			b, err := Encode(&r)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !got.Equal(&r) {
				t.Fatalf("Decode = %+v, want %+v", got, r)
			}
			if math.Signbit(mustNumber(t, got.Fields, 0)) != math.Signbit(mustNumber(t, r.Fields, 0)) {
				t.Fatal("sign of zero was lost")
			}
			again, err := Encode(&got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs: %x, want %x (%v)", again, b, err)
			}
		})
	}
}

func mustNumber(t *testing.T, fields []Field, i int) float64 {
	t.Helper()
	if len(fields) <= i {
		return 0
	}
	f, _ := fields[i].Value.Number()
	return f
}

// TestEncodeGolden pins the byte layout, so a change of encoding is a
// deliberate act: the stored readings of every node depend on it.
func TestEncodeGolden(t *testing.T) {
	r := Reading{
		Source:   "20",
		Time:     time.UnixMilli(1163438041250).UTC(),
		Fields:   []Field{{Name: "t", Value: Number(21.5)}, {Name: "s", Value: Text("ok")}, {Name: "m"}},
		Location: PlanePoint(21.5, 23),
	}
	b, err := Encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	const want = "85" + // array of 5
		"623230" + // "20"
		"1b10255cbbfee1ec80" + // 1163438041250000000 ns
		"83" + "6174" + "6173" + "616d" + // names ["t", "s", "m"]
		"83" + "f94d60" + "626f6b" + "f6" + // values [21.5 as float16, "ok", null]
		"83" + "02" + "f94d60" + "f94dc0" // [Plane, 21.5, 23]
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("Encode = %s\nwant     %s", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := validReading()
	names, values := splitFields(good.Fields)
	base := readingWire{Source: good.Source, Time: good.Time.UnixNano(), Names: names, Values: values}
	marshal := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withValue := func(raw []byte) []byte {
		b := marshal([]any{"20", base.Time, []string{"x"}, []cbor.RawMessage{raw}, nil})
		return b
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, ErrMalformed},
		{"too large", make([]byte, MaxReadingSize+1), ErrTooLarge},
		{"not an array", marshal("20"), ErrMalformed},
		{"short array", marshal([]any{"20", 1}), ErrMalformed},
		{"trailing bytes", append(marshal(base), 0x00), ErrMalformed},
		{"integer value", withValue([]byte{0x01}), ErrMalformed},
		{"bool value", withValue([]byte{0xf5}), ErrMalformed},
		{"undefined value", withValue([]byte{0xf7}), ErrMalformed},
		{"bytes value", withValue([]byte{0x41, 0x61}), ErrMalformed},
		{"NaN value", withValue([]byte{0xf9, 0x7e, 0x00}), ErrInvalid},
		{"infinite value", withValue([]byte{0xf9, 0x7c, 0x00}), ErrInvalid},
		{"float64 for 1.5", withValue([]byte{0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}), ErrMalformed},
		{"non-UTF-8 text", withValue([]byte{0x61, 0xff}), ErrMalformed},
		{"name value mismatch", marshal([]any{"20", base.Time, []string{"x", "y"}, []any{nil}, nil}), ErrMalformed},
		{"null names", marshal([]any{"20", base.Time, nil, nil, nil}), ErrMalformed},
		{"empty source", marshal([]any{"", base.Time, []string{}, []any{}, nil}), ErrInvalid},
		{"duplicate names", marshal([]any{"20", base.Time, []string{"x", "x"}, []any{nil, nil}, nil}), ErrInvalid},
		{"location kind 7", marshal([]any{"20", base.Time, []string{}, []any{}, []any{7, 1.5, 1.5}}), ErrInvalid},
		{"location int coords", marshal([]any{"20", base.Time, []string{}, []any{}, []any{2, 1, 1}}), ErrMalformed},
		{"time as float", marshal([]any{"20", 1.5e18, []string{}, []any{}, nil}), ErrMalformed},
		{"long int head", []byte{0x85, 0x62, '2', '0', 0x18, 0x01, 0x80, 0x80, 0xf6}, ErrMalformed},
		{"indefinite array", []byte{0x9f, 0x62, '2', '0', 0x1b, 0x10, 0x25, 0x56, 0x9c, 0xc8, 0xe3, 0x62, 0x80, 0x80, 0x80, 0xf6, 0xff}, ErrMalformed},
		{"tagged time", append([]byte{0x85, 0x62, '2', '0', 0xc1}, marshal(int64(1163438041))[0:]...), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, want %v", err, c.want)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	r := validReading()
	r.Fields[0].Value = Number(math.NaN())
	if _, err := Encode(&r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode(NaN) = %v, want ErrInvalid", err)
	}
	if _, err := EncodeSegment([]Reading{validReading(), r}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "reading 1") {
		t.Fatalf("EncodeSegment = %v, want ErrInvalid naming reading 1", err)
	}
}

func segmentReadings() []Reading {
	var rs []Reading
	start := time.UnixMilli(1163438041250).UTC()
	for i := range 60 {
		r := Reading{
			Source: []string{"20", "10", "11"}[i%3],
			Time:   start.Add(time.Duration(i*217) * time.Millisecond),
			Fields: []Field{
				{Name: "seq", Value: Number(float64(i / 3))},
				{Name: "humidity", Value: Number(51.53 - float64(i)/100)},
				{Name: "temperature", Value: Number(22.08)},
			},
		}
		if i%7 == 0 {
			r.Fields[1].Value = Missing()
		}
		if i%5 == 0 {
			r.Location = PlanePoint(float64(i), 2)
		}
		rs = append(rs, r)
	}
	// Out of order, at the ends of the time range, another field set.
	rs = append(rs,
		Reading{Source: "late", Time: start.Add(-time.Hour), Fields: []Field{{Name: "note", Value: Text("clock reset")}}},
		Reading{Source: "late", Time: MinTime},
		Reading{Source: "10", Time: MaxTime.Add(-1), Location: GeoPoint(50.8, 4.4)},
	)
	return rs
}

func TestSegmentRoundTrip(t *testing.T) {
	rs := segmentReadings()
	b, err := EncodeSegment(rs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSegment(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rs) {
		t.Fatalf("DecodeSegment returned %d readings, want %d", len(got), len(rs))
	}
	for i := range rs {
		if !got[i].Equal(&rs[i]) {
			t.Fatalf("reading %d = %+v, want %+v", i, got[i], rs[i])
		}
	}

	// The shared tables and time deltas must beat one encoding per reading.
	single := 0
	for i := range rs {
		e, err := Encode(&rs[i])
		if err != nil {
			t.Fatal(err)
		}
		single += len(e)
	}
	if len(b) >= single*2/3 {
		t.Errorf("segment is %d bytes, single encodings %d: want under two thirds", len(b), single)
	}
}

func TestSegmentEmpty(t *testing.T) {
	b, err := EncodeSegment(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != "8401808080" {
		t.Fatalf("empty segment = %s, want 8401808080", got)
	}
	rs, err := DecodeSegment(b)
	if err != nil || len(rs) != 0 {
		t.Fatalf("DecodeSegment = %v, %v", rs, err)
	}
}

func TestSegmentLimits(t *testing.T) {
	if _, err := EncodeSegment(make([]Reading, MaxSegmentReadings+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("EncodeSegment(too many) = %v, want ErrTooLarge", err)
	}
	if _, err := DecodeSegment(make([]byte, MaxSegmentSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("DecodeSegment(too large) = %v, want ErrTooLarge", err)
	}

	// Readings at every limit overflow MaxSegmentSize long before
	// MaxSegmentReadings; the encoder must refuse what the decoder would.
	big := Reading{Source: "s", Time: t0, Fields: manyFields(MaxFields)}
	for i := range big.Fields {
		big.Fields[i].Value = Text(strings.Repeat("x", MaxTextLen))
	}
	rs := make([]Reading, 300)
	for i := range rs {
		rs[i] = big
	}
	if _, err := EncodeSegment(rs); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("EncodeSegment(%d MB) = %v, want ErrTooLarge", 300*MaxFields*MaxTextLen>>20, err)
	}
}

func TestDecodeSegmentRejects(t *testing.T) {
	marshal := func(v any) []byte {
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wireReading := func(src int, names []int, values []any) []any {
		return []any{src, int64(1163438041250000000), names, values, nil}
	}
	ok := marshal([]any{1, []string{"20"}, []string{"t"}, []any{wireReading(0, []int{0}, []any{21.5})}})
	if _, err := DecodeSegment(ok); err != nil {
		t.Fatalf("hand-built segment does not decode: %v", err)
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"version 2", marshal([]any{2, []string{"20"}, []string{"t"}, []any{wireReading(0, []int{0}, []any{21.5})}}), ErrMalformed},
		{"source index", marshal([]any{1, []string{"20"}, []string{"t"}, []any{wireReading(1, []int{0}, []any{21.5})}}), ErrMalformed},
		{"negative index", marshal([]any{1, []string{"20"}, []string{"t"}, []any{wireReading(-1, []int{0}, []any{21.5})}}), ErrMalformed},
		{"name index", marshal([]any{1, []string{"20"}, []string{"t"}, []any{wireReading(0, []int{1}, []any{21.5})}}), ErrMalformed},
		{"unused source", marshal([]any{1, []string{"20", "21"}, []string{"t"}, []any{wireReading(0, []int{0}, []any{21.5})}}), ErrMalformed},
		{"unused name", marshal([]any{1, []string{"20"}, []string{"t", "u"}, []any{wireReading(0, []int{0}, []any{21.5})}}), ErrMalformed},
		{"repeated source", marshal([]any{1, []string{"20", "20"}, []string{"t"}, []any{wireReading(0, []int{0}, []any{21.5}), wireReading(1, []int{0}, []any{21.5})}}), ErrMalformed},
		{"reordered names", marshal([]any{1, []string{"20"}, []string{"u", "t"}, []any{wireReading(0, []int{1, 0}, []any{21.5, 1.5})}}), ErrMalformed},
		{"values mismatch", marshal([]any{1, []string{"20"}, []string{"t"}, []any{wireReading(0, []int{0}, []any{})}}), ErrMalformed},
		{"duplicate field", marshal([]any{1, []string{"20"}, []string{"t"}, []any{wireReading(0, []int{0, 0}, []any{1.5, 1.5})}}), ErrInvalid},
		{"time out of range", marshal([]any{1, []string{"20"}, []string{}, []any{[]any{0, int64(math.MaxInt64), []int{}, []any{}, nil}}}), ErrInvalid},
		{"null tables", marshal([]any{1, nil, nil, []any{}}), ErrMalformed},
		{"truncated", ok[:len(ok)-1], ErrMalformed},
		{"map instead of array", marshal(map[string]int{"v": 1}), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeSegment(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("DecodeSegment = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSegmentRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rs := rapid.SliceOfN(genReading(), 0, 40).Draw(t, "readings")
		b, err := EncodeSegment(rs)
		if err != nil {
			t.Fatalf("EncodeSegment: %v", err)
		}
		got, err := DecodeSegment(b)
		if err != nil {
			t.Fatalf("DecodeSegment: %v", err)
		}
		if len(got) != len(rs) {
			t.Fatalf("got %d readings, want %d", len(got), len(rs))
		}
		for i := range rs {
			if !got[i].Equal(&rs[i]) {
				t.Fatalf("reading %d = %+v, want %+v", i, got[i], rs[i])
			}
		}
	})
}

func genReading() *rapid.Generator[Reading] {
	return rapid.Custom(func(t *rapid.T) Reading {
		names := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"t", "h", "par", "tsr", "CO(GT)", "note"}), 0, 6, rapid.ID).Draw(t, "names")
		r := Reading{
			Source: rapid.SampledFrom([]string{"1", "20", "mote 7", "station-α"}).Draw(t, "source"),
			Time:   time.Unix(0, rapid.Int64Range(MinTime.UnixNano(), MaxTime.UnixNano()-1).Draw(t, "ns")).UTC(),
		}
		for _, n := range names {
			var v Value
			switch rapid.IntRange(0, 2).Draw(t, "kind") {
			case 1:
				v = Number(rapid.Float64().Filter(finite).Draw(t, "f"))
			case 2:
				v = Text(rapid.StringN(0, 20, MaxTextLen).Filter(func(s string) bool { return checkText("", s, MaxTextLen, false) == nil }).Draw(t, "s"))
			}
			r.Fields = append(r.Fields, Field{Name: n, Value: v})
		}
		switch rapid.IntRange(0, 2).Draw(t, "loc") {
		case 1:
			r.Location = GeoPoint(rapid.Float64Range(-90, 90).Draw(t, "lat"), rapid.Float64Range(-180, 180).Draw(t, "lon"))
		case 2:
			r.Location = PlanePoint(rapid.Float64Range(-1e6, 1e6).Draw(t, "x"), rapid.Float64Range(-1e6, 1e6).Draw(t, "y"))
		}
		return r
	})
}

func TestMaxReadingFitsLimit(t *testing.T) {
	r := Reading{Source: strings.Repeat("s", MaxSourceLen), Time: t0, Location: PlanePoint(math.Pi, math.E)}
	r.Fields = make([]Field, MaxFields)
	for i := range r.Fields {
		r.Fields[i] = Field{
			Name:  fmt.Sprintf("%0*d", MaxFieldNameLen, i),
			Value: Text(strings.Repeat("x", MaxTextLen)),
		}
	}
	b, err := Encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxReadingSize {
		t.Fatalf("largest valid reading encodes to %d bytes, over MaxReadingSize %d", len(b), MaxReadingSize)
	}
	t.Logf("largest valid reading: %d bytes", len(b))
	if _, err := Decode(b); err != nil {
		t.Fatalf("Decode: %v", err)
	}
}
