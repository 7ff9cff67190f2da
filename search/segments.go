package search

import (
	"context"
	"slices"

	"github.com/yuinet/yui/sensor"
)

// SegmentKeys returns the storage keys of the segments that may hold
// readings matching q, sorted, on behalf of user: the input of a job,
// which cuts them into work units. The index only narrows the segments,
// so whoever reads them must still filter with q.Matches, as Segments
// does.
//
// Segments of one source and hour can overlap when readings were written
// twice, so a unit must hold all of them (see SourceHours) and read them
// with Segments, which drops the duplicates as Query and Aggregate do.
func (s *Querier) SegmentKeys(ctx context.Context, user string, q Query) ([]string, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	k, err := s.cfg.keys(ctx, user, q.Namespace)
	if err != nil {
		return nil, err
	}
	return s.segmentKeys(ctx, user, k, &q)
}

// Segment reads, decrypts and decodes one stored segment on behalf of
// user, and returns the readings that match q.
func (s *Querier) Segment(ctx context.Context, user string, q Query, key string) ([]sensor.Reading, error) {
	rs, err := s.fetch(ctx, user, q.Namespace, key)
	if err != nil {
		return nil, err
	}
	kept := rs[:0]
	for i := range rs {
		if q.Matches(&rs[i]) {
			kept = append(kept, rs[i])
		}
	}
	return kept, nil
}

// SourceHours groups sorted segment keys by source and hour. The
// segments of one group may hold the same readings, so they belong in
// one work unit.
func SourceHours(keys []string) [][]string { return sourceHours(keys) }

// Segments reads the segments of keys on behalf of user and returns the
// readings that match q. The segments of one source and hour are read
// together and readings equal to an earlier one dropped, as in Query, so
// a reading written twice counts once when keys holds all the segments
// of its source and hour.
func (s *Querier) Segments(ctx context.Context, user string, q Query, keys []string) ([]sensor.Reading, error) {
	var out []sensor.Reading
	for _, group := range sourceHours(slices.Sorted(slices.Values(keys))) {
		var rs []sensor.Reading
		for _, key := range group {
			got, err := s.fetch(ctx, user, q.Namespace, key)
			if err != nil {
				return nil, err
			}
			rs = append(rs, got...)
		}
		rs = DropDuplicates(rs)
		for i := range rs {
			if q.Matches(&rs[i]) {
				out = append(out, rs[i])
			}
		}
	}
	return out, nil
}
