package job

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

// maxSumText bounds the text of one exact sum. A sum of float64 values
// needs at most about 2,100 bits of numerator and 1,075 of denominator,
// some 1,000 decimal digits.
const maxSumText = 4096

// Partial is the aggregate of some units' readings, by group key.
type Partial struct {
	Groups map[string]*GroupPartial `cbor:"1,keyasint"`
	// ValuesDropped is set once the partial would keep more than
	// MaxValues distinct values for percentiles: it then keeps none, and
	// neither does any partial it is merged into.
	ValuesDropped bool `cbor:"2,keyasint,omitempty"`

	// values counts the distinct values kept over all fields.
	values int
}

// GroupPartial is one group's aggregate.
type GroupPartial struct {
	Sensor string                   `cbor:"1,keyasint,omitempty"`
	Start  int64                    `cbor:"2,keyasint,omitempty"` // Unix seconds
	Count  int64                    `cbor:"3,keyasint"`
	Fields map[string]*FieldPartial `cbor:"4,keyasint,omitempty"`
	// Cell is the group's location cell when grouped by cell; nil there
	// for readings without a location.
	Cell *Cell `cbor:"5,keyasint,omitempty"`
}

// FieldPartial is one numeric field's aggregate. Sum is exact, as a
// rational's text, so merging partials in any order gives the same sum.
type FieldPartial struct {
	Count int64   `cbor:"1,keyasint"`
	Min   float64 `cbor:"2,keyasint"`
	Max   float64 `cbor:"3,keyasint"`
	Sum   string  `cbor:"4,keyasint"`
	// Values and Counts are the field's distinct values in increasing
	// order and how often each occurs, kept for percentiles.
	Values []float64 `cbor:"5,keyasint,omitempty"`
	Counts []int64   `cbor:"6,keyasint,omitempty"`
	// Buckets are the counts of the field's histogram buckets.
	Buckets []int64 `cbor:"7,keyasint,omitempty"`

	sum *big.Rat
	// counts holds Values and Counts while the partial is built.
	counts map[float64]int64
}

// NewPartial returns an empty Partial.
func NewPartial() *Partial { return &Partial{Groups: make(map[string]*GroupPartial)} }

// Add folds one reading into its group, keeping what a asks for.
func (p *Partial) Add(r *sensor.Reading, a *Aggregation) {
	g := p.group(r, &a.Grouping)
	g.Count++
	for _, f := range r.Fields {
		v, ok := f.Value.Number()
		if !ok {
			continue
		}
		fp := g.Fields[f.Name]
		if fp == nil {
			fp = &FieldPartial{Min: v, Max: v, sum: new(big.Rat)}
			g.Fields[f.Name] = fp
		}
		fp.add(v)
		if h := a.Histogram(f.Name); h != nil {
			fp.addBucket(h.Bucket(v), len(h.Edges)+1)
		}
		if len(a.Percentiles) > 0 {
			p.addValue(fp, v, 1)
		}
	}
}

// group returns the group of r, creating it on first use.
func (p *Partial) group(r *sensor.Reading, by *Grouping) *GroupPartial {
	key, sensorID, start := groupOf(r, by)
	var cell *Cell
	if by.PerCell {
		cell = cellOf(r.Location, by.CellSize)
		key = cell.key() + key
	}
	g := p.Groups[key]
	if g == nil {
		g = &GroupPartial{Sensor: sensorID, Start: start, Cell: cell, Fields: make(map[string]*FieldPartial)}
		p.Groups[key] = g
	}
	return g
}

func (f *FieldPartial) add(v float64) {
	f.Min, f.Max = math.Min(f.Min, v), math.Max(f.Max, v)
	f.Count++
	f.rat().Add(f.sum, new(big.Rat).SetFloat64(v))
}

func (f *FieldPartial) addBucket(i, buckets int) {
	f.growBuckets(buckets)
	f.Buckets[i]++
}

func (f *FieldPartial) growBuckets(n int) {
	if len(f.Buckets) < n {
		f.Buckets = append(f.Buckets, make([]int64, n-len(f.Buckets))...)
	}
}

// rat returns the exact sum, parsing Sum on first use after decoding.
func (f *FieldPartial) rat() *big.Rat {
	if f.sum == nil {
		f.sum = new(big.Rat)
		if f.Sum != "" {
			f.sum.SetString(f.Sum) // checked by DecodePartial
		}
	}
	return f.sum
}

