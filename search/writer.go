package search

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// segmentPrefix starts the record key of every segment.
const segmentPrefix = "readings/"

// segmentContentType is the content type of segment records.
const segmentContentType = "application/vnd.yui.segment+cbor"

// Writer stores readings as encrypted segments and indexes them. It
// implements sensor.Sink and is safe for concurrent use.
type Writer struct {
	cfg     Config
	post    *postings
	numbers map[string]bool

	// createMu serializes the first write to each namespace this writer
	// has not written before, and guards known, the namespaces written.
	// Two concurrent first writes would otherwise both create the
	// namespace, and the store keeps only one of the two.
	createMu sync.Mutex
	known    map[string]bool
}

// maxKnown bounds Writer.known; past it the set starts over, which costs
// one serialized write per namespace.
const maxKnown = 4096

var _ sensor.Sink = (*Writer)(nil)

// NewWriter returns a Writer.
func NewWriter(cfg Config) (*Writer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, post: cfg.postings(), numbers: make(map[string]bool), known: make(map[string]bool)}
	for _, name := range cfg.IndexedNumbers {
		w.numbers[name] = true
	}
	return w, nil
}

// segment is one stored group of readings of one sensor in one hour.
type segment struct {
	key      string
	source   string
	hour     int64
	readings []sensor.Reading
	data     []byte
}

// Write stores readings in namespace on behalf of user, creating the
// namespace if it does not exist, and returns once their segments and
// postings are stored. Writing the same readings again, as a retry does,
// rewrites the same record keys and posting entries instead of adding
// new ones, since both are derived from the segments' contents.
//
// NOTE: each call writes its own segments, so a source that sends one
// reading per call costs one record per reading. Batching small writes
// is left to the ingest paths.
func (w *Writer) Write(ctx context.Context, user, namespace string, readings []sensor.Reading) error {
	if len(readings) == 0 {
		return nil
	}
	for i := range readings {
		if err := readings[i].Validate(); err != nil {
			return fmt.Errorf("search: reading %d: %w", i, err)
		}
	}
	segs, err := buildSegments(readings)
	if err != nil {
		return err
	}
	var extra []Record
	if w.cfg.Sealer != nil {
		// The sealer runs before anything is stored, so that readings it
		// rejects are stored neither in plaintext nor sealed.
		if extra, err = w.cfg.Sealer.Seal(ctx, user, namespace, publicSegments(segs)); err != nil {
			return err
		}
	}
	if err := w.storeSegments(ctx, user, namespace, segs); err != nil {
		return err
	}
	if err := w.storeRecords(ctx, user, namespace, extra); err != nil {
		return err
	}
	k, err := w.cfg.keys(ctx, user, namespace)
	if err != nil {
		return err
	}
	return w.post.add(ctx, namespace, w.postingsOf(k, segs))
}

// Sealer adds records to a Write, derived from its segments.
type Sealer interface {
	// Seal returns the records to store beside segs, which user writes
	// to namespace, or none. An error fails the Write before any segment
	// is stored.
	Seal(ctx context.Context, user, namespace string, segs []Segment) ([]Record, error)
}

// Segment is one segment a Write stores, as a Sealer sees it.
type Segment struct {
	// Key is the segment's record key, readings/HOUR/SOURCEHASH-CONTENTHASH.
	Key    string
	Source string
	// Hour is the segment's UTC hour, in hours since the Unix epoch.
	Hour     int64
	Readings []sensor.Reading
}

// Record is a record a Sealer adds.
type Record struct {
	Key, ContentType string
	Data             []byte
}

func publicSegments(segs []*segment) []Segment {
	out := make([]Segment, len(segs))
	for i, s := range segs {
		out[i] = Segment{Key: s.key, Source: s.source, Hour: s.hour, Readings: s.readings}
	}
	return out
}

