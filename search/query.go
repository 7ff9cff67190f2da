package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// Query selects readings of one namespace. Every condition that is set
// must hold; a query with none selects every reading.
type Query struct {
	Namespace string
	// Sensor, if set, is the source id of the readings.
	Sensor string
	// From and To, where not zero, bound the readings' times to
	// [From, To).
	From, To time.Time
	// Where is the list of conditions on field values.
	Where []Condition
	// Near, if set, keeps readings whose location lies within a radius.
	Near *Near
	// Limit, if positive, keeps only the first Limit readings in time
	// order. It does not apply to aggregates.
	Limit int
}

// Op is a comparison of a Condition.
type Op string

// Comparisons. Equal and NotEqual apply to text and numbers, the others
// to numbers only.
const (
	Equal        Op = "="
	NotEqual     Op = "!="
	Less         Op = "<"
	LessEqual    Op = "<="
	Greater      Op = ">"
	GreaterEqual Op = ">="
)

// Condition holds for a reading whose field Field compares to Value with
// the comparison Op. A reading without the field, or with a missing value or a value
// of another kind, does not match, whatever Op is.
type Condition struct {
	Field string
	Op    Op
	Value sensor.Value
}

// Near keeps readings within Radius metres of Center: on the Earth's
// surface for a Geo center, on the site's plan for a Plane one. Readings
// without a location, or with one of the other kind, do not match.
type Near struct {
	Center sensor.Location
	Radius float64
}

