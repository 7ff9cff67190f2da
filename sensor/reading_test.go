package sensor

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2006, 11, 13, 17, 14, 1, 250_000_000, time.UTC)

func validReading() Reading {
	return Reading{
		Source: "20",
		Time:   t0,
		Fields: []Field{
			{Name: "humidity", Value: Number(51.53)},
			{Name: "status", Value: Text("ok")},
			{Name: "par", Value: Missing()},
		},
		Location: PlanePoint(21.5, 23),
	}
}

func TestValidateAcceptsValidReadings(t *testing.T) {
	cases := map[string]func(*Reading){
		"as built":          func(*Reading) {},
		"no fields":         func(r *Reading) { r.Fields = nil },
		"no location":       func(r *Reading) { r.Location = nil },
		"geo location":      func(r *Reading) { r.Location = GeoPoint(-90, 180) },
		"unicode name":      func(r *Reading) { r.Fields[0].Name = "température (°C)" },
		"inner spaces":      func(r *Reading) { r.Source = "mote 7" },
		"max name":          func(r *Reading) { r.Fields[0].Name = strings.Repeat("n", MaxFieldNameLen) },
		"max source":        func(r *Reading) { r.Source = strings.Repeat("s", MaxSourceLen) },
		"max text":          func(r *Reading) { r.Fields[1].Value = Text(strings.Repeat("t", MaxTextLen)) },
		"empty text":        func(r *Reading) { r.Fields[1].Value = Text("") },
		"tab in text":       func(r *Reading) { r.Fields[1].Value = Text("a\tb") },
		"negative zero":     func(r *Reading) { r.Fields[0].Value = Number(math.Copysign(0, -1)) },
		"max float":         func(r *Reading) { r.Fields[0].Value = Number(math.MaxFloat64) },
		"earliest time":     func(r *Reading) { r.Time = MinTime },
		"latest time":       func(r *Reading) { r.Time = MaxTime.Add(-time.Nanosecond) },
		"nanosecond time":   func(r *Reading) { r.Time = t0.Add(7) },
		"max fields":        func(r *Reading) { r.Fields = manyFields(MaxFields) },
		"plane at origin":   func(r *Reading) { r.Location = PlanePoint(0, 0) },
		"negative plane xy": func(r *Reading) { r.Location = PlanePoint(-1e9, -3) },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			r := validReading()
			edit(&r)
			if err := r.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRejectsInvalidReadings(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Reading)
		want string
	}{
		{"empty source", func(r *Reading) { r.Source = "" }, "source id is empty"},
		{"long source", func(r *Reading) { r.Source = strings.Repeat("s", MaxSourceLen+1) }, "limit 128"},
		{"source with newline", func(r *Reading) { r.Source = "a\nb" }, "non-printable"},
		{"source with trailing space", func(r *Reading) { r.Source = "a " }, "trailing spaces"},
		{"source not UTF-8", func(r *Reading) { r.Source = "1\xa0000" }, "not valid UTF-8"},
		{"zero time", func(r *Reading) { r.Time = time.Time{} }, "outside 1678 to 2262"},
		{"time too late", func(r *Reading) { r.Time = MaxTime }, "outside 1678 to 2262"},
		{"local time", func(r *Reading) { r.Time = t0.In(time.FixedZone("CET", 3600)) }, "not in UTC"},
		{"empty field name", func(r *Reading) { r.Fields[0].Name = "" }, "field name is empty"},
		{"long field name", func(r *Reading) { r.Fields[0].Name = strings.Repeat("n", MaxFieldNameLen+1) }, "limit 64"},
		{"leading space name", func(r *Reading) { r.Fields[0].Name = " t" }, "leading or trailing"},
		{"duplicate name", func(r *Reading) { r.Fields[1].Name = "humidity" }, `"humidity" appears twice`},
		{"too many fields", func(r *Reading) { r.Fields = manyFields(MaxFields + 1) }, "257 fields, limit 256"},
		{"NaN", func(r *Reading) { r.Fields[0].Value = Number(math.NaN()) }, "not finite"},
		{"+Inf", func(r *Reading) { r.Fields[0].Value = Number(math.Inf(1)) }, "not finite"},
		{"-Inf", func(r *Reading) { r.Fields[0].Value = Number(math.Inf(-1)) }, "not finite"},
		{"long text", func(r *Reading) { r.Fields[1].Value = Text(strings.Repeat("t", MaxTextLen+1)) }, "limit 256"},
		{"control in text", func(r *Reading) { r.Fields[1].Value = Text("a\x00b") }, "control character"},
		{"text not UTF-8", func(r *Reading) { r.Fields[1].Value = Text("\xff") }, "not valid UTF-8"},
		{"unknown kind", func(r *Reading) { r.Fields[1].Value = Value{kind: 9} }, "unknown kind 9"},
		{"lat out of range", func(r *Reading) { r.Location = GeoPoint(90.5, 0) }, "outside ±90"},
		{"lon NaN", func(r *Reading) { r.Location = GeoPoint(0, math.NaN()) }, "outside ±90"},
		{"plane infinite", func(r *Reading) { r.Location = PlanePoint(math.Inf(1), 0) }, "not finite"},
		{"geo with x", func(r *Reading) { r.Location = &Location{Kind: Geo, X: 1} }, "also sets x"},
		{"plane with lat", func(r *Reading) { r.Location = &Location{Kind: Plane, Lat: 1} }, "also sets lat"},
		{"location kind zero", func(r *Reading) { r.Location = &Location{} }, "unknown kind 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validReading()
			c.edit(&r)
			err := r.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %q, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestValueAccessors(t *testing.T) {
	n, x, m := Number(21.21), Text("ok"), Missing()
	if f, ok := n.Number(); !ok || f != 21.21 {
		t.Errorf("Number(21.21).Number() = %v, %v", f, ok)
	}
	if _, ok := x.Number(); ok {
		t.Error("Text.Number() reported a number")
	}
	if s, ok := x.Text(); !ok || s != "ok" {
		t.Errorf("Text(ok).Text() = %q, %v", s, ok)
	}
	if !m.IsMissing() || !(Value{}).IsMissing() || n.IsMissing() {
		t.Error("IsMissing is wrong for missing, zero or number values")
	}
	if got := []string{n.String(), x.String(), m.String()}; got[0] != "21.21" || got[1] != `"ok"` || got[2] != "missing" {
		t.Errorf("String() = %q", got)
	}
	if !Number(0).Equal(Number(math.Copysign(0, -1))) || Number(1).Equal(Text("1")) || !m.Equal(Value{}) {
		t.Error("Equal is wrong")
	}
}

func TestReadingGetAndEqual(t *testing.T) {
	r := validReading()
	if v, ok := r.Get("humidity"); !ok || !v.Equal(Number(51.53)) {
		t.Errorf("Get(humidity) = %v, %v", v, ok)
	}
	if _, ok := r.Get("nope"); ok {
		t.Error("Get(nope) found a field")
	}
	s := validReading()
	if !r.Equal(&s) {
		t.Error("equal readings compare unequal")
	}
	s.Location = nil
	if r.Equal(&s) {
		t.Error("readings with and without location compare equal")
	}
	s = validReading()
	s.Fields[2].Value = Number(0)
	if r.Equal(&s) {
		t.Error("missing and 0 compare equal")
	}
}

func manyFields(n int) []Field {
	fields := make([]Field, n)
	for i := range fields {
		fields[i] = Field{Name: fmt.Sprintf("f%03d", i), Value: Number(float64(i))}
	}
	return fields
}
