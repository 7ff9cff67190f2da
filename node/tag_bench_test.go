package node

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/tag"
)

// BenchmarkSightingsIngest posts gateway reports to one node of three,
// over HTTP, and reports the sightings stored per second: what one relay
// node can take from its gateways. A report covers one minute of one
// gateway. In "minute" it heard 100 tags beaconing every 5 s, which makes
// 1,200 sightings in 100 records. In "distinct" it heard 1,000 tags once
// each, the worst case of one record per sighting.
func BenchmarkSightingsIngest(b *testing.B) {
	_, clients := startTrioB(b)
	for _, bc := range []struct {
		name          string
		tags, beacons int
	}{
		{"minute", 100, 12},
		{"distinct", 1000, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchIngest(b, clients[0], bc.tags, bc.beacons)
		})
	}
}

func benchIngest(b *testing.B, c *api.Client, tags, beacons int) {
	ctx := context.Background()
	secrets := make([]tag.Secret, tags)
	for i := range secrets {
		secrets[i] = tag.NewSecret()
	}
	pos := tag.Point{X: 10, Y: 20}
	start := time.Now().Add(-24 * time.Hour)

	sightings, reports := 0, 0
	for b.Loop() {
		rep := &tag.Report{Relay: "gw-1", Position: &pos}
		for i := range beacons {
			t := start.Add(time.Duration(reports)*time.Minute + time.Duration(i)*5*time.Second)
			for j, s := range secrets {
				rep.Sightings = append(rep.Sightings, tag.Sighting{
					ID: tag.RotatingID(s, tag.Window(t)), RSSI: -60 - float64(j%30), Time: t})
			}
		}
		res, err := c.PostSightings(ctx, "", "", rep)
		if err != nil {
			b.Fatal(err)
		}
		sightings += res.Stored
		reports++
	}
	b.ReportMetric(float64(sightings)/b.Elapsed().Seconds(), "sightings/s")
}

// BenchmarkSightingsSweep stores 1,000 expired records on one node of
// three, then times one sweep that deletes them, and reports the records
// deleted per second.
func BenchmarkSightingsSweep(b *testing.B) {
	const records = 1000
	nodes, clients := startTrioB(b, func(c *Config) {
		c.SightingsKeep = time.Hour
		c.sightingsSweepEvery = 24 * time.Hour
	})
	ctx := context.Background()
	deleted := 0
	for b.Loop() {
		b.StopTimer()
		old := time.Now().Add(-2 * time.Hour)
		rep := &tag.Report{Relay: "gw-1"}
		for range records {
			id := tag.RotatingID(tag.NewSecret(), tag.Window(old))
			rep.Sightings = append(rep.Sightings, tag.Sighting{ID: id, RSSI: -70, Time: old})
		}
		if _, err := clients[0].PostSightings(ctx, "", "", rep); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n := nodes[0].sweepSightings(ctx, api.DefaultTagNetwork, nodes[0].sightingsCutoff(time.Now()))
		if n != records {
			b.Fatalf("sweep deleted %d records, want %d", n, records)
		}
		deleted += n
	}
	b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "records/s")
}

// startTrioB starts three nodes on 127.0.0.1 that know each other, as
// startTrio does for tests. Each option changes the first node's config.
func startTrioB(b *testing.B, options ...func(*Config)) ([]*Node, []*api.Client) {
	b.Helper()
	base := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*Node
	var clients []*api.Client
	for i, name := range []string{"a", "b", "c"} {
		var boot []string
		if i > 0 {
			boot = []string{nodes[0].Addr().String()}
		}
		cfg := Config{DataDir: filepath.Join(base, name), Listen: "127.0.0.1:0",
			API: "127.0.0.1:0", Bootstrap: boot, DiscoveryPort: -1, Logger: quiet}
		if i == 0 {
			for _, option := range options {
				option(&cfg)
			}
		}
		n, err := Start(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for len(n.Peers()) < 2 {
			if time.Now().After(deadline) {
				b.Fatalf("node %s knows %d peers, want 2", n.ID().Short(), len(n.Peers()))
			}
			time.Sleep(20 * time.Millisecond)
		}
		clients = append(clients, api.NewClient(n.APIAddr()))
	}
	return nodes, clients
}