// Validate checks the query's rules. The error wraps ErrInvalidQuery.
func (q *Query) Validate() error {
	if q.Namespace == "" {
		return fmt.Errorf("%w: namespace is empty", ErrInvalidQuery)
	}
	if q.Sensor != "" {
		if err := sensor.ValidateSource(q.Sensor); err != nil {
			return fmt.Errorf("%w: sensor: %w", ErrInvalidQuery, err)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return fmt.Errorf("%w: time range from %s to %s is empty; the end (--to) must be after the start (--from)",
			ErrInvalidQuery, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	for _, c := range q.Where {
		if err := c.validate(); err != nil {
			return err
		}
	}
	if n := q.Near; n != nil {
		if err := n.Center.Validate(); err != nil {
			return fmt.Errorf("%w: near: %v", ErrInvalidQuery, err)
		}
		if !(n.Radius >= 0) || math.IsInf(n.Radius, 0) {
			return fmt.Errorf("%w: near: radius %v must be a finite number of metres, 0 or more", ErrInvalidQuery, n.Radius)
		}
	}
	if q.Limit < 0 {
		return fmt.Errorf("%w: limit %d is negative", ErrInvalidQuery, q.Limit)
	}
	return nil
}

func (c Condition) validate() error {
	if err := sensor.ValidateFieldName(c.Field); err != nil {
		return fmt.Errorf("%w: condition: %w", ErrInvalidQuery, err)
	}
	switch c.Op {
	case Equal, NotEqual:
	case Less, LessEqual, Greater, GreaterEqual:
		if c.Value.Kind() != sensor.KindNumber {
			return fmt.Errorf("%w: condition %s %s %s compares a %v; order comparisons take numbers",
				ErrInvalidQuery, c.Field, c.Op, c.Value, c.Value.Kind())
		}
	default:
		return fmt.Errorf("%w: condition on %s has unknown operator %q; use =, !=, <, <=, > or >=", ErrInvalidQuery, c.Field, c.Op)
	}
	if c.Value.IsMissing() {
		return fmt.Errorf("%w: condition on %s compares with a missing value", ErrInvalidQuery, c.Field)
	}
	return nil
}

// Matches reports whether a reading meets every condition of q.
func (q *Query) Matches(r *sensor.Reading) bool {
	if q.Sensor != "" && r.Source != q.Sensor {
		return false
	}
	if !q.From.IsZero() && r.Time.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && !r.Time.Before(q.To) {
		return false
	}
	for _, c := range q.Where {
		if !c.Matches(r) {
			return false
		}
	}
	if q.Near != nil && (r.Location == nil || !(distance(&q.Near.Center, r.Location) <= q.Near.Radius)) {
		return false
	}
	return true
}

// Matches reports whether a reading meets the condition.
func (c Condition) Matches(r *sensor.Reading) bool {
	v, ok := r.Get(c.Field)
	if !ok || v.Kind() != c.Value.Kind() || v.IsMissing() {
		return false
	}
	if s, ok := v.Text(); ok {
		want, _ := c.Value.Text()
		switch c.Op {
		case Equal:
			return s == want
		case NotEqual:
			return s != want
		}
		return false
	}
	x, _ := v.Number()
	y, _ := c.Value.Number()
	switch c.Op {
	case Equal:
		return x == y
	case NotEqual:
		return x != y
	case Less:
		return x < y
	case LessEqual:
		return x <= y
	case Greater:
		return x > y
	case GreaterEqual:
		return x >= y
	}
	return false
}

// Querier runs queries against the index and the stored segments. It is
// safe for concurrent use.
type Querier struct {
	cfg     Config
	post    *postings
	numbers map[string]bool
	// segmentsRead counts the segments fetched since the querier started.
	segmentsRead atomic.Int64
}

// SegmentsRead returns how many segments the querier has read since it
// started, for every query, aggregate and job unit together.
func (s *Querier) SegmentsRead() int64 { return s.segmentsRead.Load() }

// NewQuerier returns a Querier.
func NewQuerier(cfg Config) (*Querier, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	q := &Querier{cfg: cfg, post: cfg.postings(), numbers: make(map[string]bool)}
	for _, name := range cfg.IndexedNumbers {
		q.numbers[name] = true
	}
	return q, nil
}

// Query returns the readings that match q, sorted by time and then by
// source, on behalf of user. A user who may not read the namespace gets
// an error wrapping store.ErrForbidden.
func (s *Querier) Query(ctx context.Context, user string, q Query) ([]sensor.Reading, error) {
	var out []sensor.Reading
	emit := func(rs []sensor.Reading) { out = append(out, rs...) }
	// With a limit, segments are read an hour at a time in time order,
	// and reading stops once the hours read hold enough matches, since a
	// later hour holds only later readings.
	enough := func() bool { return q.Limit > 0 && len(out) >= q.Limit }
	if err := s.scan(ctx, user, q, emit, enough); err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b sensor.Reading) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit:q.Limit]
	}
	return out, nil
}

// scan finds the segments that may hold matches, fetches them, and calls
// emit with the matching readings of each, from one goroutine at a time.
// With q.Limit set it reads the segments hour by hour, in time order,
// and stops after the first hour at whose end enough returns true.
func (s *Querier) scan(ctx context.Context, user string, q Query, emit func([]sensor.Reading), enough func() bool) error {
	if err := q.Validate(); err != nil {
		return err
	}
	k, err := s.cfg.keys(ctx, user, q.Namespace)
	if err != nil {
		return err
	}
	keys, err := s.segmentKeys(ctx, user, k, &q)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	read := func(group []string) error {
		var rs []sensor.Reading
		for _, key := range group {
			got, err := s.fetch(ctx, user, q.Namespace, key)
			if err != nil {
				return err
			}
			rs = append(rs, got...)
		}
		rs = DropDuplicates(rs)
		kept := rs[:0]
		for i := range rs {
			if q.Matches(&rs[i]) {
				kept = append(kept, rs[i])
			}
		}
		mu.Lock()
		defer mu.Unlock()
		emit(kept)
		return nil
	}
	groups := sourceHours(keys)
	if q.Limit <= 0 {
		return forEach(groups, s.cfg.Parallelism, read)
	}
	for _, hour := range byHour(groups) {
		if err := forEach(hour, s.cfg.Parallelism, read); err != nil {
			return err
		}
		if enough() {
			return nil
		}
	}
	return nil
}

