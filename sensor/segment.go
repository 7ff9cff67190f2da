package sensor

import (
	"bytes"
	"fmt"
	"time"
)

// Limits on a segment.
const (
	// MaxSegmentReadings is the most readings one segment may hold.
	MaxSegmentReadings = 1 << 16
	// MaxSegmentSize is the largest encoded segment DecodeSegment accepts.
	MaxSegmentSize = 16 << 20
)

// SegmentVersion is the version of the segment encoding written by
// EncodeSegment. DecodeSegment rejects any other.
const SegmentVersion = 1

// segmentWire is the encoding of a segment. Source ids and field names are
// stored once, in order of first use, and readings refer to them by index.
type segmentWire struct {
	_        struct{} `cbor:",toarray"`
	Version  uint8
	Sources  []string
	Names    []string
	Readings []segmentReading
}

// segmentReading is one reading of a segment. Delta is its time in
// nanoseconds minus the previous reading's, or minus the Unix epoch for
// the first, so a segment of readings taken seconds apart stores each
// time in a few bytes. The subtraction wraps around in two's complement
// for times more than 292 years apart, and the decoder's wrapping
// addition undoes it exactly.
type segmentReading struct {
	_        struct{} `cbor:",toarray"`
	Source   int
	Delta    int64
	Names    []int
	Values   []Value
	Location *locationWire
}

// EncodeSegment returns the canonical encoding of readings, in the order
// given, after validating each one. It fails if there are more than
// MaxSegmentReadings readings or the result exceeds MaxSegmentSize, so
// that whatever it writes DecodeSegment accepts.
func EncodeSegment(readings []Reading) ([]byte, error) {
	if len(readings) > MaxSegmentReadings {
		return nil, fmt.Errorf("%w: %d readings, limit %d per segment", ErrTooLarge, len(readings), MaxSegmentReadings)
	}
	for i := range readings {
		if err := readings[i].Validate(); err != nil {
			return nil, fmt.Errorf("reading %d: %w", i, err)
		}
	}
	b, err := encMode.Marshal(buildSegment(readings))
	if err != nil {
		return nil, fmt.Errorf("sensor: encode segment: %w", err)
	}
	if len(b) > MaxSegmentSize {
		return nil, fmt.Errorf("%w: segment of %d readings is %d bytes, limit %d", ErrTooLarge, len(readings), len(b), MaxSegmentSize)
	}
	return b, nil
}

func buildSegment(readings []Reading) *segmentWire {
	w := &segmentWire{
		Version:  SegmentVersion,
		Sources:  []string{},
		Names:    []string{},
		Readings: make([]segmentReading, len(readings)),
	}
	sources := map[string]int{}
	names := map[string]int{}
	var prev int64
	for i := range readings {
		r := &readings[i]
		t := r.Time.UnixNano()
		sr := segmentReading{
			Source:   intern(r.Source, sources, &w.Sources),
			Delta:    t - prev,
			Names:    make([]int, len(r.Fields)),
			Values:   make([]Value, len(r.Fields)),
			Location: toWire(r.Location),
		}
		for j, f := range r.Fields {
			sr.Names[j] = intern(f.Name, names, &w.Names)
			sr.Values[j] = f.Value
		}
		w.Readings[i] = sr
		prev = t
	}
	return w
}

// intern returns s's index in table, appending it on first use.
func intern(s string, index map[string]int, table *[]string) int {
	if i, ok := index[s]; ok {
		return i
	}
	index[s] = len(*table)
	*table = append(*table, s)
	return len(*table) - 1
}

// DecodeSegment parses a segment written by EncodeSegment. It rejects
// input above MaxSegmentSize, an unknown version, out-of-range indexes,
// readings that fail Validate, and any encoding that EncodeSegment would
// not write for the decoded readings.
func DecodeSegment(b []byte) ([]Reading, error) {
	if len(b) > MaxSegmentSize {
		return nil, fmt.Errorf("%w: segment is %d bytes, limit %d", ErrTooLarge, len(b), MaxSegmentSize)
	}
	var w segmentWire
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: segment: %v", ErrMalformed, err)
	}
	if w.Version != SegmentVersion {
		return nil, fmt.Errorf("%w: segment version %d, this decoder reads version %d", ErrMalformed, w.Version, SegmentVersion)
	}
	readings, err := expandSegment(&w)
	if err != nil {
		return nil, err
	}

	// Rebuilding the segment from the readings and comparing bytes rejects
	// unused or reordered table entries as well as non-shortest CBOR.
	again, err := encMode.Marshal(buildSegment(readings))
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: segment is not in canonical form", ErrMalformed)
	}
	return readings, nil
}

func expandSegment(w *segmentWire) ([]Reading, error) {
	readings := make([]Reading, len(w.Readings))
	var t int64
	for i := range w.Readings {
		sr := &w.Readings[i]
		if err := checkIndexes(sr, len(w.Sources), len(w.Names)); err != nil {
			return nil, fmt.Errorf("%w: segment reading %d: %v", ErrMalformed, i, err)
		}
		t += sr.Delta // wraps as the encoder's subtraction did
		r := Reading{
			Source:   w.Sources[sr.Source],
			Time:     time.Unix(0, t).UTC(),
			Location: fromWire(sr.Location),
		}
		if len(sr.Names) > 0 {
			r.Fields = make([]Field, len(sr.Names))
			for j, n := range sr.Names {
				r.Fields[j] = Field{Name: w.Names[n], Value: sr.Values[j]}
			}
		}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("segment reading %d: %w", i, err)
		}
		readings[i] = r
	}
	return readings, nil
}

func checkIndexes(sr *segmentReading, sources, names int) error {
	if sr.Source < 0 || sr.Source >= sources {
		return fmt.Errorf("source index %d, table has %d", sr.Source, sources)
	}
	if len(sr.Names) != len(sr.Values) {
		return fmt.Errorf("%d names and %d values", len(sr.Names), len(sr.Values))
	}
	for _, n := range sr.Names {
		if n < 0 || n >= names {
			return fmt.Errorf("name index %d, table has %d", n, names)
		}
	}
	return nil
}
