package alert

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of one alert, so that every alert fits wire.MaxAlertSize signed.
const (
	// MaxText is the longest alert text in bytes of UTF-8.
	MaxText = 1024
	// MaxAuthorityName is the longest authority name in bytes.
	MaxAuthorityName = 64
	// MaxPolygon is the most vertices an area polygon may have.
	MaxPolygon = 64
	// MaxRadius is the largest circle radius in metres: half the
	// Earth's circumference.
	MaxRadius = 20_037_508
)

// Errors returned by Decode, Verify and Validate; each is wrapped with the
// details of the fault.
var (
	ErrMalformed        = errors.New("alert: malformed alert")
	ErrInvalid          = errors.New("alert: invalid alert")
	ErrUnsigned         = errors.New("alert: alert is not signed")
	ErrUnknownAuthority = errors.New("alert: unknown authority")
	ErrForged           = errors.New("alert: signature does not verify")
	ErrExpired          = errors.New("alert: alert has expired")
	ErrNotYetValid      = errors.New("alert: alert is issued in the future")
)

// Level is an alert's severity.
type Level uint8

// Levels, in rising severity. Codes are part of the signed encoding.
const (
	Info     Level = 1
	Warning  Level = 2
	Evacuate Level = 3
)

var levelNames = map[Level]string{Info: "info", Warning: "warning", Evacuate: "evacuate"}

// String returns "info", "warning" or "evacuate".
func (l Level) String() string {
	if name, ok := levelNames[l]; ok {
		return name
	}
	return fmt.Sprintf("level-%d", uint8(l))
}

// ParseLevel returns the level named s.
func ParseLevel(s string) (Level, error) {
	for l, name := range levelNames {
		if strings.EqualFold(s, name) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("alert: unknown level %q: use info, warning or evacuate", s)
}

// Point is a position in degrees (WGS 84).
type Point struct {
	_   struct{} `cbor:",toarray"`
	Lat float64
	Lon float64
}

func (p Point) validate() error {
	if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 {
		return fmt.Errorf("latitude %v is outside -90..90", p.Lat)
	}
	if math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180 {
		return fmt.Errorf("longitude %v is outside -180..180", p.Lon)
	}
	return nil
}

// Area is the region an alert applies to: a circle (Center and Radius in
// metres) or a polygon of at least three vertices, never both. The zero
// Area means everywhere.
type Area struct {
	Center  *Point  `cbor:"1,keyasint,omitempty"`
	Radius  float64 `cbor:"2,keyasint,omitempty"`
	Polygon []Point `cbor:"3,keyasint,omitempty"`
}

// IsZero reports whether the area is unset, that is, everywhere.
func (a *Area) IsZero() bool {
	return a == nil || (a.Center == nil && a.Radius == 0 && len(a.Polygon) == 0)
}

func (a *Area) validate() error {
	if a.IsZero() {
		return nil
	}
	if a.Center != nil {
		if len(a.Polygon) > 0 {
			return fmt.Errorf("area has both a circle and a polygon")
		}
		if err := a.Center.validate(); err != nil {
			return fmt.Errorf("area center: %v", err)
		}
		if math.IsNaN(a.Radius) || a.Radius <= 0 || a.Radius > MaxRadius {
			return fmt.Errorf("area radius %v m is outside 0..%d", a.Radius, MaxRadius)
		}
		return nil
	}
	if a.Radius != 0 {
		return fmt.Errorf("area has a radius but no center")
	}
	if len(a.Polygon) < 3 || len(a.Polygon) > MaxPolygon {
		return fmt.Errorf("area polygon has %d vertices, want 3 to %d", len(a.Polygon), MaxPolygon)
	}
	for i, p := range a.Polygon {
		if err := p.validate(); err != nil {
			return fmt.Errorf("area polygon[%d]: %v", i, err)
		}
	}
	// A polygon whose vertices lie on one line contains no point, so an
	// alert with it would match no receiver.
	if polygonArea(a.Polygon) == 0 {
		return fmt.Errorf("area polygon encloses no area: its %d vertices lie on one line", len(a.Polygon))
	}
	return nil
}

// polygonArea returns twice the signed area of poly in square degrees,
// by the shoelace formula.
func polygonArea(poly []Point) float64 {
	var sum float64
	for i, p := range poly {
		q := poly[(i+1)%len(poly)]
		sum += p.Lon*q.Lat - q.Lon*p.Lat
	}
	return sum
}

// Alert is one message of an authority. Authority and KeyID name the
// signing key; Sequence rises with every alert the authority issues, so
// receivers can reject old alerts replayed long after newer ones.
// Issued and Expires have millisecond precision once encoded.
type Alert struct {
	Authority string
	KeyID     KeyID
	Sequence  uint64
	Level     Level
	Area      *Area
	Issued    time.Time
	Expires   time.Time
	Text      string
}

// Validate checks the fields' ranges and sizes; it does not check times
// against a clock.
func (a *Alert) Validate() error {
	if err := validateName(a.Authority); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, ok := levelNames[a.Level]; !ok {
		return fmt.Errorf("%w: unknown level %d", ErrInvalid, a.Level)
	}
	if err := a.Area.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !a.Expires.After(a.Issued) {
		return fmt.Errorf("%w: expires %s is not after issued %s", ErrInvalid,
			a.Expires.UTC().Format(time.RFC3339), a.Issued.UTC().Format(time.RFC3339))
	}
	if a.Text == "" || len(a.Text) > MaxText || !utf8.ValidString(a.Text) {
		return fmt.Errorf("%w: text must be 1 to %d bytes of UTF-8, got %d bytes", ErrInvalid, MaxText, len(a.Text))
	}
	return nil
}

// validateName checks an authority name: 1 to MaxAuthorityName bytes of
// letters, digits, '-', '_' and '.', so that it is safe as a file name.
func validateName(name string) error {
	if name == "" || len(name) > MaxAuthorityName {
		return fmt.Errorf("authority name %q must be 1 to %d bytes", name, MaxAuthorityName)
	}
	for _, r := range name {
		ok := r == '-' || r == '_' || r == '.' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
		if !ok {
			return fmt.Errorf("authority name %q contains %q: use letters, digits, '-', '_' or '.'", name, r)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("authority name %q is reserved", name)
	}
	return nil
}