// byHour splits groups of sorted segment keys into runs of the same
// hour. Keys sort by hour because the hour follows the prefix in a
// fixed-width form, and a group never spans two hours.
func byHour(groups [][]string) [][][]string {
	var runs [][][]string
	for i := 0; i < len(groups); {
		h, _ := hourOfKey(groups[i][0])
		j := i + 1
		for j < len(groups) {
			if hj, _ := hourOfKey(groups[j][0]); hj != h {
				break
			}
			j++
		}
		runs = append(runs, groups[i:j])
		i = j
	}
	return runs
}

// sourceHours groups sorted segment keys by source and hour: the key up
// to the hash of the contents. Segments of one group may overlap, when
// the same readings were written twice in different batches (a file
// imported again), and are read together so that their duplicates drop.
func sourceHours(keys []string) [][]string {
	var groups [][]string
	for i := 0; i < len(keys); {
		stem := keyStem(keys[i])
		j := i + 1
		for j < len(keys) && keyStem(keys[j]) == stem {
			j++
		}
		groups = append(groups, keys[i:j:j])
		i = j
	}
	return groups
}

// keyStem returns a segment key without its contents hash.
func keyStem(key string) string {
	if i := strings.LastIndexByte(key, '-'); i > 0 {
		return key[:i]
	}
	return key
}

// DropDuplicates returns rs sorted by time without readings equal to an
// earlier one: same source, time, fields and location. Two such readings
// carry nothing one of them does not, so counting both would only skew
// the aggregates.
func DropDuplicates(rs []sensor.Reading) []sensor.Reading {
	slices.SortStableFunc(rs, func(a, b sensor.Reading) int { return a.Time.Compare(b.Time) })
	out := rs[:0]
	for i := range rs {
		dup := false
		for j := len(out) - 1; j >= 0 && out[j].Time.Equal(rs[i].Time); j-- {
			if out[j].Equal(&rs[i]) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, rs[i])
		}
	}
	return out
}

// fetch reads and decodes one segment.
func (s *Querier) fetch(ctx context.Context, user, ns, key string) ([]sensor.Reading, error) {
	var b bytes.Buffer
	s.segmentsRead.Add(1)
	if _, err := s.cfg.Store.Get(ctx, user, ns, key, &b, store.GetOptions{}); err != nil {
		return nil, fmt.Errorf("search: read segment %q: %w", key, err)
	}
	rs, err := sensor.DecodeSegment(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("search: segment %q: %w", key, err)
	}
	return rs, nil
}

