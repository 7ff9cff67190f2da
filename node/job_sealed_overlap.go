package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

// Readings written twice. A reading written in two requests, as an
// overlapping import or a retry after a lost reply writes it, sits in two
// segments of its sensor-hour. A plain job reads both and counts it once
// (search.DropDuplicates), but workers cannot compare encrypted readings.
// So the sealer counts each distinct reading of a sensor-hour in one
// ciphertext only: that of the segment with the lowest key among the
// stored segments that contain it. A segment's ciphertext then depends
// only on the plaintext of its sensor-hour's segments, not on the order
// of the writes, and a retried write recomputes the same ciphertexts.
//
// When a new segment shares readings with a stored segment whose key
// sorts higher, that segment loses them, and the sealer seals it again
// in the same Write. The gateway holds its plaintext and the owner's
// public key, so it can.
//
// NOTE: two gateways that write the same reading at the same moment may
// each miss the other's segment, which the index lists only once its
// Write has stored the postings, so the reading then counts twice.
// Deleting a segment ('yui rm') does not seal again the segments that
// counted on it, so readings only they still hold are counted nowhere.

// readingDigest is a 16-byte SHA-256 prefix of a reading's source, time,
// fields and location, equal for two readings exactly when
// sensor.Reading.Equal holds, up to hash collisions.
type readingDigest [16]byte

// digestOf returns the digest of r. Numbers are hashed by their IEEE 754
// bits with -0 as 0, since Equal compares them with ==, and every part
// is length-prefixed so that no two readings share an encoding.
func digestOf(r *sensor.Reading) readingDigest {
	h := sha256.New()
	var b []byte
	putText := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	putNumber := func(x float64) {
		if x == 0 {
			x = 0
		}
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	}

	putText(r.Source)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(r.Fields)))
	for _, f := range r.Fields {
		putText(f.Name)
		b = append(b, byte(f.Value.Kind()))
		if x, ok := f.Value.Number(); ok {
			putNumber(x)
		} else if s, ok := f.Value.Text(); ok {
			putText(s)
		}
	}
	if r.Location != nil {
		loc := r.Location
		b = append(b, 1, byte(loc.Kind))
		for _, x := range []float64{loc.Lat, loc.Lon, loc.X, loc.Y} {
			putNumber(x)
		}
	} else {
		b = append(b, 0)
	}

	h.Write(b)
	var d readingDigest
	copy(d[:], h.Sum(nil))
	return d
}

// Bounds of the sealer's overlap cache. Past either, the cache starts
// over, and the next write of each sensor-hour reads its stored segments
// again. A digest costs 16 bytes, so the cache holds at most about
// 16 MiB of digests, plus the segment keys.
const (
	maxOverlapDigests = 1 << 20
	maxOverlapHours   = 1 << 14
)

// overlapCache holds, per user, namespace and sensor-hour, the digests
// of the distinct readings of each segment this node has sealed or read,
// so that a node that receives a sensor's stream reads none of the
// segments it wrote itself.
type overlapCache struct {
	mu      sync.Mutex
	hours   map[string]map[string][]readingDigest // by user, namespace and key stem, then by segment key
	digests int                                   // held in hours, against maxOverlapDigests
}

// get returns the cached digests of the segments of keys, by key; keys
// not cached are absent.
func (c *overlapCache) get(id string, keys []string) map[string][]readingDigest {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]readingDigest, len(keys))
	for _, key := range keys {
		if ds, ok := c.hours[id][key]; ok {
			out[key] = ds
		}
	}
	return out
}

// put caches the digests of the segments of segs, by key.
func (c *overlapCache) put(id string, segs map[string][]readingDigest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	added := 0
	for _, ds := range segs {
		added += len(ds)
	}
	if c.hours == nil || c.digests+added > maxOverlapDigests || len(c.hours) >= maxOverlapHours {
		c.hours = make(map[string]map[string][]readingDigest)
		c.digests = 0
	}
	hour := c.hours[id]
	if hour == nil {
		hour = make(map[string][]readingDigest)
		c.hours[id] = hour
	}
	for key, ds := range segs {
		if old, ok := hour[key]; ok {
			c.digests -= len(old)
		}
		hour[key] = ds
		c.digests += len(ds)
	}
}

