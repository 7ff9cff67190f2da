package he

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Version bytes of the segment record and the page sums. Each differs
// from the ciphertext's and the keys', so no kind decodes as another.
const (
	segmentRecordVersion = 4
	pageSumsVersion      = 5
)

// Limits of a segment record's header.
const (
	// MaxHeaderFields is the most field names one header lists, the most
	// fields a reading may have.
	MaxHeaderFields = 256
	// MaxFieldName is the longest field name in bytes.
	MaxFieldName = 64
	// MaxScale and MaxBound bound a header's fixed-point scale and value
	// bound, so that their product fits an int64 with room to spare.
	MaxScale = 1_000_000_000
	MaxBound = 1_000_000_000
	// SourceHashSize is the length of a source hash in bytes; segment
	// keys write it as 16 hex digits.
	SourceHashSize = 8
	// MaxPageSums is the maximum number of page sums one job result
	// carries inline. A result travels in messages whose partial
	// aggregate is at most 1 MiB (wire.MaxJobResult), and three
	// ciphertexts of 262,145 bytes with their headers fit that, four do
	// not. A job that needs more stores its page sums as records and
	// passes SumRefs instead.
	MaxPageSums = 3
)

// SegmentHeader describes the ciphertext of one stored segment. Workers
// read it to know which ciphertexts add, so it contains no value: the
// source hash, the hour, the page and the field names only.
type SegmentHeader struct {
	// Source is the source hash of the segment key, 16 hex digits.
	Source string
	// Hour is the segment's UTC hour, in hours since the Unix epoch.
	Hour int64
	// Page is the page of Hour for this field list (PageOf).
	Page int64
	// Fields are the segment's numeric field names, sorted.
	Fields []string
	// Scale is the fixed-point scale: a value v is stored as round(v ×
	// Scale). Bound is the largest magnitude a value may have.
	Scale, Bound int64
}

// EncodeSegmentRecord returns a segment record: the header, then the
// ciphertext's encoding.
func EncodeSegmentRecord(h *SegmentHeader, ct *Ciphertext) ([]byte, error) {
	b, err := appendHeader(nil, h)
	if err != nil {
		return nil, err
	}
	c, err := ct.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(b, c...), nil
}

func appendHeader(b []byte, h *SegmentHeader) ([]byte, error) {
	src, err := decodeSource(h.Source)
	if err != nil {
		return nil, err
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	b = append(b, segmentRecordVersion)
	b = append(b, src...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Hour))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Page))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Scale))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Bound))
	return appendFields(b, h.Fields), nil
}

func appendFields(b []byte, fields []string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(fields)))
	for _, f := range fields {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return b
}

// check returns an error naming the first value of h outside its limits.
func (h *SegmentHeader) check() error {
	if h.Scale < 1 || h.Scale > MaxScale {
		return fmt.Errorf("%w: segment header scale %d, want 1 to %d", ErrMalformed, h.Scale, MaxScale)
	}
	if h.Bound < 1 || h.Bound > MaxBound {
		return fmt.Errorf("%w: segment header bound %d, want 1 to %d", ErrMalformed, h.Bound, MaxBound)
	}
	if err := checkFields(h.Fields); err != nil {
		return err
	}
	perPage := HoursPerPage(1<<logN, len(h.Fields))
	if page, _ := PageOf(h.Hour, perPage, BlockWidth(len(h.Fields))); page != h.Page {
		return fmt.Errorf("%w: segment header puts hour %d on page %d, the layout on page %d", ErrMalformed, h.Hour, h.Page, page)
	}
	return nil
}

// checkFields checks a field list's length, names and order.
func checkFields(fields []string) error {
	if len(fields) > MaxHeaderFields {
		return fmt.Errorf("%w: %d fields, limit %d", ErrMalformed, len(fields), MaxHeaderFields)
	}
	for i, f := range fields {
		if f == "" || len(f) > MaxFieldName || !utf8.ValidString(f) {
			return fmt.Errorf("%w: field name %q must be 1 to %d bytes of UTF-8", ErrMalformed, f, MaxFieldName)
		}
		if i > 0 && fields[i-1] >= f {
			return fmt.Errorf("%w: field %q follows %q; names must be sorted and distinct", ErrMalformed, f, fields[i-1])
		}
	}
	return nil
}