// storeRecords stores a Sealer's records, as many at once as segments.
func (w *Writer) storeRecords(ctx context.Context, user, ns string, recs []Record) error {
	return forEach(recs, w.cfg.Parallelism, func(r Record) error {
		opts := store.PutOptions{ContentType: r.ContentType, Size: int64(len(r.Data))}
		if _, err := w.cfg.Store.Put(ctx, user, ns, r.Key, bytes.NewReader(r.Data), opts); err != nil {
			return fmt.Errorf("search: store %q: %w", r.Key, err)
		}
		return nil
	})
}

// SegmentKeySuffix returns the part of a segment key after its prefix,
// HOUR/SOURCEHASH-CONTENTHASH, and false for a key that is not a segment's.
func SegmentKeySuffix(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, segmentPrefix)
	return rest, ok && rest != ""
}

// ParseSegmentKey returns the hour and source hash a segment key names,
// and false for a key that is not a segment's.
func ParseSegmentKey(key string) (hour int64, sourceHash string, ok bool) {
	hour, ok = hourOfKey(key)
	if !ok {
		return 0, "", false
	}
	rest := key[len(segmentPrefix)+len(keyHourLayout):]
	if len(rest) != 1+16+1+16 || rest[0] != '/' || rest[17] != '-' {
		return 0, "", false
	}
	return hour, rest[1:17], true
}

// SegmentKey returns the key under which a Write of readings stores
// them, for readings that form one segment: one source and hour, few
// and small enough not to be split.
func SegmentKey(readings []sensor.Reading) (string, error) {
	segs, err := buildSegments(slices.Clone(readings))
	if err != nil {
		return "", err
	}
	if len(segs) != 1 {
		return "", fmt.Errorf("search: readings form %d segments, not one", len(segs))
	}
	return segs[0].key, nil
}

// SourceHash returns the source hash that segment keys of source name, 16
// hex digits.
func SourceHash(source string) string {
	s := sha256.Sum256([]byte(source))
	return hex.EncodeToString(s[:8])
}

// buildSegments groups readings by source and hour, in time order within
// a group, and encodes each group, split in time until every part is at
// most store.InlineMax bytes or a single reading.
func buildSegments(readings []sensor.Reading) ([]*segment, error) {
	type groupKey struct {
		source string
		hour   int64
	}
	groups := make(map[groupKey][]sensor.Reading)
	var order []groupKey
	for _, r := range readings {
		g := groupKey{r.Source, hourOf(r.Time)}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r)
	}
	var segs []*segment
	for _, g := range order {
		rs := groups[g]
		slices.SortStableFunc(rs, func(a, b sensor.Reading) int { return a.Time.Compare(b.Time) })
		var err error
		if segs, err = appendSegments(segs, g.source, g.hour, rs); err != nil {
			return nil, err
		}
	}
	return segs, nil
}

func appendSegments(segs []*segment, source string, hour int64, rs []sensor.Reading) ([]*segment, error) {
	if len(rs) > sensor.MaxSegmentReadings {
		half := len(rs) / 2
		segs, err := appendSegments(segs, source, hour, rs[:half])
		if err != nil {
			return nil, err
		}
		return appendSegments(segs, source, hour, rs[half:])
	}
	data, err := sensor.EncodeSegment(rs)
	if err != nil {
		return nil, fmt.Errorf("search: encode segment of %q: %w", source, err)
	}
	if len(data) > store.InlineMax && len(rs) > 1 {
		half := len(rs) / 2
		segs, err := appendSegments(segs, source, hour, rs[:half])
		if err != nil {
			return nil, err
		}
		return appendSegments(segs, source, hour, rs[half:])
	}
	return append(segs, &segment{
		key:      segmentKey(source, hour, data),
		source:   source,
		hour:     hour,
		readings: rs,
		data:     data,
	}), nil
}