// hourSegment is one segment of a sensor-hour: the digests of its distinct readings, and the readings themselves when
// they are at hand.
type hourSegment struct {
	digests  []readingDigest
	readings []sensor.Reading
	isNew    bool
}

// distinctReadings returns rs without readings equal to an earlier one,
// sorted by time, and their digests in the same order.
func distinctReadings(rs []sensor.Reading) ([]sensor.Reading, []readingDigest) {
	rs = search.DropDuplicates(slices.Clone(rs))
	ds := make([]readingDigest, len(rs))
	for i := range rs {
		ds[i] = digestOf(&rs[i])
	}
	return rs, ds
}

// keyStem returns a segment key up to its contents hash,
// readings/HOUR/SOURCEHASH, which every segment of its sensor-hour
// shares.
func keyStem(key string) string {
	if i := strings.LastIndexByte(key, '-'); i > 0 {
		return key[:i]
	}
	return key
}

// storedKeys returns the keys of the stored segments of the sources and
// hours of segs, by key stem, from one index lookup per source over the
// hours that segs span. A user who may not read the namespace gets an
// error wrapping store.ErrForbidden.
func (s *ingestSealer) storedKeys(ctx context.Context, user, ns string, segs []search.Segment) (map[string][]string, error) {
	type span struct{ first, last int64 }
	spans := make(map[string]*span)
	var sources []string
	for _, seg := range segs {
		sp := spans[seg.Source]
		if sp == nil {
			spans[seg.Source] = &span{seg.Hour, seg.Hour}
			sources = append(sources, seg.Source)
			continue
		}
		sp.first, sp.last = min(sp.first, seg.Hour), max(sp.last, seg.Hour)
	}
	listed := make([][]string, len(sources))
	failed := forEachLimit(len(sources), sealedPutParallelism, func(i int) error {
		sp := spans[sources[i]]
		from, to := time.Unix(sp.first*3600, 0).UTC(), time.Unix((sp.last+1)*3600, 0).UTC()
		q := search.Query{Namespace: ns, Sensor: sources[i], From: from, To: to}
		var err error
		if listed[i], err = s.n.search.querier.SegmentKeys(ctx, user, q); err != nil {
			return fmt.Errorf("node: list the stored segments of sensor %s from %s to %s: %w",
				sources[i], from.Format(time.RFC3339), to.Format(time.RFC3339), err)
		}
		return nil
	})
	if len(failed) > 0 {
		return nil, failed[0]
	}
	out := make(map[string][]string)
	for _, keys := range listed {
		for _, key := range keys {
			stem := keyStem(key)
			out[stem] = append(out[stem], key)
		}
	}
	return out, nil
}

// hourSegments returns the segments of the sensor-hour of news, which
// are new segments of one source and hour, by key: the stored ones,
// whose keys are stored, from the cache or a read, and the new ones.
// A source whose name has the same 16-digit hash shares the stem, so the
// reads keep the readings of this source alone.
func (s *ingestSealer) hourSegments(ctx context.Context, user, ns string, news []search.Segment, stored []string) (map[string]*hourSegment, error) {
	first := news[0]
	stem := keyStem(first.Key)
	querier := s.n.search.querier
	id := user + "\x00" + ns + "\x00" + stem
	cached := s.overlaps.get(id, stored)
	segs := make(map[string]*hourSegment, len(stored)+len(news))
	fresh := make(map[string][]readingDigest)
	for _, key := range stored {
		if slices.ContainsFunc(news, func(seg search.Segment) bool { return seg.Key == key }) {
			continue // a retry: the new segment is the same
		}
		if ds, ok := cached[key]; ok {
			segs[key] = &hourSegment{digests: ds}
			continue
		}
		rs, err := querier.Segment(ctx, user, search.Query{Namespace: ns, Sensor: first.Source}, key)
		if err != nil {
			return nil, fmt.Errorf("node: read stored segment %q to count its shared readings once: %w", key, err)
		}
		rs, ds := distinctReadings(rs)
		segs[key] = &hourSegment{digests: ds, readings: rs}
		fresh[key] = ds
	}
	for _, seg := range news {
		rs, ds := distinctReadings(seg.Readings)
		segs[seg.Key] = &hourSegment{digests: ds, readings: rs, isNew: true}
		fresh[seg.Key] = ds
	}
	s.overlaps.put(id, fresh)
	return segs, nil
}

