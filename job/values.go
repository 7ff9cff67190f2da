package job

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// addValue counts n more occurrences of v in f, unless the partial
// dropped its values. Zero is kept as +0, so that -0 and +0, which are
// equal, count as one value and encode the same on every worker.
func (p *Partial) addValue(f *FieldPartial, v float64, n int64) {
	if p.ValuesDropped {
		return
	}
	if v == 0 {
		v = 0
	}
	f.loadValues()
	if f.counts[v] == 0 {
		p.values++
	}
	f.counts[v] += n
	if p.values > MaxValues {
		p.dropValues()
	}
}

// mergeValues adds the values of of to f.
func (p *Partial) mergeValues(f, of *FieldPartial) {
	if p.ValuesDropped {
		return
	}
	if of.counts != nil {
		for v, n := range of.counts {
			p.addValue(f, v, n)
		}
		return
	}
	for i, v := range of.Values {
		p.addValue(f, v, of.Counts[i])
	}
}

// dropValues deletes every kept value: past MaxValues, percentiles are
// left out rather than let a partial grow without bound.
func (p *Partial) dropValues() {
	p.ValuesDropped, p.values = true, 0
	for _, g := range p.Groups {
		for _, f := range g.Fields {
			f.Values, f.Counts, f.counts = nil, nil, nil
		}
	}
}

// loadValues moves Values and Counts, as decoded, into the map that Add
// and Merge update.
func (f *FieldPartial) loadValues() {
	if f.counts != nil {
		return
	}
	f.counts = make(map[float64]int64, len(f.Values))
	for i, v := range f.Values {
		f.counts[v] = f.Counts[i]
	}
	f.Values, f.Counts = nil, nil
}

// sortValues writes the map into Values and Counts, in increasing order.
func (f *FieldPartial) sortValues() {
	if f.counts == nil {
		return
	}
	f.Values = slices.Sorted(maps.Keys(f.counts))
	f.Counts = make([]int64, len(f.Values))
	for i, v := range f.Values {
		f.Counts[i] = f.counts[v]
	}
}

// percentile returns the value at the percentile's rank, or false when
// the field kept no values.
func (f *FieldPartial) percentile(pc Percentile) (float64, bool) {
	f.sortValues()
	if len(f.Values) == 0 {
		return 0, false
	}
	rank := pc.Rank(uint64(f.Count))
	var seen uint64
	for i, n := range f.Counts {
		if seen += uint64(n); seen >= rank {
			return f.Values[i], true
		}
	}
	return f.Values[len(f.Values)-1], true
}

var (
	errValues  = errors.New("values and counts do not match")
	errBuckets = errors.New("histogram buckets do not match the count")
)

// checkField checks a decoded field's values and buckets, and counts its
// values against MaxValues.
func (p *Partial) checkField(f *FieldPartial) error {
	if len(f.Values) != len(f.Counts) || (len(f.Values) > 0 && p.ValuesDropped) {
		return errValues
	}
	if p.values += len(f.Values); p.values > MaxValues {
		return fmt.Errorf("more than %d distinct values", MaxValues)
	}
	var total int64
	for i, v := range f.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) || (i > 0 && v <= f.Values[i-1]) || f.Counts[i] < 1 || f.Counts[i] > f.Count-total {
			return errValues
		}
		total += f.Counts[i]
	}
	if len(f.Values) > 0 && total != f.Count {
		return errValues
	}
	if len(f.Buckets) > MaxEdges+1 {
		return errBuckets
	}
	total = 0
	for _, n := range f.Buckets {
		if n < 0 || n > f.Count-total {
			return errBuckets
		}
		total += n
	}
	if len(f.Buckets) > 0 && total != f.Count {
		return errBuckets
	}
	return nil
}
