package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// MaxReadingSize is the largest encoded reading Decode accepts. A reading
// at every limit of Validate encodes to 83,366 bytes.
const MaxReadingSize = 128 << 10

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	// Core deterministic encoding writes each float in the shortest of
	// float16, float32 and float64 that keeps its value, and every length
	// and integer in its shortest head.
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		// A segment nests four deep: segment, readings, reading, values.
		MaxNestedLevels:  6,
		MaxArrayElements: MaxSegmentReadings,
		MaxMapPairs:      16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// readingWire is the encoding of one reading: its source, its time in
// nanoseconds since the Unix epoch, the field names and the values.
type readingWire struct {
	_        struct{} `cbor:",toarray"`
	Source   string
	Time     int64
	Names    []string
	Values   []Value
	Location *locationWire
}

// locationWire is a Location as [kind, lat, lon] or [kind, x, y].
type locationWire struct {
	_    struct{} `cbor:",toarray"`
	Kind LocationKind
	A, B float64
}

// Encode returns the canonical CBOR encoding of r after validating it.
func Encode(r *Reading) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(buildReading(r))
	if err != nil {
		return nil, fmt.Errorf("sensor: encode reading of %q: %w", r.Source, err)
	}
	return b, nil
}

// Decode parses one reading written by Encode. It rejects input above
// MaxReadingSize, readings that fail Validate, and any encoding that is
// not the one Encode writes.
func Decode(b []byte) (Reading, error) {
	if len(b) > MaxReadingSize {
		return Reading{}, fmt.Errorf("%w: reading is %d bytes, limit %d", ErrTooLarge, len(b), MaxReadingSize)
	}
	var w readingWire
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Reading{}, fmt.Errorf("%w: reading: %v", ErrMalformed, err)
	}
	if len(w.Names) != len(w.Values) {
		return Reading{}, fmt.Errorf("%w: reading has %d names and %d values", ErrMalformed, len(w.Names), len(w.Values))
	}
	r := Reading{
		Source:   w.Source,
		Time:     time.Unix(0, w.Time).UTC(),
		Fields:   joinFields(w.Names, w.Values),
		Location: fromWire(w.Location),
	}
	if err := r.Validate(); err != nil {
		return Reading{}, err
	}

	// Re-encoding settles every choice CBOR leaves open (integer and
	// float widths, for one), so a reading has exactly one accepted form.
	again, err := encMode.Marshal(buildReading(&r))
	if err != nil || !bytes.Equal(again, b) {
		return Reading{}, fmt.Errorf("%w: reading is not in canonical form", ErrMalformed)
	}
	return r, nil
}

func buildReading(r *Reading) *readingWire {
	names, values := splitFields(r.Fields)
	return &readingWire{
		Source:   r.Source,
		Time:     r.Time.UnixNano(),
		Names:    names,
		Values:   values,
		Location: toWire(r.Location),
	}
}

func splitFields(fields []Field) ([]string, []Value) {
	names := make([]string, len(fields))
	values := make([]Value, len(fields))
	for i, f := range fields {
		names[i] = f.Name
		values[i] = f.Value
	}
	return names, values
}

func joinFields(names []string, values []Value) []Field {
	if len(names) == 0 {
		return nil
	}
	fields := make([]Field, len(names))
	for i := range names {
		fields[i] = Field{Name: names[i], Value: values[i]}
	}
	return fields
}

func toWire(l *Location) *locationWire {
	switch {
	case l == nil:
		return nil
	case l.Kind == Geo:
		return &locationWire{Kind: Geo, A: l.Lat, B: l.Lon}
	default:
		return &locationWire{Kind: l.Kind, A: l.X, B: l.Y}
	}
}

func fromWire(w *locationWire) *Location {
	switch {
	case w == nil:
		return nil
	case w.Kind == Geo:
		return GeoPoint(w.A, w.B)
	default:
		return &Location{Kind: w.Kind, X: w.A, Y: w.B}
	}
}

// CBOR initial bytes used by Value's encoding.
const (
	cborNull     = 0xf6
	cborFloat16  = 0xf9
	cborFloat32  = 0xfa
	cborFloat64  = 0xfb
	cborTextType = 3 // major type of a text string
)

var errValueType = errors.New("value must be a float, a text string or null")

// MarshalCBOR encodes a number as a CBOR float, a text as a text string
// and a missing value as null, so the CBOR type alone gives the kind.
func (v Value) MarshalCBOR() ([]byte, error) {
	switch v.kind {
	case KindMissing:
		return []byte{cborNull}, nil
	case KindNumber:
		return encMode.Marshal(v.num)
	case KindText:
		return encMode.Marshal(v.text)
	}
	return nil, fmt.Errorf("value has unknown kind %d", v.kind)
}

// UnmarshalCBOR decodes what MarshalCBOR writes. It rejects integers,
// since a number is always written as a float. The decoder has already
// checked that b is one well-formed item.
func (v *Value) UnmarshalCBOR(b []byte) error {
	if len(b) == 0 {
		return errValueType
	}
	switch {
	case b[0] == cborNull && len(b) == 1:
		*v = Missing()
	case b[0] == cborFloat16 && len(b) == 3:
		*v = Number(float16To64(binary.BigEndian.Uint16(b[1:])))
	case b[0] == cborFloat32 && len(b) == 5:
		*v = Number(float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))))
	case b[0] == cborFloat64 && len(b) == 9:
		*v = Number(math.Float64frombits(binary.BigEndian.Uint64(b[1:])))
	case b[0]>>5 == cborTextType:
		var s string
		if err := decMode.Unmarshal(b, &s); err != nil {
			return err
		}
		if !utf8.ValidString(s) {
			return errors.New("text value is not valid UTF-8")
		}
		*v = Text(s)
	default:
		return errValueType
	}
	return nil
}

// float16To64 converts an IEEE 754 half-precision number.
func float16To64(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	var f float64
	switch exp {
	case 0: // zero or subnormal
		f = math.Ldexp(frac, -24)
	case 0x1f:
		f = math.Inf(1)
		if frac != 0 {
			f = math.NaN()
		}
	default:
		f = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		f = -f
	}
	return f
}