// lowestKeys returns, for every digest of the segments of keys, the
// lowest of keys whose segment holds it.
func lowestKeys(segs map[string]*hourSegment, keys []string) map[readingDigest]string {
	lowest := make(map[readingDigest]string)
	for _, key := range slices.Sorted(slices.Values(keys)) {
		for _, d := range segs[key].digests {
			if _, ok := lowest[d]; !ok {
				lowest[d] = key
			}
		}
	}
	return lowest
}

// sealHour returns the ciphertext records of news, new segments of one
// source and hour, each with the readings that no lower-keyed segment of
// the hour contains. It also returns new records for the stored segments
// that lose readings to one of news. stored lists the keys of the stored
// segments of the hour.
func (s *ingestSealer) sealHour(ctx context.Context, user, ns string, sl *segmentSealer, news []search.Segment, stored []string) ([]search.Record, error) {
	// Every reading of a new segment must pass the value checks, also
	// those that another segment counts.
	for _, seg := range news {
		rs, _ := distinctReadings(seg.Readings)
		if _, _, err := fixedSums(rs, sl.plan); err != nil {
			return nil, err
		}
	}
	segs, err := s.hourSegments(ctx, user, ns, news, stored)
	if err != nil {
		return nil, err
	}
	before := lowestKeys(segs, stored)
	after := lowestKeys(segs, slices.Collect(maps.Keys(segs)))

	// A stored segment that was the lowest to hold a reading of a new one
	// and no longer is loses that reading.
	resealed := make(map[string]bool)
	for _, seg := range news {
		for _, d := range segs[seg.Key].digests {
			if old, ok := before[d]; ok && !segs[old].isNew && after[d] != old {
				resealed[old] = true
			}
		}
	}

	var out []search.Record
	done := make(map[string]bool)
	for _, seg := range news {
		if done[seg.Key] {
			continue
		}
		done[seg.Key] = true
		rec, err := sl.seal(seg, counted(segs[seg.Key], seg.Key, after))
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	for _, key := range slices.Sorted(maps.Keys(resealed)) {
		hs := segs[key]
		if hs.readings == nil {
			rs, err := s.n.search.querier.Segment(ctx, user, search.Query{Namespace: ns, Sensor: news[0].Source}, key)
			if err != nil {
				return nil, fmt.Errorf("node: read stored segment %q to seal it again without the readings a new segment counts: %w", key, err)
			}
			hs.readings, _ = distinctReadings(rs)
		}
		rec, err := sl.seal(search.Segment{Key: key, Source: news[0].Source, Hour: news[0].Hour}, counted(hs, key, after))
		if errors.Is(err, sensor.ErrInvalid) {
			// A segment stored before the namespace was sealed may hold a
			// value the seal rejects. It has no ciphertext, and a sealed
			// job over it fails, so this write need not fail too.
			s.n.log.Warn("stored segment not sealed again: it contains a value the seal rejects", "namespace", ns,
				"segment", key, "err", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// counted returns the readings of hs, the segment at key, that it is the
// lowest-keyed segment to hold.
func counted(hs *hourSegment, key string, lowest map[readingDigest]string) []sensor.Reading {
	var out []sensor.Reading
	for i := range hs.readings {
		if lowest[digestOf(&hs.readings[i])] == key {
			out = append(out, hs.readings[i])
		}
	}
	return out
}
