package node

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// TestReadingDigestMatchesEqual checks that two readings have the same
// digest exactly when sensor.Reading.Equal holds for them.
func TestReadingDigestMatchesEqual(t *testing.T) {
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	base := func() sensor.Reading {
		return sensor.Reading{Source: "mote-1", Time: at, Fields: []sensor.Field{
			{Name: "temperature", Value: sensor.Number(20.5)},
			{Name: "state", Value: sensor.Text("ok")},
		}}
	}
	cases := []struct {
		name   string
		change func(r *sensor.Reading)
	}{
		{"same", func(r *sensor.Reading) {}},
		{"negative zero", func(r *sensor.Reading) { r.Fields[0].Value = sensor.Number(math.Copysign(0, -1)) }},
		{"zero", func(r *sensor.Reading) { r.Fields[0].Value = sensor.Number(0) }},
		{"other value", func(r *sensor.Reading) { r.Fields[0].Value = sensor.Number(20.51) }},
		{"text for number", func(r *sensor.Reading) { r.Fields[0].Value = sensor.Text("20.5") }},
		{"missing value", func(r *sensor.Reading) { r.Fields[1].Value = sensor.Missing() }},
		{"fields swapped", func(r *sensor.Reading) { r.Fields[0], r.Fields[1] = r.Fields[1], r.Fields[0] }},
		{"one nanosecond later", func(r *sensor.Reading) { r.Time = r.Time.Add(time.Nanosecond) }},
		{"other source", func(r *sensor.Reading) { r.Source = "mote-2" }},
		{"located", func(r *sensor.Reading) { r.Location = sensor.GeoPoint(50.8, 4.4) }},
		{"located on a plane", func(r *sensor.Reading) { r.Location = sensor.PlanePoint(50.8, 4.4) }},
	}
	var readings []sensor.Reading
	for _, c := range cases {
		r := base()
		c.change(&r)
		readings = append(readings, r)
	}
	readings = append(readings, base())
	readings[len(readings)-1].Fields[0].Value = sensor.Number(0)
	for i := range readings {
		for j := range readings {
			equal := readings[i].Equal(&readings[j])
			same := digestOf(&readings[i]) == digestOf(&readings[j])
			if equal != same {
				t.Errorf("readings %d and %d: Equal %v, same digest %v", i, j, equal, same)
			}
		}
	}
}

// TestSealedJobCountsSharedReadingsOnce writes R1.txt readings to a
// sealed namespace in overlapping requests: one, then one that repeats
// part of it and adds more, then one whose segment key sorts below the
// stored segments of its sensor-hour and that repeats their readings.
// Sealed jobs must then give the plain jobs' counts and exact means for
// every group, and retries of the requests must change nothing.
func TestSealedJobCountsSharedReadingsOnce(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const ns = "overlap"
	if _, err := clients[0].SealNamespace(ctx, "", ns, api.SealRequest{}); err != nil {
		t.Fatal(err)
	}
	encryptedReaders(ctx, t, clients, ns)
	all := ulbReadings(t, 300)
	if n := len(search.DropDuplicates(slices.Clone(all))); n != len(all) {
		t.Fatalf("the first %d readings of R1.txt hold only %d distinct ones", len(all), n)
	}
	grantFeeders(ctx, t, clients, ns)
	write := func(c *api.Client, rs []sensor.Reading) {
		t.Helper()
		if _, err := c.WriteReadings(ctx, feeder(c, clients[0]), ns, rs); err != nil {
			t.Fatal(err)
		}
	}
	first, second := all[:150], all[100:220]
	write(clients[0], first)
	write(clients[0], second)

	third, higher := lowerSharedSegment(ctx, t, nodes[0], ns, all[100:150])
	before := sealedRecord(ctx, t, nodes[0], ns, higher)
	write(clients[0], third)
	if after := sealedRecord(ctx, t, nodes[0], ns, higher); bytes.Equal(after, before) {
		t.Errorf("ciphertext of %s, which shares readings with a lower-keyed new segment, was not sealed again", higher)
	}

	distinct := all[:220]
	compareSealedJobs(ctx, t, clients[0], ns, "after three writes", distinct)

	// Retries through other gateways, whose caches hold nothing, must
	// seal the same sums.
	write(clients[1], second)
	write(clients[2], third)
	write(clients[1], first)
	compareSealedJobs(ctx, t, clients[0], ns, "after retries", distinct)
}

