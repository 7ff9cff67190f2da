package job

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

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
}

// GroupPartial is one group's aggregate.
type GroupPartial struct {
	Sensor string                   `cbor:"1,keyasint,omitempty"`
	Start  int64                    `cbor:"2,keyasint,omitempty"` // Unix seconds
	Count  int64                    `cbor:"3,keyasint"`
	Fields map[string]*FieldPartial `cbor:"4,keyasint,omitempty"`
}

// FieldPartial is one numeric field's aggregate. Sum is exact, as a
// rational's text, so merging partials in any order gives the same sum.
type FieldPartial struct {
	Count int64   `cbor:"1,keyasint"`
	Min   float64 `cbor:"2,keyasint"`
	Max   float64 `cbor:"3,keyasint"`
	Sum   string  `cbor:"4,keyasint"`

	sum *big.Rat
}

// NewPartial returns an empty Partial.
func NewPartial() *Partial { return &Partial{Groups: make(map[string]*GroupPartial)} }

// Add folds one reading into its group under the grouping by.
func (p *Partial) Add(r *sensor.Reading, by Grouping) {
	key, sensorID, start := groupOf(r, by)
	g := p.Groups[key]
	if g == nil {
		g = &GroupPartial{Sensor: sensorID, Start: start, Fields: make(map[string]*FieldPartial)}
		p.Groups[key] = g
	}
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
	}
}

func (f *FieldPartial) add(v float64) {
	f.Min, f.Max = math.Min(f.Min, v), math.Max(f.Max, v)
	f.Count++
	f.rat().Add(f.sum, new(big.Rat).SetFloat64(v))
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

// groupOf returns the key, sensor and start of the group of r. Keys
// sort by sensor, then by time; the start is offset so that negative
// times sort too.
func groupOf(r *sensor.Reading, by Grouping) (string, string, int64) {
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
			g = &GroupPartial{Sensor: og.Sensor, Start: og.Start, Fields: make(map[string]*FieldPartial)}
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
		}
	}
}

// Encode returns the partial's deterministic CBOR form: the same
// aggregate gives the same bytes.
func (p *Partial) Encode() ([]byte, error) {
	for _, g := range p.Groups {
		for _, f := range g.Fields {
			f.Sum = f.rat().RatString()
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
		}
	}
	return &p, nil
}

// Result returns the partial's groups as search groups, in key order:
// by sensor id, then by time. by must be the grouping the partial was
// built with.
func (p *Partial) Result(by Grouping) []search.Group {
	keys := make([]string, 0, len(p.Groups))
	for k := range p.Groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]search.Group, 0, len(keys))
	for _, k := range keys {
		g := p.Groups[k]
		sg := search.Group{Sensor: g.Sensor, Count: int(g.Count), Fields: make(map[string]*search.Stats)}
		if by.Time != search.All {
			sg.Start = time.Unix(g.Start, 0).UTC()
		}
		for name, f := range g.Fields {
			sum, _ := f.rat().Float64()
			sg.Fields[name] = &search.Stats{Count: int(f.Count), Min: f.Min, Max: f.Max, Sum: sum}
		}
		out = append(out, sg)
	}
	return out
}
