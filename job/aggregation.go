package job

import (
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/yuinet/yui/search"
)

// Limits of the aggregates a Spec may name.
const (
	// MaxPercentiles bounds the percentiles of one Spec.
	MaxPercentiles = 16
	// MaxHistograms bounds the histograms of one Spec.
	MaxHistograms = 32
	// MaxEdges bounds the bucket edges of one histogram.
	MaxEdges = 64
	// MaxValues bounds the distinct values one Partial keeps for
	// percentiles, over all its groups and fields. A Partial that would
	// keep more drops them all and sets ValuesDropped, so the job's
	// percentiles are left out while its other aggregates stay exact.
	// Each value costs about 12 bytes encoded, so MaxValues of them stay
	// below MaxPartialBytes.
	MaxValues = 50_000
)

// Default cell sides when a Spec groups by location cell and sets no
// CellSize: about 1.1 km north to south for Geo locations, and 10 m for
// Plane locations.
const (
	DefaultGeoCell   = 0.01
	DefaultPlaneCell = 10.0
)

// percentileName matches a percentile aggregate: "p" and a number in
// (0, 100] with up to three decimals, such as p50, p99 or p99.9.
var percentileName = regexp.MustCompile(`^p(0|[1-9][0-9]{0,2})(\.[0-9]{1,3})?$`)

// Percentile is a percentile aggregate, such as p90.
//
// The p-th percentile of n values is the value of rank ceil(p/100 × n)
// in ascending order, counting from 1: the nearest-rank definition. It is
// always one of the values, so it needs no interpolation and a job's
// percentile equals a brute-force one exactly.
type Percentile struct {
	// Name is the aggregate as the Spec names it, such as "p99.9".
	Name string
	// milli is p × 1000, an integer because p has at most three
	// decimals.
	milli uint64
}

// ParsePercentile reads a percentile aggregate name such as "p90".
func ParsePercentile(name string) (Percentile, error) {
	m := percentileName.FindStringSubmatch(name)
	if m == nil {
		return Percentile{}, fmt.Errorf("%w: aggregate %q is not a percentile; write p and a number in (0, 100] with up to 3 decimals, such as p50 or p99.9",
			ErrInvalid, name)
	}
	whole, _ := strconv.ParseUint(m[1], 10, 64)
	frac := strings.TrimPrefix(m[2], ".")
	frac += strings.Repeat("0", 3-len(frac))
	thousandths, _ := strconv.ParseUint(frac, 10, 64)
	milli := whole*1000 + thousandths
	if milli == 0 || milli > 100_000 {
		return Percentile{}, fmt.Errorf("%w: percentile %q is outside (0, 100]", ErrInvalid, name)
	}
	return Percentile{Name: name, milli: milli}, nil
}

// Rank returns the rank, from 1, of the percentile among n values:
// ceil(p/100 × n), computed exactly.
func (p Percentile) Rank(n uint64) uint64 {
	hi, lo := bits.Mul64(p.milli, n)
	// p.milli is at most 100,000, so hi is below the divisor and Div64
	// cannot overflow.
	q, rem := bits.Div64(hi, lo, 100_000)
	if rem != 0 {
		q++
	}
	return max(q, 1)
}

// Histogram counts a field's values in buckets between Edges, which
// increase strictly. With k edges there are k+1 buckets: bucket 0 holds
// values below Edges[0], bucket i holds values in [Edges[i-1], Edges[i]),
// and bucket k holds values at or above Edges[k-1].
type Histogram struct {
	// Field is the numeric field counted; empty means every numeric field
	// that no other histogram names.
	Field string    `cbor:"1,keyasint,omitempty"`
	Edges []float64 `cbor:"2,keyasint"`
}

// Bucket returns the bucket of v.
func (h *Histogram) Bucket(v float64) int {
	// The first edge above v is the end of v's bucket.
	i, found := slices.BinarySearch(h.Edges, v)
	if found {
		return i + 1
	}
	return i
}

func (h *Histogram) validate() error {
	if len(h.Edges) == 0 || len(h.Edges) > MaxEdges {
		return fmt.Errorf("%w: histogram of %q has %d edges; use 1 to %d", ErrInvalid, h.Field, len(h.Edges), MaxEdges)
	}
	for i, e := range h.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return fmt.Errorf("%w: histogram of %q: edge %v is not a finite number", ErrInvalid, h.Field, e)
		}
		if i > 0 && e <= h.Edges[i-1] {
			return fmt.Errorf("%w: histogram of %q: edges must increase, but %v follows %v", ErrInvalid, h.Field, e, h.Edges[i-1])
		}
	}
	return nil
}

// Aggregation is the set of aggregates a Partial keeps of each reading:
// besides its group and the count, sum, minimum and maximum of every
// numeric field, the field's exact values for percentiles and its
// histogram buckets.
type Aggregation struct {
	Grouping
	// Percentiles are the requested percentiles, in the Spec's order.
	// When there are some, a Partial keeps every distinct value with its
	// count, up to MaxValues.
	Percentiles []Percentile
	// Histograms are the requested histograms, by field; "" holds the
	// one for every other field.
	Histograms map[string]*Histogram
}