// segmentKeys returns the keys of the segments that may hold matches:
// from the index when some condition becomes tokens, else from a listing
// of every segment of the namespace.
func (s *Querier) segmentKeys(ctx context.Context, user string, k *keys, q *Query) ([]string, error) {
	sets := s.plan(k, q)
	if len(sets) == 0 {
		return s.listSegments(ctx, user, q)
	}
	found := make([]map[string]bool, len(sets))
	err := forEach(indexes(len(sets)), len(sets), func(i int) error {
		var err error
		found[i], err = s.union(ctx, k, q.Namespace, sets[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	var keys []string
	for key := range found[0] {
		if inAll(key, found[1:]) && inTimeRange(key, q) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// inTimeRange reports whether the hour a segment key names overlaps the
// query's time range. A key that names no hour is kept.
func inTimeRange(key string, q *Query) bool {
	h, ok := hourOfKey(key)
	if !ok {
		return true
	}
	if !q.From.IsZero() && h < hourOf(q.From) {
		return false
	}
	return q.To.IsZero() || h <= hourOf(q.To.Add(-time.Nanosecond))
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func inAll(key string, sets []map[string]bool) bool {
	for _, set := range sets {
		if !set[key] {
			return false
		}
	}
	return true
}

// plan returns the token sets to look up: a segment may hold a match
// only if it is posted under some token of every set. Of the conditions
// the index can answer, it uses only the most selective kind present, in
// this order: the sensor (with its hours and days when the time range is
// bounded), fields, location cells, and hours and days across sensors.
// Posting lists of the later kinds grow with every sensor, so fetching
// them only to intersect costs more than checking the few segments the
// first kind finds. Every other condition is checked on the segments'
// keys and readings.
func (s *Querier) plan(k *keys, q *Query) [][]wire.Hash {
	var hours, days []int64
	timed := false
	if !q.From.IsZero() && !q.To.IsZero() {
		hours, days, timed = timeCover(q.From, q.To)
	}
	if q.Sensor != "" && timed {
		return [][]wire.Hash{k.timeTokens(hours, days, q.Sensor)}
	}
	if q.Sensor != "" {
		return [][]wire.Hash{{k.sensorToken(q.Sensor)}}
	}
	if sets := s.fieldSets(k, q); len(sets) > 0 {
		return sets
	}
	if q.Near != nil {
		if set, ok := k.nearTokens(&q.Near.Center, q.Near.Radius); ok {
			return [][]wire.Hash{set}
		}
	}
	if timed {
		return [][]wire.Hash{k.timeTokens(hours, days, "")}
	}
	return nil
}

// timeTokens returns the tokens of hours and days, of one sensor or,
// with source empty, of every sensor.
func (k *keys) timeTokens(hours, days []int64, source string) []wire.Hash {
	var set []wire.Hash
	for _, h := range hours {
		if source != "" {
			set = append(set, k.sensorHourToken(source, h))
		} else {
			set = append(set, k.hourToken(h))
		}
	}
	for _, d := range days {
		if source != "" {
			set = append(set, k.sensorDayToken(source, d))
		} else {
			set = append(set, k.dayToken(d))
		}
	}
	return set
}

// fieldSets returns one set for each equality condition the index holds:
// on text, or on a number of a field in Config.IndexedNumbers.
func (s *Querier) fieldSets(k *keys, q *Query) [][]wire.Hash {
	var sets [][]wire.Hash
	for _, c := range q.Where {
		if c.Op != Equal || (c.Value.Kind() == sensor.KindNumber && !s.numbers[c.Field]) {
			continue
		}
		if t, ok := k.fieldToken(c.Field, c.Value); ok {
			sets = append(sets, []wire.Hash{t})
		}
	}
	return sets
}

// union returns the segment keys posted under any of tokens.
func (s *Querier) union(ctx context.Context, k *keys, ns string, tokens []wire.Hash) (map[string]bool, error) {
	var mu sync.Mutex
	keys := make(map[string]bool)
	err := forEach(tokens, s.cfg.Parallelism, func(t wire.Hash) error {
		entries, err := s.post.lookup(ctx, ns, t)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		dropped := 0
		for _, e := range entries {
			key, err := k.open(t, e)
			if err != nil {
				// Any node may add entries under a token, but only the
				// namespace's users can seal them, so an entry that does
				// not open is dropped, not trusted.
				dropped++
				continue
			}
			keys[string(key)] = true
		}
		if dropped > 0 {
			s.cfg.Logger.Warn("index entries do not open under the namespace's key; dropped them",
				"namespace", ns, "dropped", dropped, "entries", len(entries))
		}
		return nil
	})
	return keys, err
}

// listSegments returns the keys of every segment of the namespace whose
// hour overlaps the query's time range.
func (s *Querier) listSegments(ctx context.Context, user string, q *Query) ([]string, error) {
	infos, err := s.cfg.Store.List(ctx, user, q.Namespace, segmentPrefix)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("search: list segments of %q: %w", q.Namespace, err)
	}
	var keys []string
	for _, info := range infos {
		if _, ok := hourOfKey(info.Key); ok && inTimeRange(info.Key, q) {
			keys = append(keys, info.Key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}