// segmentKey names a segment's record: the prefix, the hour in UTC, then
// hashes of the source and of the contents. Record keys are encrypted by
// the store, so the key may name the hour, which lets a scan without
// index skip segments by key.
func segmentKey(source string, hour int64, data []byte) string {
	c := sha256.Sum256(data)
	start := time.Unix(hour*hourSeconds, 0).UTC()
	return segmentPrefix + start.Format(keyHourLayout) + "/" + SourceHash(source) + "-" + hex.EncodeToString(c[:8])
}

// keyHourLayout formats the hour of a segment key.
const keyHourLayout = "2006-01-02T15"

// hourOfKey returns the hour a segment key names, and false for a key
// that is not a segment's.
func hourOfKey(key string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, segmentPrefix)
	if !ok || len(rest) < len(keyHourLayout) {
		return 0, false
	}
	t, err := time.Parse(keyHourLayout, rest[:len(keyHourLayout)])
	if err != nil {
		return 0, false
	}
	return hourOf(t), true
}

// storeSegments stores each segment as a record. In a namespace this
// writer has not written before, it stores the first alone and under
// createMu, so that a namespace that does not exist yet is created once.
func (w *Writer) storeSegments(ctx context.Context, user, ns string, segs []*segment) error {
	put := func(s *segment) error {
		opts := store.PutOptions{ContentType: segmentContentType, Size: int64(len(s.data))}
		if _, err := w.cfg.Store.Put(ctx, user, ns, s.key, bytes.NewReader(s.data), opts); err != nil {
			return fmt.Errorf("search: store segment of %q: %w", s.source, err)
		}
		return nil
	}
	if !w.isKnown(ns) {
		if err := w.putFirst(ns, segs[0], put); err != nil {
			return err
		}
		segs = segs[1:]
	}
	return forEach(segs, w.cfg.Parallelism, put)
}

func (w *Writer) isKnown(ns string) bool {
	w.createMu.Lock()
	defer w.createMu.Unlock()
	return w.known[ns]
}

// putFirst stores one segment while holding createMu, and records the
// namespace as known once it succeeds.
func (w *Writer) putFirst(ns string, s *segment, put func(*segment) error) error {
	w.createMu.Lock()
	defer w.createMu.Unlock()
	if err := put(s); err != nil {
		return err
	}
	if len(w.known) >= maxKnown {
		clear(w.known)
	}
	w.known[ns] = true
	return nil
}

// forEach runs fn on every item with at most n at once, and returns the
// first error.
func forEach[T any](items []T, n int, fn func(T) error) error {
	errs := make([]error, len(items))
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, item := range items {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = fn(item)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// postingsOf returns the postings of every segment: one entry, the
// segment's key, under each token the segment matches.
func (w *Writer) postingsOf(k *keys, segs []*segment) []wire.IndexPosting {
	var posts []wire.IndexPosting
	for _, s := range segs {
		for _, t := range w.tokensOf(k, s) {
			posts = append(posts, wire.IndexPosting{Token: t, Entry: k.seal(t, []byte(s.key))})
		}
	}
	return posts
}

// tokensOf returns the distinct tokens a segment is indexed under.
func (w *Writer) tokensOf(k *keys, s *segment) []wire.Hash {
	day := floorDiv(s.hour, 24)
	tokens := []wire.Hash{
		k.sensorToken(s.source),
		k.sensorHourToken(s.source, s.hour),
		k.sensorDayToken(s.source, day),
		k.hourToken(s.hour),
		k.dayToken(day),
	}
	seen := make(map[wire.Hash]bool)
	add := func(t wire.Hash) {
		if !seen[t] {
			seen[t] = true
			tokens = append(tokens, t)
		}
	}
	for i := range s.readings {
		r := &s.readings[i]
		if r.Location != nil {
			for _, t := range k.cellTokens(r.Location) {
				add(t)
			}
		}
		for _, f := range r.Fields {
			if f.Value.Kind() == sensor.KindNumber && !w.numbers[f.Name] {
				continue
			}
			if t, ok := k.fieldToken(f.Name, f.Value); ok {
				add(t)
			}
		}
	}
	return tokens
}
