package search

import (
	"context"

	"github.com/yuinet/yui/sensor"
)

// SegmentKeys returns the storage keys of the segments that may hold
// readings matching q, sorted, on behalf of user: the input of a job,
// which cuts them into work units. The index only narrows the segments,
// so whoever reads them must still filter with q.Matches.
//
// NOTE: segments of one source and hour can overlap when readings were
// written twice; Query and Aggregate read them together and drop the
// duplicates, but a job that reads them one by one counts both.
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