func decodeSource(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != SourceHashSize || s != strings.ToLower(s) {
		return nil, fmt.Errorf("%w: source hash %q is not %d lowercase hex digits", ErrMalformed, s, 2*SourceHashSize)
	}
	return b, nil
}

// DecodeSegmentRecord parses a record written by EncodeSegmentRecord and
// returns its header and ciphertext. It rejects a header value outside
// its limits, a page that does not match the hour, and a ciphertext that
// DecodeCiphertext rejects.
func (p Params) DecodeSegmentRecord(b []byte) (*SegmentHeader, *Ciphertext, error) {
	h, rest, err := decodeHeader(b)
	if err != nil {
		return nil, nil, err
	}
	ct, err := p.DecodeCiphertext(rest)
	if err != nil {
		return nil, nil, err
	}
	return h, ct, nil
}

// headerFixed is the length of a header without its field names: the
// version, the source hash, four int64s and the field count.
const headerFixed = 1 + SourceHashSize + 4*8 + 2

func decodeHeader(b []byte) (*SegmentHeader, []byte, error) {
	if len(b) < headerFixed {
		return nil, nil, fmt.Errorf("%w: segment record is %d bytes, its header alone needs %d", ErrMalformed, len(b), headerFixed)
	}
	if b[0] != segmentRecordVersion {
		return nil, nil, fmt.Errorf("%w: segment record version %d, this decoder reads %d", ErrMalformed, b[0], segmentRecordVersion)
	}
	h := &SegmentHeader{Source: hex.EncodeToString(b[1 : 1+SourceHashSize])}
	off := 1 + SourceHashSize
	h.Hour = int64(binary.BigEndian.Uint64(b[off:]))
	h.Page = int64(binary.BigEndian.Uint64(b[off+8:]))
	h.Scale = int64(binary.BigEndian.Uint64(b[off+16:]))
	h.Bound = int64(binary.BigEndian.Uint64(b[off+24:]))
	fields, rest, err := decodeFields(b[off+32:])
	if err != nil {
		return nil, nil, err
	}
	h.Fields = fields
	if err := h.check(); err != nil {
		return nil, nil, err
	}
	return h, rest, nil
}

// decodeFields parses a field count and the names that follow it.
func decodeFields(b []byte) ([]string, []byte, error) {
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("%w: field count cut short", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > MaxHeaderFields {
		return nil, nil, fmt.Errorf("%w: %d fields, limit %d", ErrMalformed, n, MaxHeaderFields)
	}
	b = b[2:]
	fields := make([]string, 0, n)
	for i := range n {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, nil, fmt.Errorf("%w: field name %d cut short", ErrMalformed, i)
		}
		fields = append(fields, string(b[1:1+int(b[0])]))
		b = b[1+int(b[0]):]
	}
	if err := checkFields(fields); err != nil {
		return nil, nil, err
	}
	return fields, b, nil
}

// PageKey is what makes ciphertexts addable: the same page of the same
// field list, and of the same source when a job groups by sensor.
type PageKey struct {
	// Source is a source hash of 16 hex digits, or "" for all sources.
	Source string
	Page   int64
	Fields []string
}

// String returns the key in a form that sorts and compares like the key.
func (k PageKey) String() string {
	return fmt.Sprintf("%s/%020d/%s", k.Source, uint64(k.Page)^1<<63, strings.Join(k.Fields, "\x00"))
}

// PageSum is the sum of the ciphertexts of one page key.
type PageSum struct {
	Key PageKey
	Sum *Ciphertext
}

// PageAggregator adds ciphertexts by page key, up to a maximum number of
// keys. Like Aggregator it holds no key. It is not safe for concurrent
// use.
type PageAggregator struct {
	params  Params
	maxKeys int
	sums    map[string]*pageEntry
}

type pageEntry struct {
	key PageKey
	agg *Aggregator
}

// NewPageAggregator returns an empty PageAggregator that takes at most
// maxKeys page keys: MaxPageSums for sums that travel in a job message.
// Each key holds one ciphertext of 262,145 bytes in memory.
func NewPageAggregator(p Params, maxKeys int) *PageAggregator {
	return &PageAggregator{params: p, maxKeys: maxKeys, sums: make(map[string]*pageEntry)}
}

// ErrTooManyPages reports a result that needs more page sums than its
// aggregator or encoding takes.
var ErrTooManyPages = errors.New("he: result needs too many page sums")

