package search

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/sensor"
)

// TestConcurrentFirstWrites writes to a namespace that does not exist yet
// from several goroutines at once: the writer must create it once, and
// every reading must be found.
func TestConcurrentFirstWrites(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var all []sensor.Reading
	var batches [][]sensor.Reading
	for s := range 4 {
		var batch []sensor.Reading
		for i := range 30 {
			batch = append(batch, sensor.Reading{
				Source: "pump-" + string(rune('a'+s)),
				Time:   start.Add(time.Duration(i) * 3 * time.Minute),
				Fields: []sensor.Field{{Name: "flow", Value: sensor.Number(float64(i))}},
			})
		}
		batches = append(batches, batch)
		all = append(all, batch...)
	}

	var wg sync.WaitGroup
	errs := make([]error, len(batches))
	for i, batch := range batches {
		wg.Go(func() { errs[i] = c.node(0).writer.Write(ctx, "", "pumps", batch) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}

	got, err := c.node(0).querier.Query(ctx, "", Query{Namespace: "pumps"})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	assertSameReadings(t, got, bruteQuery(all, Query{Namespace: "pumps"}))
}

func TestWriteRejectsInvalidReading(t *testing.T) {
	c := newCluster(t, 1)
	bad := []sensor.Reading{{Source: "ok", Time: time.Now().UTC()}, {Source: "", Time: time.Now().UTC()}}
	err := c.node(0).writer.Write(context.Background(), "", "ns", bad)
	if !errors.Is(err, sensor.ErrInvalid) {
		t.Fatalf("Write of a reading without a source: %v, want sensor.ErrInvalid", err)
	}
}

func TestParseSegmentKey(t *testing.T) {
	hour := hourOf(time.Date(2026, 12, 5, 4, 30, 0, 0, time.UTC))
	key := segmentKey("sensor-7", hour, []byte("data"))
	gotHour, src, ok := ParseSegmentKey(key)
	if !ok || gotHour != hour || src != SourceHash("sensor-7") {
		t.Errorf("ParseSegmentKey(%q) = %d, %q, %v; want %d, %q", key, gotHour, src, ok, hour, SourceHash("sensor-7"))
	}
	suffix, ok := SegmentKeySuffix(key)
	if !ok || "readings/"+suffix != key {
		t.Errorf("SegmentKeySuffix(%q) = %q, %v", key, suffix, ok)
	}
	for _, bad := range []string{"he/seg/x", "readings/2026-12-05T04/abc", "readings/2026-12-05T04"} {
		if _, _, ok := ParseSegmentKey(bad); ok {
			t.Errorf("ParseSegmentKey(%q) accepted a key that is not a segment's", bad)
		}
	}
}

// testSealer adds one record per segment, or fails every Write.
type testSealer struct{ fail error }

func (s testSealer) Seal(_ context.Context, _, _ string, segs []Segment) ([]Record, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	var out []Record
	for _, seg := range segs {
		suffix, ok := SegmentKeySuffix(seg.Key)
		if !ok {
			return nil, fmt.Errorf("segment key %q", seg.Key)
		}
		out = append(out, Record{Key: "sealed/" + suffix, ContentType: "text/plain", Data: fmt.Appendf(nil, "%d", len(seg.Readings))})
	}
	return out, nil
}

// TestWriteWithSealer checks that a Sealer's records are stored beside
// every segment, and that a Sealer's error stores nothing.
func TestWriteWithSealer(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	n := c.node(0)
	cfg := Config{Store: n.store, Network: n, Index: n.index, Logger: quietLogger()}
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var readings []sensor.Reading
	for i := range 90 {
		readings = append(readings, sensor.Reading{Source: fmt.Sprintf("pump-%d", i%3), Time: start.Add(time.Duration(i) * time.Minute),
			Fields: []sensor.Field{{Name: "flow", Value: sensor.Number(float64(i))}}})
	}

	cfg.Sealer = testSealer{fail: sensor.ErrInvalid}
	failing, err := NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := failing.Write(ctx, "", "pumps", readings); !errors.Is(err, sensor.ErrInvalid) {
		t.Fatalf("Write with a failing sealer: %v, want its error", err)
	}
	if infos, err := n.store.List(ctx, "", "pumps", segmentPrefix); err == nil && len(infos) > 0 {
		t.Fatalf("a failed seal left %d segments", len(infos))
	}

	cfg.Sealer = testSealer{}
	w, err := NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, "", "pumps", readings); err != nil {
		t.Fatal(err)
	}
	segs, err := n.store.List(ctx, "", "pumps", segmentPrefix)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := n.store.List(ctx, "", "pumps", "sealed/")
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 6 || len(sealed) != len(segs) {
		t.Fatalf("%d segments and %d sealed records, want one each per source and hour (6 or more)", len(segs), len(sealed))
	}
	for i := range segs {
		if want := "sealed/" + segs[i].Key[len(segmentPrefix):]; sealed[i].Key != want {
			t.Errorf("sealed record %d is %q, want %q", i, sealed[i].Key, want)
		}
	}
}