// Histogram returns the histogram of field, or nil.
func (a *Aggregation) Histogram(field string) *Histogram {
	if h := a.Histograms[field]; h != nil {
		return h
	}
	return a.Histograms[""]
}

// Aggregation returns what the spec's Partials keep. A spec that failed
// Validate gets an aggregation of its grouping alone.
func (s *Spec) Aggregation() *Aggregation {
	a := &Aggregation{Grouping: s.Grouping()}
	for _, name := range s.Aggs {
		if p, err := ParsePercentile(name); err == nil {
			a.Percentiles = append(a.Percentiles, p)
		}
	}
	if slices.Contains(s.Aggs, "histogram") {
		a.Histograms = make(map[string]*Histogram, len(s.Histograms))
		for i := range s.Histograms {
			a.Histograms[s.Histograms[i].Field] = &s.Histograms[i]
		}
	}
	return a
}

// validateAggregates checks the spec's aggregates, percentiles and
// histograms.
func (s *Spec) validateAggregates() error {
	if len(s.Aggs) == 0 {
		return fmt.Errorf("%w: no aggregate named; use some of %s", ErrInvalid, aggregateNames)
	}
	percentiles := 0
	for _, a := range s.Aggs {
		if slices.Contains(Aggregates, a) {
			continue
		}
		if _, err := ParsePercentile(a); err != nil && strings.HasPrefix(a, "p") {
			return err
		} else if err != nil {
			return fmt.Errorf("%w: aggregate %q is unknown; use %s", ErrInvalid, a, aggregateNames)
		}
		percentiles++
	}
	if percentiles > MaxPercentiles {
		return fmt.Errorf("%w: %d percentiles, limit %d", ErrInvalid, percentiles, MaxPercentiles)
	}
	return s.validateHistograms()
}

func (s *Spec) validateHistograms() error {
	requested := slices.Contains(s.Aggs, "histogram")
	switch {
	case requested && len(s.Histograms) == 0:
		return fmt.Errorf("%w: the histogram aggregate needs bucket edges; give some, such as 0,10,20", ErrInvalid)
	case !requested && len(s.Histograms) > 0:
		return fmt.Errorf("%w: histogram edges given without the histogram aggregate; add histogram to the aggregates", ErrInvalid)
	case len(s.Histograms) > MaxHistograms:
		return fmt.Errorf("%w: %d histograms, limit %d", ErrInvalid, len(s.Histograms), MaxHistograms)
	}
	fields := make(map[string]bool)
	for i := range s.Histograms {
		h := &s.Histograms[i]
		if fields[h.Field] {
			return fmt.Errorf("%w: two histograms of field %q; give one", ErrInvalid, h.Field)
		}
		fields[h.Field] = true
		if err := h.validate(); err != nil {
			return err
		}
	}
	return nil
}

// aggregateNames lists the aggregates for error messages.
const aggregateNames = "count, sum, min, max, mean, histogram and percentiles such as p50 or p99.9"

// Grouping is the grouping of a job's readings: by time (search.All for
// none), and also by sensor and by location cell when PerSensor and
// PerCell are set.
type Grouping struct {
	Time      search.GroupBy
	PerSensor bool
	PerCell   bool
	// CellSize is the side of a cell in degrees for Geo locations and in
	// metres for Plane locations; 0 means DefaultGeoCell and
	// DefaultPlaneCell.
	CellSize float64
}

// Grouping returns the spec's grouping; a spec that failed Validate
// groups everything together.
func (s *Spec) Grouping() Grouping {
	g, err := ParseBy(s.By)
	if err != nil {
		return Grouping{}
	}
	g.CellSize = s.CellSize
	return g
}

// ParseBy reads a grouping: a comma-separated set of sensor, cell, and
// one of hour and day, or "" for one group.
func ParseBy(s string) (Grouping, error) {
	var g Grouping
	if s == "" {
		return g, nil
	}
	twice := func(part string) error {
		return fmt.Errorf("%w: grouping %q names %s twice; name it once", ErrInvalid, s, part)
	}
	for _, part := range strings.Split(s, ",") {
		switch part {
		case "sensor":
			if g.PerSensor {
				return g, twice(part)
			}
			g.PerSensor = true
		case "cell":
			if g.PerCell {
				return g, twice(part)
			}
			g.PerCell = true
		case "hour", "day":
			if g.Time == search.GroupBy(part) {
				return g, twice(part)
			}
			if g.Time != search.All {
				return g, fmt.Errorf("%w: grouping %q names both hour and day; pick one", ErrInvalid, s)
			}
			g.Time = search.GroupBy(part)
		default:
			const known = "list some of sensor, cell, and hour or day, such as sensor,hour"
			if part == s {
				return g, fmt.Errorf("%w: grouping %q is unknown; %s", ErrInvalid, s, known)
			}
			return g, fmt.Errorf("%w: %q in grouping %q is unknown; %s", ErrInvalid, part, s, known)
		}
	}
	return g, nil
}

func validateCellSize(size float64) error {
	if math.IsNaN(size) || math.IsInf(size, 0) || size < 0 || (size > 0 && size < 1e-9) {
		return fmt.Errorf("%w: cell size %v; use a positive side, in degrees for geo locations and metres for plane ones, or 0 for the defaults", ErrInvalid, size)
	}
	return nil
}