// Add adds ct to the sum of key. A key beyond the aggregator's maximum
// fails with ErrTooManyPages.
func (a *PageAggregator) Add(key PageKey, ct *Ciphertext) error {
	s := key.String()
	e := a.sums[s]
	if e == nil {
		if len(a.sums) >= a.maxKeys {
			return fmt.Errorf("%w: page %d of %d fields would be sum %d, limit %d",
				ErrTooManyPages, key.Page, len(key.Fields), len(a.sums)+1, a.maxKeys)
		}
		e = &pageEntry{key: PageKey{Source: key.Source, Page: key.Page, Fields: slices.Clone(key.Fields)}, agg: NewAggregator(a.params)}
		a.sums[s] = e
	}
	return e.agg.Add(ct)
}

// AddSums adds page sums, such as another worker's result.
func (a *PageAggregator) AddSums(sums []PageSum) error {
	for _, s := range sums {
		if err := a.Add(s.Key, s.Sum); err != nil {
			return err
		}
	}
	return nil
}

// Sums returns the sums in key order.
func (a *PageAggregator) Sums() []PageSum {
	keys := make([]string, 0, len(a.sums))
	for k := range a.sums {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]PageSum, 0, len(keys))
	for _, k := range keys {
		e := a.sums[k]
		out = append(out, PageSum{Key: e.key, Sum: e.agg.Sum()})
	}
	return out
}

// EncodePageSums returns sums in the form DecodePageSums reads: a
// version byte, the count, then per sum its key and its ciphertext.
func EncodePageSums(sums []PageSum) ([]byte, error) {
	if len(sums) > MaxPageSums {
		return nil, fmt.Errorf("%w: %d sums, limit %d", ErrTooManyPages, len(sums), MaxPageSums)
	}
	b := []byte{pageSumsVersion, byte(len(sums))}
	for _, s := range sums {
		if s.Key.Source == "" {
			b = append(b, 0)
		} else {
			src, err := decodeSource(s.Key.Source)
			if err != nil {
				return nil, err
			}
			b = append(append(b, 1), src...)
		}
		if err := checkFields(s.Key.Fields); err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint64(b, uint64(s.Key.Page))
		b = appendFields(b, s.Key.Fields)
		c, err := s.Sum.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = append(b, c...)
	}
	return b, nil
}

// DecodePageSums parses sums written by EncodePageSums. It rejects more
// than MaxPageSums sums, keys out of order or repeated, and any
// ciphertext DecodeCiphertext rejects.
func (p Params) DecodePageSums(b []byte) ([]PageSum, error) {
	if len(b) < 2 || b[0] != pageSumsVersion {
		return nil, fmt.Errorf("%w: page sums do not start with version %d and a count", ErrMalformed, pageSumsVersion)
	}
	n := int(b[1])
	if n > MaxPageSums {
		return nil, fmt.Errorf("%w: %d page sums, limit %d", ErrMalformed, n, MaxPageSums)
	}
	b = b[2:]
	out := make([]PageSum, 0, n)
	for i := range n {
		if len(b) < 1 || b[0] > 1 || len(b) < 1+int(b[0])*SourceHashSize+8 {
			return nil, fmt.Errorf("%w: page sum %d cut short or with a bad source flag", ErrMalformed, i)
		}
		var key PageKey
		if b[0] == 1 {
			key.Source = hex.EncodeToString(b[1 : 1+SourceHashSize])
			b = b[1+SourceHashSize:]
		} else {
			b = b[1:]
		}
		key.Page = int64(binary.BigEndian.Uint64(b))
		fields, rest, err := decodeFields(b[8:])
		if err != nil {
			return nil, err
		}
		key.Fields = fields
		size := p.CiphertextSize()
		if len(rest) < size {
			return nil, fmt.Errorf("%w: page sum %d has %d bytes of ciphertext, want %d", ErrMalformed, i, len(rest), size)
		}
		ct, err := p.DecodeCiphertext(rest[:size])
		if err != nil {
			return nil, err
		}
		if i > 0 && out[i-1].Key.String() >= key.String() {
			return nil, fmt.Errorf("%w: page sum %d repeats or precedes the key before it", ErrMalformed, i)
		}
		out = append(out, PageSum{Key: key, Sum: ct})
		b = rest[size:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last page sum", ErrMalformed, len(b))
	}
	return out, nil
}
