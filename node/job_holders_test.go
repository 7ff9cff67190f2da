package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
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

// segmentKeysForTest returns n segment keys of 100 sources over n/100
// hours, in the form search.Writer stores them.
func segmentKeysForTest(n int) []string {
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	keys := make([]string, n)
	for i := range keys {
		hour := start.Add(time.Duration(i/100) * time.Hour).Format("2006-01-02T15")
		keys[i] = fmt.Sprintf("readings/%s/%016x-%016x", hour, i%100, i)
	}
	slices.Sort(keys)
	return keys
}

func nodeIDForTest(i int) identity.NodeID {
	return identity.NodeID(sha256.Sum256([]byte(fmt.Sprint("node ", i))))
}

// A job of 20,000 segments whose segments share 17 holders, as segments
// stored inline in one directory shard do, keeps all 17 for every
// segment, and its snapshot fits a JobState message. Repeating the list
// per segment allowed holders only up to 7,943 segments.
func TestAssignHoldersSharedList(t *testing.T) {
	const segments = 20_000
	units, err := jobUnits(segmentKeysForTest(segments), jobSegmentsPerUnit)
	if err != nil {
		t.Fatal(err)
	}
	var segs []*sched.Segment
	for i := range units {
		for j := range units[i].Segments {
			segs = append(segs, &units[i].Segments[j])
		}
	}
	shared := make([]identity.NodeID, 17)
	for i := range shared {
		shared[i] = nodeIDForTest(i)
	}
	holders := make([][]identity.NodeID, len(segs))
	for i := range holders {
		holders[i] = shared
	}

	lists, perList := assignHolders(segs, holders)
	if lists != 1 || perList != sched.MaxHolders {
		t.Fatalf("assignHolders = %d lists, up to %d holders kept; want 1 and %d", lists, perList, sched.MaxHolders)
	}
	for i, s := range segs {
		if len(s.Holders) != 17 || s.Holders[16] != sched.WorkerID(shared[16].String()) {
			t.Fatalf("segment %d has holders %v, want the 17 shared ones", i, s.Holders)
		}
	}

	m, err := sched.New(jobConfig(1), 1, units)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := m.Snapshot().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) > wire.MaxMessageSize-64<<10 {
		t.Errorf("snapshot of %d segments is %d bytes, leaving less than 64 KiB of a %d-byte message for the spec",
			segments, len(snap), wire.MaxMessageSize)
	}
	back, err := sched.DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Units[len(back.Units)-1].Segments[0].Holders; len(got) != 17 {
		t.Errorf("decoded snapshot lists holders %v for the last unit, want 17", got)
	}
	t.Logf("snapshot of %d segments with 17 shared holders: %d bytes", segments, len(snap))
}

// Distinct holder lists share the budget: 1,000 lists keep 7 holders
// each, and 20,000 lists, one per segment, are more than the budget
// can name, so no segment keeps holders.
func TestAssignHoldersDistinctLists(t *testing.T) {
	for _, c := range []struct {
		lists, wantKept int
	}{{1_000, 7}, {20_000, 0}} {
		segs := make([]*sched.Segment, 20_000)
		holders := make([][]identity.NodeID, len(segs))
		for i := range segs {
			segs[i] = &sched.Segment{Key: fmt.Sprint(i), Readings: 1}
			first := i % c.lists
			for j := range 17 {
				holders[i] = append(holders[i], nodeIDForTest(first+j*c.lists))
			}
		}
		lists, perList := assignHolders(segs, holders)
		if lists != c.lists || perList != c.wantKept {
			t.Errorf("%d lists: assignHolders = %d lists, up to %d holders kept; want %d and %d", c.lists, lists, perList, c.lists, c.wantKept)
		}
		for i, s := range segs {
			if len(s.Holders) != c.wantKept {
				t.Fatalf("%d lists: segment %d has %d holders, want %d", c.lists, i, len(s.Holders), c.wantKept)
			}
		}
	}
}
