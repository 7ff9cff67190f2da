package node

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// ulbReadings imports the first n readings of the ULB library dataset,
// which lives in shared/data/sensors of a folder above the repository,
// placing each mote at the Intel lab mote of the same number.
func ulbReadings(t testing.TB, n int) []sensor.Reading {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "data", "sensors")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("shared/data/sensors not found in any folder above the test")
		}
		dir = filepath.Dir(dir)
	}
	data := filepath.Join(dir, "shared", "data", "sensors")
	quiet := importer.Options{Logger: slog.New(slog.DiscardHandler)}
	locs, _, err := importer.LoadLocationsFile(filepath.Join(data, "intel-lab", "mote_locs.txt"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	var out []sensor.Reading
	stop := errors.New("enough")
	_, err = importer.ImportFile(filepath.Join(data, "ulb-library1", "R1.txt"), importer.Options{Locations: locs, Logger: quiet.Logger},
		func(r sensor.Reading) error {
			if len(out) == n {
				return stop
			}
			out = append(out, r)
			return nil
		})
	if err != nil && !errors.Is(err, stop) {
		t.Fatal(err)
	}
	return out
}

func decodeReadings(t *testing.T, res *api.QueryResult) []sensor.Reading {
	t.Helper()
	var out []sensor.Reading
	for _, raw := range res.Readings {
		r, err := sensor.DecodeJSON(raw, sensor.JSONOptions{})
		if err != nil {
			t.Fatalf("query returned a reading that does not decode: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// TestQueryOverQUIC stores readings through the ingest endpoint of one
// node of three on real QUIC and queries them through the API.
func TestQueryOverQUIC(t *testing.T) {
	_, clients := startTrio(t)
	ctx := context.Background()
	all := ulbReadings(t, 600)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}

	from, to := all[0].Time.Add(10*time.Minute), all[0].Time.Add(25*time.Minute)
	res, err := clients[0].Query(ctx, "", "library", api.QueryRequest{Sensor: "12", From: &from, To: &to})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	var want []sensor.Reading
	for _, r := range all {
		if r.Source == "12" && !r.Time.Before(from) && r.Time.Before(to) {
			want = append(want, r)
		}
	}
	got := decodeReadings(t, res)
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("query returned %d readings, the data holds %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Equal(&want[i]) {
			t.Fatalf("reading %d is %+v, want %+v", i, got[i], want[i])
		}
	}

	x, y := 20.0, 20.0
	agg, err := clients[0].Query(ctx, "", "library", api.QueryRequest{
		Near: &api.Near{X: &x, Y: &y, Radius: 6}, Aggregates: []string{"count", "mean"}, By: "sensor"})
	if err != nil {
		t.Fatalf("aggregate query: %v", err)
	}
	counts := make(map[string]int)
	for _, r := range all {
		if dx, dy := r.Location.X-x, r.Location.Y-y; dx*dx+dy*dy <= 36 {
			counts[r.Source]++
		}
	}
	if len(agg.Groups) != len(counts) || len(counts) == 0 {
		t.Fatalf("aggregate has %d groups, the data %d sensors near the point", len(agg.Groups), len(counts))
	}
	for _, g := range agg.Groups {
		if g.Count != counts[g.Sensor] {
			t.Errorf("sensor %s: count %d, want %d", g.Sensor, g.Count, counts[g.Sensor])
		}
		if f := g.Fields["col3"]; f.Mean == nil || f.Min != nil {
			t.Errorf("sensor %s: col3 stats %+v, want the mean alone", g.Sensor, f)
		}
	}

	// Another node's default user holds no key of the namespace.
	var se *api.StatusError
	_, err = clients[1].Query(ctx, "", "library", api.QueryRequest{Sensor: "12"})
	if !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Errorf("query by a user without access: %v, want status 403", err)
	}
	_, err = clients[0].Query(ctx, "", "library", api.QueryRequest{Where: []api.Condition{{Field: "col3", Op: "~", Value: []byte("1")}}})
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Errorf("query with an unknown operator: %v, want status 400", err)
	}
	_, err = clients[0].Query(ctx, "", "library", api.QueryRequest{Sensor: "12", Limit: -1})
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Errorf("query with limit -1: %v, want status 400", err)
	}
}

// TestIndexRepairOverQUIC adds a fourth node to a trio that holds an
// index: the repair passes of the trio send it the postings of the
// partitions it now holds, and a later pass finds every holder in sync
// and sends nothing.
func TestIndexRepairOverQUIC(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx := context.Background()
	all := ulbReadings(t, 300)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}
	fourth := startLocal(t, filepath.Join(t.TempDir(), "d"), nodes[0].Addr().String())
	nodes = append(nodes, fourth)
	clients = append(clients, api.NewClient(fourth.APIAddr()))
	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know the 3 others", func() bool { return len(n.Peers()) == 3 })
	}

	sent := 0
	for i, c := range clients[:3] {
		rep, err := c.Repair(ctx)
		if err != nil {
			t.Fatalf("repair on node %d: %v", i, err)
		}
		if rep.IndexPartitions == 0 {
			t.Errorf("node %d checked no index partition", i)
		}
		if rep.IndexErrors != 0 {
			t.Errorf("node %d: %d index transfers failed", i, rep.IndexErrors)
		}
		sent += rep.IndexPostingsSent
	}
	if sent == 0 {
		t.Fatal("the trio sent the new node no postings")
	}
	t.Logf("the trio sent the new node %d postings", sent)

	for i, c := range clients {
		rep, err := c.Repair(ctx)
		if err != nil {
			t.Fatalf("second repair on node %d: %v", i, err)
		}
		if rep.IndexPostingsSent != 0 || rep.IndexErrors != 0 {
			t.Errorf("second repair on node %d sent %d postings with %d errors, want none", i, rep.IndexPostingsSent, rep.IndexErrors)
		}
	}
}
