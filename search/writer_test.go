package search

import (
	"context"
	"errors"
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