// groupOf returns the key, sensor and start of the group of r, without
// its cell. Keys sort by cell, then by sensor, then by time; the start
// is offset so that negative times sort too.
func groupOf(r *sensor.Reading, by *Grouping) (string, string, int64) {
	key, source := "", ""
	if by.PerSensor {
		key, source = "s:"+r.Source+"\x00", r.Source
	}
	var start int64
	switch by.Time {
	case search.ByHour:
		start = floorDiv(r.Time.Unix(), 3600) * 3600
	case search.ByDay:
		start = floorDiv(r.Time.Unix(), 86400) * 86400
	default:
		if key == "" {
			key = "all"
		}
		return key, source, 0
	}
	return key + fmt.Sprintf("t:%020d", start+1<<62), source, start
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Merge folds o into p. o is left unchanged.
func (p *Partial) Merge(o *Partial) {
	for key, og := range o.Groups {
		g := p.Groups[key]
		if g == nil {
			g = &GroupPartial{Sensor: og.Sensor, Start: og.Start, Cell: og.Cell, Fields: make(map[string]*FieldPartial)}
			p.Groups[key] = g
		}
		g.Count += og.Count
		for name, of := range og.Fields {
			f := g.Fields[name]
			if f == nil {
				f = &FieldPartial{Min: of.Min, Max: of.Max, sum: new(big.Rat)}
				g.Fields[name] = f
			}
			f.Min, f.Max = math.Min(f.Min, of.Min), math.Max(f.Max, of.Max)
			f.Count += of.Count
			f.rat().Add(f.rat(), of.rat())
			f.growBuckets(len(of.Buckets))
			for i, c := range of.Buckets {
				f.Buckets[i] += c
			}
			p.mergeValues(f, of)
		}
	}
	if o.ValuesDropped {
		p.dropValues()
	}
}

// Encode returns the partial's deterministic CBOR form: the same
// aggregate gives the same bytes.
func (p *Partial) Encode() ([]byte, error) {
	for _, g := range p.Groups {
		for _, f := range g.Fields {
			f.Sum = f.rat().RatString()
			f.sortValues()
		}
	}
	b, err := encMode.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("job: encode partial: %w", err)
	}
	if len(b) > MaxPartialBytes {
		return nil, fmt.Errorf("%w: partial is %d bytes, limit %d; group more coarsely", ErrInvalid, len(b), MaxPartialBytes)
	}
	return b, nil
}

// DecodePartial parses and checks an encoded partial.
func DecodePartial(b []byte) (*Partial, error) {
	if len(b) > MaxPartialBytes {
		return nil, fmt.Errorf("%w: partial is %d bytes, limit %d", ErrInvalid, len(b), MaxPartialBytes)
	}
	var p Partial
	if err := decMode.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: partial: %v", ErrInvalid, err)
	}
	if p.Groups == nil {
		p.Groups = make(map[string]*GroupPartial)
	}
	for key, g := range p.Groups {
		if g == nil || g.Count < 0 {
			return nil, fmt.Errorf("%w: partial group %q is empty or counts below 0", ErrInvalid, key)
		}
		if g.Fields == nil {
			g.Fields = make(map[string]*FieldPartial)
		}
		for name, f := range g.Fields {
			if f == nil || f.Count < 1 || f.Count > g.Count || len(f.Sum) > maxSumText {
				return nil, fmt.Errorf("%w: partial field %q of group %q has a bad count or sum", ErrInvalid, name, key)
			}
			if _, ok := new(big.Rat).SetString(f.Sum); !ok || strings.ContainsAny(f.Sum, "eE.") {
				return nil, fmt.Errorf("%w: partial field %q of group %q: sum %.40q is not a rational", ErrInvalid, name, key, f.Sum)
			}
			if err := p.checkField(f); err != nil {
				return nil, fmt.Errorf("%w: partial field %q of group %q: %w", ErrInvalid, name, key, err)
			}
		}
		if g.Cell != nil {
			if err := g.Cell.validate(); err != nil {
				return nil, fmt.Errorf("partial group %q: %w", key, err)
			}
		}
	}
	return &p, nil
}
