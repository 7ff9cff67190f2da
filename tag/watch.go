package tag

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Area is a region a tag is expected to stay in.
type Area interface {
	Contains(p Point) bool
}

// Circle is the area within Radius metres of Center.
type Circle struct {
	Center Point   `json:"center"`
	Radius float64 `json:"radius_m"`
}

// Contains reports whether p lies in the circle or on its edge.
func (c Circle) Contains(p Point) bool { return c.Center.Dist(p) <= c.Radius }

// Polygon is the area inside a simple polygon given by its corners in
// order, either way round.
type Polygon []Point

// Contains reports whether p lies inside the polygon, by counting the
// edges that a ray from p towards +x crosses.
func (poly Polygon) Contains(p Point) bool {
	inside := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			inside = !inside
		}
	}
	return inside
}

// Rule is the condition under which a tag's guardians want an alert.
type Rule struct {
	// Area, if not nil, is where the tag should stay.
	Area Area
	// Silence, if positive, is how long the tag may go unheard.
	Silence time.Duration
}

// AlertKind names what an alert is about.
type AlertKind string

// Alert kinds.
const (
	// LeftArea: the tag's estimated position moved outside the area.
	LeftArea AlertKind = "left-area"
	// Silent: no relay heard the tag for longer than the rule allows.
	Silent AlertKind = "silent"
)

// Alert is one event a guardian should hear of.
type Alert struct {
	Tag  string    `json:"tag"`
	Kind AlertKind `json:"kind"`
	// Time is when the event happened: the first estimate outside the
	// area, or the moment the allowed silence ran out.
	Time time.Time `json:"time"`
	// Estimate is the position that left the area, for LeftArea, or the
	// last one heard, for Silent; nil if the tag was never heard.
	Estimate *Estimate `json:"estimate,omitempty"`
	Message  string    `json:"message"`
}

// Watch returns the alerts that rule raises over a tag's track, sorted
// oldest first, as of now. The track may be in any order. A tag that
// leaves the area raises one alert per departure, on its first estimate
// outside. A tag unheard for longer than rule.Silence raises one alert
// per gap between one estimate's last sighting and the next one's first.
// The gap that is still open at now counts too.
//
// An estimate counts as outside when its position is, whatever its
// radius: a guardian would rather hear of a tag near the edge.
func Watch(tag string, rule Rule, track []Estimate, now time.Time) []Alert {
	sorted := sortedByTime(track)
	var alerts []Alert
	inside := true
	for i := range sorted {
		e := &sorted[i]
		if rule.Silence > 0 && i > 0 && e.From.Sub(sorted[i-1].Time) > rule.Silence {
			alerts = append(alerts, silentAlert(tag, rule, &sorted[i-1]))
		}
		if rule.Area == nil {
			continue
		}
		in := rule.Area.Contains(e.Position)
		if inside && !in {
			alerts = append(alerts, Alert{Tag: tag, Kind: LeftArea, Time: e.Time, Estimate: e,
				Message: fmt.Sprintf("tag %s left its area: at (%.1f, %.1f) ± %.1f m", tag, e.Position.X, e.Position.Y, e.Radius)})
		}
		inside = in
	}
	return append(alerts, openSilence(tag, rule, sorted, now)...)
}

// openSilence returns the alert for a silence that lasts until now.
func openSilence(tag string, rule Rule, sorted []Estimate, now time.Time) []Alert {
	if rule.Silence <= 0 {
		return nil
	}
	if len(sorted) == 0 {
		return []Alert{{Tag: tag, Kind: Silent, Time: now,
			Message: fmt.Sprintf("tag %s was not heard at all", tag)}}
	}
	last := &sorted[len(sorted)-1]
	if now.Sub(last.Time) <= rule.Silence {
		return nil
	}
	return []Alert{silentAlert(tag, rule, last)}
}

func silentAlert(tag string, rule Rule, last *Estimate) Alert {
	return Alert{Tag: tag, Kind: Silent, Time: last.Time.Add(rule.Silence), Estimate: last,
		Message: fmt.Sprintf("tag %s not heard for %v since %s at (%.1f, %.1f)",
			tag, rule.Silence, last.Time.UTC().Format(time.RFC3339), last.Position.X, last.Position.Y)}
}

func sortedByTime(track []Estimate) []Estimate {
	sorted := slices.Clone(track)
	slices.SortStableFunc(sorted, func(a, b Estimate) int { return a.Time.Compare(b.Time) })
	return sorted
}

// maxPolygonCorners bounds a polygon given as text.
const maxPolygonCorners = 1000

// ErrInvalidArea reports an area that does not parse.
var ErrInvalidArea = errors.New("tag: invalid area")

// ParseArea parses "circle:X,Y,R" or "polygon:X,Y;X,Y;X,Y…", in metres.
func ParseArea(s string) (Area, error) {
	kind, spec, ok := strings.Cut(s, ":")
	switch {
	case ok && kind == "circle":
		v, err := parseFloats(spec, ",", 3)
		if err != nil || !(v[2] > 0) {
			return nil, fmt.Errorf("%w: %q: want circle:X,Y,R with a positive radius R in metres", ErrInvalidArea, s)
		}
		return Circle{Center: Point{v[0], v[1]}, Radius: v[2]}, nil
	case ok && kind == "polygon":
		corners := strings.Split(spec, ";")
		if len(corners) < 3 || len(corners) > maxPolygonCorners {
			return nil, fmt.Errorf("%w: %q: want 3 to %d corners X,Y separated by ';'", ErrInvalidArea, s, maxPolygonCorners)
		}
		poly := make(Polygon, 0, len(corners))
		for _, c := range corners {
			v, err := parseFloats(c, ",", 2)
			if err != nil {
				return nil, fmt.Errorf("%w: corner %q: %v", ErrInvalidArea, c, err)
			}
			poly = append(poly, Point{v[0], v[1]})
		}
		return poly, nil
	}
	return nil, fmt.Errorf("%w: %q: want circle:X,Y,R or polygon:X,Y;X,Y;X,Y", ErrInvalidArea, s)
}

func parseFloats(s, sep string, n int) ([]float64, error) {
	parts := strings.Split(s, sep)
	if len(parts) != n {
		return nil, fmt.Errorf("%d numbers, want %d", len(parts), n)
	}
	v := make([]float64, n)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.Abs(f) > MaxCoordinate {
			return nil, fmt.Errorf("%q is not a number within ±%g", p, MaxCoordinate)
		}
		v[i] = f
	}
	return v, nil
}
