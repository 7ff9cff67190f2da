package node

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestJobRunsUnitsOnHolders runs a job of one segment per unit on three
// nodes over real QUIC, every node a worker. The units must run on nodes
// that hold their segments, and the mean of every field per sensor and
// hour must equal a brute-force computation over the readings.
//
// With three nodes every node holds every segment (a namespace keeps 17
// directory replicas and up to 48 shards), so every byte should count as
// read on a holder. Before the submitter looked up the holders no byte
// did, because the units listed none.
func TestJobRunsUnitsOnHolders(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
	readings := ulbReadings(t, 600)
	if _, err := clients[0].WriteReadings(ctx, "", "library", readings); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}

	type stats struct {
		count int
		sum   big.Rat
	}
	want := make(map[string]map[string]*stats)
	for _, r := range readings {
		group := r.Source + " " + r.Time.UTC().Truncate(time.Hour).Format(time.RFC3339)
		if want[group] == nil {
			want[group] = make(map[string]*stats)
		}
		for _, f := range r.Fields {
			x, ok := f.Value.Number()
			if !ok {
				continue
			}
			s := want[group][f.Name]
			if s == nil {
				s = &stats{}
				want[group][f.Name] = s
			}
			s.count++
			s.sum.Add(&s.sum, new(big.Rat).SetFloat64(x))
		}
	}

	info, err := clients[0].SubmitJob(ctx, "", "library", api.JobRequest{Aggregates: []string{"count", "mean"},
		By: "sensor,hour", SegmentsPerUnit: 1, Reader: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	st := waitJobDone(ctx, t, clients[0], info.ID)

	if len(st.Groups) != len(want) {
		t.Fatalf("job returned %d sensor-hours, the readings span %d", len(st.Groups), len(want))
	}
	for _, g := range st.Groups {
		w := want[g.Sensor+" "+g.Start.UTC().Format(time.RFC3339)]
		if len(g.Fields) != len(w) {
			t.Fatalf("sensor %s hour %v: %d numeric fields, want %d", g.Sensor, g.Start, len(g.Fields), len(w))
		}
		for name, f := range g.Fields {
			ws := w[name]
			sum, _ := ws.sum.Float64()
			if f.Count != ws.count || *f.Mean != sum/float64(ws.count) {
				t.Errorf("sensor %s hour %v field %s: count %d mean %v; want %d %v",
					g.Sensor, g.Start, name, f.Count, *f.Mean, ws.count, sum/float64(ws.count))
			}
		}
	}

	l := st.Locality
	if l == nil {
		t.Fatal("job status has no locality")
	}
	total := l.Cluster + l.Remote + l.Unknown
	if total == 0 {
		t.Fatalf("locality %+v counts no bytes", *l)
	}
	share := float64(l.Held) / float64(total)
	t.Logf("%d units, %d of %d input bytes read on a node holding them (%.1f%%)", st.Units, l.Held, total, 100*share)
	if share < 0.9 {
		t.Errorf("locality %+v: %.1f%% of the bytes read on a holder, want at least 90%% when every node holds every segment",
			*l, 100*share)
	}
	if l.HeldShare != share {
		t.Errorf("held share %v in the status, want %v", l.HeldShare, share)
	}
}
