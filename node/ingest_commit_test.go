package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/yuinet/yui/sensor"
)

// gateSink blocks each write until the test lets it through.
type gateSink struct {
	recordingSink
	gate chan struct{}
}

func (s *gateSink) Write(ctx context.Context, user, namespace string, readings []sensor.Reading) error {
	<-s.gate
	return s.recordingSink.Write(ctx, user, namespace, readings)
}

func reading(source string) []sensor.Reading {
	return []sensor.Reading{{Source: source, Time: time.Unix(0, 0).UTC()}}
}

func TestGroupCommitMergesWaitingWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &gateSink{gate: make(chan struct{})}
		g := newGroupCommit(func() sensor.Sink { return sink })
		defer g.close()
		ctx := context.Background()

		var wg sync.WaitGroup
		errs := make([]error, 6)
		wg.Go(func() { errs[0] = g.write(ctx, sinkTarget{"default", "lab"}, reading("first")) })
		synctest.Wait() // the first write is in the sink

		for i := 1; i < 6; i++ {
			target := sinkTarget{"default", "lab"}
			if i == 5 {
				target.namespace = "other"
			}
			wg.Go(func() { errs[i] = g.write(ctx, target, reading(fmt.Sprint(i))) })
		}
		synctest.Wait() // the others wait for it
		close(sink.gate)
		wg.Wait()

		for i, err := range errs {
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
		writes := sink.all()
		if len(writes) != 3 {
			t.Fatalf("sink got %d writes, want the first, then one per namespace", len(writes))
		}
		// The waiting writes reach the sink in the order they queued.
		counts := map[string]int{}
		for _, w := range writes[1:] {
			counts[w.namespace] += len(w.readings)
		}
		if counts["lab"] != 4 || counts["other"] != 1 {
			t.Errorf("later writes = %v readings by namespace, want 4 to lab and 1 to other", counts)
		}
	})
}

func TestGroupCommitReturnsSinkError(t *testing.T) {
	g := newGroupCommit(func() sensor.Sink { return &recordingSink{err: errors.New("disk on fire")} })
	defer g.close()
	err := g.write(context.Background(), sinkTarget{"default", "lab"}, reading("s"))
	if err == nil || err.Error() != "disk on fire" {
		t.Fatalf("write = %v, want the sink's error", err)
	}
}

func TestGroupCommitStopsWaitingOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &gateSink{gate: make(chan struct{})}
		g := newGroupCommit(func() sensor.Sink { return sink })
		ctx, cancel := context.WithCancel(context.Background())

		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			err = g.write(ctx, sinkTarget{"default", "lab"}, reading("s"))
		}()
		synctest.Wait()
		cancel()
		<-done
		if !errors.Is(err, context.Canceled) {
			t.Errorf("write after cancel = %v, want context.Canceled", err)
		}
		close(sink.gate)
		g.close()
		g.close() // a second close returns too
	})
}

// pickySink rejects, after the gate, every write with a reading of
// source "bad", as a sealed namespace rejects a value it cannot hold.
type pickySink struct{ gateSink }

func (s *pickySink) Write(ctx context.Context, user, namespace string, readings []sensor.Reading) error {
	<-s.gate
	for _, r := range readings {
		if r.Source == "bad" {
			return fmt.Errorf("%w: reading of bad", sensor.ErrInvalid)
		}
	}
	return s.recordingSink.Write(ctx, user, namespace, readings)
}

func TestGroupCommitIsolatesInvalidRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &pickySink{gateSink{gate: make(chan struct{})}}
		g := newGroupCommit(func() sensor.Sink { return sink })
		defer g.close()
		ctx := context.Background()
		target := sinkTarget{"default", "lab"}

		var wg sync.WaitGroup
		errs := make([]error, 4)
		wg.Go(func() { errs[0] = g.write(ctx, target, reading("first")) })
		synctest.Wait()
		for i, source := range []string{"good", "bad", "fine"} {
			wg.Go(func() { errs[i+1] = g.write(ctx, target, reading(source)) })
		}
		synctest.Wait()
		close(sink.gate)
		wg.Wait()

		for i, source := range []string{"first", "good", "bad", "fine"} {
			if wantErr := source == "bad"; (errs[i] != nil) != wantErr || (wantErr && !errors.Is(errs[i], sensor.ErrInvalid)) {
				t.Errorf("write of %s: error %v, want an error only for bad", source, errs[i])
			}
		}
		if n := len(sink.all()); n != 3 {
			t.Errorf("sink stored %d writes, want first, good and fine", n)
		}
	})
}