// grantFeeders creates user "feeder" on the second and third node and
// grants it read and write access to the first node's namespace ns, so
// that those nodes can act as further gateways of its readings.
func grantFeeders(ctx context.Context, t *testing.T, clients []*api.Client, ns string) {
	t.Helper()
	for _, c := range clients[1:] {
		u, err := c.CreateUser(ctx, "feeder")
		if err != nil {
			t.Fatal(err)
		}
		for _, right := range []api.Right{api.RightRead, api.RightWrite} {
			g := api.Grant{User: "feeder", PublicKeys: u.PublicKeys, Right: right}
			if err := clients[0].Grant(ctx, "", ns, g); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// feeder returns the user that writes through c: the default user on
// the owner's node, "feeder" on the others.
func feeder(c, owner *api.Client) string {
	if c == owner {
		return ""
	}
	return "feeder"
}

// lowerSharedSegment returns readings of shared, all of one source and
// hour, whose segment key sorts below every stored segment of that
// source and hour, and the key of a stored segment that holds some of
// them. Dropping different readings changes the contents hash in the
// key, so some subset sorts lowest.
func lowerSharedSegment(ctx context.Context, t *testing.T, n *Node, ns string, shared []sensor.Reading) ([]sensor.Reading, string) {
	t.Helper()
	infos, err := n.storage.store.List(ctx, "", ns, "readings/")
	if err != nil {
		t.Fatal(err)
	}
	for _, pick := range shared {
		var hour []sensor.Reading
		for _, r := range shared {
			if r.Source == pick.Source && r.Time.Unix()/3600 == pick.Time.Unix()/3600 {
				hour = append(hour, r)
			}
		}
		key, err := search.SegmentKey(hour)
		if err != nil {
			t.Fatal(err)
		}
		var stored []string
		for _, info := range infos {
			if keyStem(info.Key) == keyStem(key) {
				stored = append(stored, info.Key)
			}
		}
		if len(stored) < 2 || len(hour) < 3 {
			continue
		}
		for drop := range hour {
			subset := slices.Delete(slices.Clone(hour), drop, drop+1)
			key, err := search.SegmentKey(subset)
			if err != nil {
				t.Fatal(err)
			}
			if key < slices.Min(stored) {
				return subset, slices.Min(stored)
			}
		}
	}
	t.Fatal("no subset of the shared readings has a segment key below the stored segments of its sensor-hour")
	return nil, ""
}

// sealedRecord returns the bytes of the ciphertext record of the segment
// at key.
func sealedRecord(ctx context.Context, t *testing.T, n *Node, ns, key string) []byte {
	t.Helper()
	suffix, _ := search.SegmentKeySuffix(key)
	var b bytes.Buffer
	if _, err := n.storage.store.Get(ctx, "", ns, sealedSegmentPrefix+suffix, &b, store.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compareSealedJobs runs plain and sealed jobs by hour and by sensor and
// hour, and checks that each sealed job's groups, counts and means equal
// the plain job's and the exact decimal means of distinct.
func compareSealedJobs(ctx context.Context, t *testing.T, c *api.Client, ns, step string, distinct []sensor.Reading) {
	t.Helper()
	aggs := []string{"count", "sum", "mean"}
	for _, by := range []string{"hour", "sensor,hour"} {
		info, err := c.SubmitJob(ctx, "", ns, api.JobRequest{Aggregates: aggs, By: by, Reader: "jobs"})
		if err != nil {
			t.Fatal(err)
		}
		plain := waitJobDone(ctx, t, c, info.ID)
		info, err = c.SubmitJob(ctx, "", ns, api.JobRequest{Aggregates: aggs, By: by, Reader: "hejobs", Encrypted: true})
		if err != nil {
			t.Fatal(err)
		}
		sealed := waitJobDone(ctx, t, c, info.ID)
		if sealed.Error != "" {
			t.Errorf("%s by %s: sealed job reports %q", step, by, sealed.Error)
		}
		checkSealedResult(t, fmt.Sprintf("%s by %s", step, by), distinct, by, plain, sealed)
		total := 0
		for _, g := range sealed.Groups {
			total += g.Count
		}
		if total != len(distinct) {
			t.Errorf("%s by %s: sealed groups count %d readings, want the %d distinct ones", step, by, total, len(distinct))
		}
	}
}

// TestSealerCacheAvoidsReads writes a sensor's readings one request
// each, as MQTT ingest does, and checks that the gateway reads no stored
// segment to count shared readings once, since it sealed each itself.
// Another gateway then writes readings that repeat some of them: it
// reads each stored segment of the hour once, and a retry of its
// request reads none. The sealed job must still count every reading
// once.
func TestSealerCacheAvoidsReads(t *testing.T) {
	nodes, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns = "stream"
	if _, err := clients[0].SealNamespace(ctx, "", ns, api.SealRequest{}); err != nil {
		t.Fatal(err)
	}
	encryptedReaders(ctx, t, clients, ns)
	grantFeeders(ctx, t, clients, ns)
	start := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var stream []sensor.Reading
	for i := range 40 {
		stream = append(stream, sensor.Reading{Source: "mote-s", Time: start.Add(time.Duration(i) * 30 * time.Second),
			Fields: []sensor.Field{{Name: "temperature", Value: sensor.Number(20 + float64(i)/4)}}})
	}

	before := segmentsRead(nodes)
	for i := range stream {
		if _, err := clients[0].WriteReadings(ctx, "", ns, stream[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if after := segmentsRead(nodes); !slices.Equal(after, before) {
		t.Errorf("segments read per node went from %v to %v while one gateway wrote a stream, want no read", before, after)
	}

	extra := sensor.Reading{Source: "mote-s", Time: start.Add(59 * time.Minute),
		Fields: []sensor.Field{{Name: "temperature", Value: sensor.Number(-3.5)}}}
	repeat := append(slices.Clone(stream[5:10]), extra)
	read := nodes[1].search.querier.SegmentsRead()
	if _, err := clients[1].WriteReadings(ctx, "feeder", ns, repeat); err != nil {
		t.Fatal(err)
	}
	if got := nodes[1].search.querier.SegmentsRead() - read; got != int64(len(stream)) {
		t.Errorf("second gateway read %d segments to write readings it had not seen, want the %d stored ones", got, len(stream))
	}
	read = nodes[1].search.querier.SegmentsRead()
	if _, err := clients[1].WriteReadings(ctx, "feeder", ns, repeat); err != nil {
		t.Fatal(err)
	}
	if got := nodes[1].search.querier.SegmentsRead() - read; got != 0 {
		t.Errorf("retry through the same gateway read %d segments, want none", got)
	}

	distinct := append(slices.Clone(stream), extra)
	compareSealedJobs(ctx, t, clients[0], ns, "stream", distinct)
}
