package sensor

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on one reading. They keep one encoded reading under
// MaxReadingSize and let a decoder reject hostile input early.
const (
	// MaxSourceLen is the longest source id, in bytes.
	MaxSourceLen = 128
	// MaxFields is the most fields one reading may carry.
	MaxFields = 256
	// MaxFieldNameLen is the longest field name, in bytes.
	MaxFieldNameLen = 64
	// MaxTextLen is the longest text value, in bytes.
	MaxTextLen = 256
)

// The range of times a reading may carry. The encoding stores
// nanoseconds since the Unix epoch in an int64, which covers 1677-09-21
// to 2262-04-11; the range is cut to whole years inside that span.
var (
	MinTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Errors returned by this package; each is wrapped with the value involved.
var (
	// ErrInvalid reports a reading that breaks a rule of Validate.
	ErrInvalid = errors.New("sensor: invalid reading")
	// ErrTooLarge reports an input or a segment above its size limit.
	ErrTooLarge = errors.New("sensor: input too large")
	// ErrMalformed reports bytes that do not decode to readings, or that
	// decode but are not the canonical encoding of what they hold.
	ErrMalformed = errors.New("sensor: malformed input")
)

// Reading is one measurement event of one sensor.
type Reading struct {
	// Source is the id of the sensor or node that produced the reading:
	// 1 to MaxSourceLen bytes of printable UTF-8 without leading or
	// trailing spaces.
	Source string
	// Time is when the reading was taken, or when it arrived where the
	// source did not record that. It is in UTC, between MinTime and
	// MaxTime, and keeps the source's precision down to the nanosecond.
	Time time.Time
	// Fields holds the values in the order the source gave them. Names
	// are unique within a reading. A reading may have no fields.
	Fields []Field
	// Location is the sensor's position, or nil when unknown.
	Location *Location
}

// Field is one named value of a reading.
type Field struct {
	// Name is 1 to MaxFieldNameLen bytes of printable UTF-8 without
	// leading or trailing spaces.
	Name  string
	Value Value
}

// Get returns the value of the field called name and whether the reading
// has one.
func (r *Reading) Get(name string) (Value, bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return Value{}, false
}

// Equal reports whether r and s hold the same source, instant, fields in
// the same order, and location.
func (r *Reading) Equal(s *Reading) bool {
	if r.Source != s.Source || !r.Time.Equal(s.Time) || len(r.Fields) != len(s.Fields) {
		return false
	}
	for i, f := range r.Fields {
		if f.Name != s.Fields[i].Name || !f.Value.Equal(s.Fields[i].Value) {
			return false
		}
	}
	if r.Location == nil || s.Location == nil {
		return r.Location == s.Location
	}
	return *r.Location == *s.Location
}

// Validate checks every rule stated on Reading, Field, Value and Location.
// The error wraps ErrInvalid and names the first field at fault.
func (r *Reading) Validate() error {
	if err := checkText("source id", r.Source, MaxSourceLen, true); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := checkTime(r.Time); err != nil {
		return fmt.Errorf("%w: source %q: %v", ErrInvalid, r.Source, err)
	}
	if err := checkFields(r.Fields); err != nil {
		return fmt.Errorf("%w: source %q at %s: %v", ErrInvalid, r.Source, r.Time.Format(time.RFC3339Nano), err)
	}
	if r.Location != nil {
		if err := r.Location.Validate(); err != nil {
			return fmt.Errorf("%w: source %q: %v", ErrInvalid, r.Source, err)
		}
	}
	return nil
}

// ValidateSource checks a source id against the rules stated on
// Reading.Source. The error wraps ErrInvalid.
func ValidateSource(id string) error {
	if err := checkText("source id", id, MaxSourceLen, true); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// ValidateFieldName checks a field name against the rules stated on
// Field.Name. The error wraps ErrInvalid.
func ValidateFieldName(name string) error {
	if err := checkText("field name", name, MaxFieldNameLen, true); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// ValidateText checks a text value against the rules stated on KindText
// and Validate: valid UTF-8, at most MaxTextLen bytes, no control
// characters but tab. The error wraps ErrInvalid.
func ValidateText(s string) error {
	if err := checkText("text value", s, MaxTextLen, false); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// ValidateTime checks a time against the rules stated on Reading.Time.
// The error wraps ErrInvalid.
func ValidateTime(t time.Time) error {
	if err := checkTime(t); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func checkTime(t time.Time) error {
	if t.Location() != time.UTC {
		return fmt.Errorf("time %s is not in UTC: convert it with Time.UTC()", t)
	}
	if t.Before(MinTime) || !t.Before(MaxTime) {
		return fmt.Errorf("time %s is outside %d to %d", t.Format(time.RFC3339Nano), MinTime.Year(), MaxTime.Year())
	}
	return nil
}

func checkFields(fields []Field) error {
	if len(fields) > MaxFields {
		return fmt.Errorf("%d fields, limit %d", len(fields), MaxFields)
	}
	for i, f := range fields {
		if err := checkText("field name", f.Name, MaxFieldNameLen, true); err != nil {
			return err
		}
		if err := f.Value.validate(); err != nil {
			return fmt.Errorf("field %q: %v", f.Name, err)
		}
		// A linear scan beats a map for the few fields a reading has, and
		// the quadratic worst case is bounded by MaxFields.
		for _, g := range fields[:i] {
			if g.Name == f.Name {
				return fmt.Errorf("field name %q appears twice", f.Name)
			}
		}
	}
	return nil
}

// checkText checks that s is valid UTF-8 of at most limit bytes with no
// control characters. A name must also be non-empty, printable and free of
// leading or trailing spaces, since it is matched exactly in queries.
func checkText(what, s string, limit int, name bool) error {
	if len(s) > limit {
		return fmt.Errorf("%s is %d bytes, limit %d", what, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	if !name {
		for _, c := range s {
			if unicode.IsControl(c) && c != '\t' {
				return fmt.Errorf("%s %q contains control character %U", what, s, c)
			}
		}
		return nil
	}
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("%s %q contains non-printable character %U", what, s, c)
		}
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return fmt.Errorf("%s %q has leading or trailing spaces", what, s)
	}
	return nil
}

// LocationKind selects the coordinates a Location uses.
type LocationKind uint8

const (
	// Geo locations use Lat and Lon, in degrees of WGS 84.
	Geo LocationKind = iota + 1
	// Plane locations use X and Y, in metres on a site's own floor plan
	// with an origin of the site's choosing, such as the Intel Berkeley
	// lab's mote positions.
	Plane
)

func (k LocationKind) String() string {
	switch k {
	case Geo:
		return "geo"
	case Plane:
		return "plane"
	}
	return fmt.Sprintf("LocationKind(%d)", uint8(k))
}

// Location is a sensor's position. Only the coordinates of its Kind are
// set, and the other pair is zero.
type Location struct {
	Kind LocationKind
	// Lat and Lon are degrees north and east, for Kind Geo.
	Lat, Lon float64
	// X and Y are metres on the site's plan, for Kind Plane.
	X, Y float64
}

// GeoPoint returns a Geo location.
func GeoPoint(lat, lon float64) *Location { return &Location{Kind: Geo, Lat: lat, Lon: lon} }

// PlanePoint returns a Plane location.
func PlanePoint(x, y float64) *Location { return &Location{Kind: Plane, X: x, Y: y} }

// Validate checks that the coordinates are finite, within range for Geo,
// and that only the pair of the location's kind is set.
func (l *Location) Validate() error {
	switch l.Kind {
	case Geo:
		if !(l.Lat >= -90 && l.Lat <= 90) || !(l.Lon >= -180 && l.Lon <= 180) {
			return fmt.Errorf("location lat %v, lon %v is outside ±90, ±180 degrees", l.Lat, l.Lon)
		}
		if l.X != 0 || l.Y != 0 {
			return fmt.Errorf("geo location also sets x %v, y %v", l.X, l.Y)
		}
	case Plane:
		if !finite(l.X) || !finite(l.Y) {
			return fmt.Errorf("location x %v, y %v is not finite", l.X, l.Y)
		}
		if l.Lat != 0 || l.Lon != 0 {
			return fmt.Errorf("plane location also sets lat %v, lon %v", l.Lat, l.Lon)
		}
	default:
		return fmt.Errorf("location has unknown kind %d: want sensor.Geo or sensor.Plane", l.Kind)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
