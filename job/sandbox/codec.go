package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/yuinet/yui/job/sandbox/guest"
	"github.com/yuinet/yui/sensor"
)

// EncodeReadings returns readings as the JSON lines of the ABI, after
// validating each one.
func EncodeReadings(readings []sensor.Reading) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range readings {
		if err := readings[i].Validate(); err != nil {
			return nil, fmt.Errorf("sandbox: input reading %d: %w", i, err)
		}
		if err := enc.Encode(toGuest(&readings[i])); err != nil {
			return nil, fmt.Errorf("sandbox: encode input reading %d: %w", i, err)
		}
	}
	return b.Bytes(), nil
}

// DecodeReadings parses the JSON lines a module wrote. It rejects input
// above limit bytes, lines above guest.MaxLineBytes, unknown keys, and
// readings that fail sensor.Reading.Validate. Blank lines are skipped.
func DecodeReadings(b []byte, limit int) ([]sensor.Reading, error) {
	if len(b) > limit {
		return nil, fmt.Errorf("output is %d bytes, limit %d", len(b), limit)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), guest.MaxLineBytes+1)
	var out []sensor.Reading
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		r, err := decodeLine(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("output line %d: %w", line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("output line %d: %w", len(out)+1, err)
	}
	return out, nil
}

func decodeLine(line []byte) (sensor.Reading, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var g guest.Reading
	if err := dec.Decode(&g); err != nil {
		return sensor.Reading{}, err
	}
	if dec.More() {
		return sensor.Reading{}, errors.New("more than one JSON value on the line")
	}
	r, err := fromGuest(&g)
	if err != nil {
		return sensor.Reading{}, err
	}
	if err := r.Validate(); err != nil {
		return sensor.Reading{}, err
	}
	return r, nil
}

func toGuest(r *sensor.Reading) *guest.Reading {
	g := &guest.Reading{
		Source: r.Source,
		Time:   r.Time.UTC().Format(time.RFC3339Nano),
		Fields: make([]guest.Field, len(r.Fields)),
	}
	for i, f := range r.Fields {
		g.Fields[i] = guest.Field{Name: f.Name, Value: valueToGuest(f.Value)}
	}
	if l := r.Location; l != nil {
		if l.Kind == sensor.Geo {
			g.Location = &guest.Location{Lat: &l.Lat, Lon: &l.Lon}
		} else {
			g.Location = &guest.Location{X: &l.X, Y: &l.Y}
		}
	}
	return g
}

func valueToGuest(v sensor.Value) any {
	if f, ok := v.Number(); ok {
		return f
	}
	if s, ok := v.Text(); ok {
		return s
	}
	return nil
}

func fromGuest(g *guest.Reading) (sensor.Reading, error) {
	t, err := time.Parse(time.RFC3339Nano, g.Time)
	if err != nil {
		return sensor.Reading{}, fmt.Errorf("time %q is not RFC 3339: %w", g.Time, err)
	}
	r := sensor.Reading{Source: g.Source, Time: t.UTC()}
	if len(g.Fields) > sensor.MaxFields {
		return sensor.Reading{}, fmt.Errorf("%d fields, limit %d", len(g.Fields), sensor.MaxFields)
	}
	if len(g.Fields) > 0 {
		r.Fields = make([]sensor.Field, len(g.Fields))
	}
	for i, f := range g.Fields {
		v, err := valueFromGuest(f.Value)
		if err != nil {
			return sensor.Reading{}, fmt.Errorf("field %q: %w", f.Name, err)
		}
		r.Fields[i] = sensor.Field{Name: f.Name, Value: v}
	}
	if g.Location != nil {
		loc, err := locationFromGuest(g.Location)
		if err != nil {
			return sensor.Reading{}, err
		}
		r.Location = loc
	}
	return r, nil
}

func valueFromGuest(v any) (sensor.Value, error) {
	switch v := v.(type) {
	case nil:
		return sensor.Missing(), nil
	case float64:
		return sensor.Number(v), nil
	case string:
		return sensor.Text(v), nil
	}
	return sensor.Value{}, fmt.Errorf("value of JSON type %T; use a number, a string or null", v)
}

func locationFromGuest(l *guest.Location) (*sensor.Location, error) {
	geo := l.Lat != nil && l.Lon != nil && l.X == nil && l.Y == nil
	plane := l.X != nil && l.Y != nil && l.Lat == nil && l.Lon == nil
	switch {
	case geo:
		return sensor.GeoPoint(*l.Lat, *l.Lon), nil
	case plane:
		return sensor.PlanePoint(*l.X, *l.Y), nil
	}
	return nil, errors.New("location needs either lat and lon or x and y")
}
