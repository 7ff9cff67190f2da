package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
	"github.com/yuinet/yui/storage/store"
)

// dataPath returns the path of a file of the public sensor datasets,
// which live in shared/data/sensors in a folder above the repository.
func dataPath(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data", "sensors", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("dataset %s not found in shared/data/sensors of any folder above the test", rel)
		}
		dir = parent
	}
}

// loadULB imports the first n readings of the ULB library file, placing
// each mote at the position of the Intel lab mote with the same number,
// since the ULB files carry no positions.
func loadULB(t testing.TB, n int) []sensor.Reading {
	t.Helper()
	locs, _, err := importer.LoadLocationsFile(dataPath(t, "intel-lab/mote_locs.txt"), importer.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var out []sensor.Reading
	stop := errors.New("enough")
	_, err = importer.ImportFile(dataPath(t, "ulb-library1/R1.txt"), importer.Options{Locations: locs, Logger: quietLogger()}, func(r sensor.Reading) error {
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

// gateReadings returns readings of two gate sensors with text and geo
// locations, every 20 minutes over three days, so that time ranges cross
// whole days.
func gateReadings() []sensor.Reading {
	start := time.Date(2026, 3, 1, 0, 10, 0, 0, time.UTC)
	var out []sensor.Reading
	for i := range 3 * 24 * 3 {
		at := start.Add(time.Duration(i) * 20 * time.Minute)
		status := "closed"
		if at.Hour() >= 8 && at.Hour() < 20 {
			status = "open"
		}
		if i%17 == 0 {
			status = "jammed"
		}
		out = append(out,
			sensor.Reading{Source: "gate-north", Time: at, Location: sensor.GeoPoint(50.8466, 4.3528),
				Fields: []sensor.Field{{Name: "status", Value: sensor.Text(status)}, {Name: "passes", Value: sensor.Number(float64(i % 9))}}},
			sensor.Reading{Source: "gate-south", Time: at.Add(time.Minute), Location: sensor.GeoPoint(50.8120, 4.3810),
				Fields: []sensor.Field{{Name: "status", Value: sensor.Text("open")}, {Name: "passes", Value: sensor.Number(float64(i % 5))}}},
		)
	}
	return out
}

// bruteMatch is an independent check of a query on one reading, written
// from Query's documentation, for comparing the index's results with.
func bruteMatch(q *Query, r *sensor.Reading) bool {
	if q.Sensor != "" && q.Sensor != r.Source {
		return false
	}
	if !q.From.IsZero() && r.Time.UnixNano() < q.From.UnixNano() {
		return false
	}
	if !q.To.IsZero() && r.Time.UnixNano() >= q.To.UnixNano() {
		return false
	}
	for _, c := range q.Where {
		v, ok := r.Get(c.Field)
		if !ok || !bruteCompare(v, c) {
			return false
		}
	}
	if n := q.Near; n != nil {
		if r.Location == nil || r.Location.Kind != n.Center.Kind {
			return false
		}
		var d float64
		if n.Center.Kind == sensor.Plane {
			d = math.Sqrt((r.Location.X-n.Center.X)*(r.Location.X-n.Center.X) + (r.Location.Y-n.Center.Y)*(r.Location.Y-n.Center.Y))
		} else {
			d = haversine(n.Center.Lat, n.Center.Lon, r.Location.Lat, r.Location.Lon)
		}
		if d > n.Radius {
			return false
		}
	}
	return true
}

func bruteCompare(v sensor.Value, c Condition) bool {
	if s, ok := v.Text(); ok {
		want, isText := c.Value.Text()
		return isText && ((c.Op == Equal && s == want) || (c.Op == NotEqual && s != want))
	}
	x, ok := v.Number()
	y, isNumber := c.Value.Number()
	if !ok || !isNumber {
		return false
	}
	return map[Op]bool{Equal: x == y, NotEqual: x != y, Less: x < y, LessEqual: x <= y, Greater: x > y, GreaterEqual: x >= y}[c.Op]
}

func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	a := math.Pow(math.Sin((lat2-lat1)*rad/2), 2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Pow(math.Sin((lon2-lon1)*rad/2), 2)
	return 2 * 6371008.8 * math.Asin(math.Sqrt(a))
}

func bruteQuery(all []sensor.Reading, q Query) []sensor.Reading {
	var out []sensor.Reading
	for i := range all {
		if bruteMatch(&q, &all[i]) {
			out = append(out, all[i])
		}
	}
	slices.SortStableFunc(out, func(a, b sensor.Reading) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// dataset is the readings a test cluster stores, written in batches as an
// import would hand them over.
type dataset struct {
	cluster *testCluster
	all     []sensor.Reading
	start   time.Time // of the first ULB reading
}

// writeDataset writes the first ulb readings of the ULB file, a third as
// many under the race detector, and the gate readings.
func writeDataset(t *testing.T, c *testCluster, ns string, ulb int) *dataset {
	t.Helper()
	if raceEnabled {
		ulb /= 3
	}
	ctx := context.Background()
	all := append(loadULB(t, ulb), gateReadings()...)
	for batch := range slices.Chunk(all, 500) {
		if err := c.node(0).writer.Write(ctx, "", ns, batch); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	return &dataset{cluster: c, all: all, start: all[0].Time}
}

func textValue(s string) sensor.Value { return sensor.Text(s) }

func TestQueryMatchesBruteForce(t *testing.T) {
	c := newCluster(t, 5, "col7")
	d := writeDataset(t, c, "library", 2500)
	ulbStart := d.start.Truncate(time.Hour)
	gates := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name string
		q    Query
	}{
		{"sensor", Query{Sensor: "20"}},
		{"sensor and time range", Query{Sensor: "4", From: d.start.Add(20 * time.Minute), To: d.start.Add(70 * time.Minute)}},
		{"time range", Query{From: d.start.Add(30 * time.Minute), To: d.start.Add(45 * time.Minute)}},
		{"time range over whole days", Query{From: gates.Add(10*time.Hour + 30*time.Minute), To: gates.Add(53 * time.Hour)}},
		{"sensor over whole days", Query{Sensor: "gate-north", From: gates.Add(23 * time.Hour), To: gates.Add(72 * time.Hour)}},
		{"open start", Query{Sensor: "11", To: ulbStart.Add(time.Hour)}},
		{"indexed number", Query{Where: []Condition{{Field: "col7", Op: Equal, Value: sensor.Number(20)}}}},
		{"unindexed number with sensor", Query{Sensor: "10", Where: []Condition{{Field: "col3", Op: Greater, Value: sensor.Number(21.5)}}}},
		{"unindexed number equal", Query{Sensor: "12", Where: []Condition{{Field: "col8", Op: Equal, Value: sensor.Number(2)}}}},
		{"text", Query{Where: []Condition{{Field: "status", Op: Equal, Value: textValue("jammed")}}}},
		{"text not equal", Query{Sensor: "gate-north", Where: []Condition{{Field: "status", Op: NotEqual, Value: textValue("open")}}}},
		{"text and time", Query{Where: []Condition{{Field: "status", Op: Equal, Value: textValue("open")}}, From: gates.Add(30 * time.Hour), To: gates.Add(40 * time.Hour)}},
		{"near plane", Query{Near: &Near{Center: *sensor.PlanePoint(20, 20), Radius: 8}}},
		{"near plane and time", Query{Near: &Near{Center: *sensor.PlanePoint(5, 10), Radius: 12}, From: d.start, To: d.start.Add(time.Hour)}},
		{"near geo", Query{Near: &Near{Center: *sensor.GeoPoint(50.845, 4.355), Radius: 1500}}},
		{"near geo wide", Query{Near: &Near{Center: *sensor.GeoPoint(50.83, 4.36), Radius: 20000}, Where: []Condition{{Field: "passes", Op: GreaterEqual, Value: sensor.Number(3)}}}},
		{"nothing matches", Query{Sensor: "no-such-sensor"}},
		{"everything with limit", Query{Limit: 50}},
		{"sensor with limit", Query{Sensor: "7", Limit: 10}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			q := tt.q
			q.Namespace = "library"
			want := bruteQuery(d.all, q)
			got, err := c.node(0).querier.Query(ctx, "", q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			assertSameReadings(t, got, want)
		})
	}
}

func assertSameReadings(t *testing.T, got, want []sensor.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("query returned %d readings, brute force %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Equal(&want[i]) {
			t.Fatalf("reading %d is %+v, brute force has %+v", i, got[i], want[i])
		}
	}
}

// TestSegmentsOfULBFitInline checks the sizes the package documentation
// states: ULB segments fit inline and an hour of a mote takes at most two.
func TestSegmentsOfULBFitInline(t *testing.T) {
	segs, err := buildSegments(loadULB(t, 2500))
	if err != nil {
		t.Fatal(err)
	}
	perHour := make(map[string]int)
	for _, s := range segs {
		if len(s.data) > store.InlineMax {
			t.Errorf("segment %s is %d bytes, above the inline limit %d", s.key, len(s.data), store.InlineMax)
		}
		perHour[fmt.Sprint(s.source, s.hour)]++
	}
	for k, n := range perHour {
		if n > 2 {
			t.Errorf("sensor and hour %s take %d segments, want at most 2", k, n)
		}
	}
	t.Logf("%d readings in %d segments", 2500, len(segs))
}

// TestRewrittenReadingsCountOnce writes readings, then the same readings
// again in batches cut elsewhere, as a second import of one file does,
// so the second write stores segments with other contents. Queries and
// aggregates must still see each reading once.
func TestRewrittenReadingsCountOnce(t *testing.T) {
	c := newCluster(t, 3)
	all := loadULB(t, 600)
	ctx := context.Background()
	for _, size := range []int{250, 170} {
		for batch := range slices.Chunk(all, size) {
			if err := c.node(0).writer.Write(ctx, "", "twice", batch); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
	}

	q := Query{Namespace: "twice", Sensor: "20"}
	got, err := c.node(0).querier.Query(ctx, "", q)
	if err != nil {
		t.Fatal(err)
	}
	assertSameReadings(t, got, bruteQuery(all, q))

	groups, err := c.node(0).querier.Aggregate(ctx, "", Query{Namespace: "twice"}, All)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Count != len(all) {
		t.Errorf("aggregate counts %v, want one group of %d readings", groups, len(all))
	}
}

// TestRepeatsInOneSegmentCountOnce writes one batch that holds
// some readings twice, as a file with repeated rows does, so the
// repeats share a segment. Queries, aggregates and Segments, which jobs
// read, must count each reading once, as sealed page sums do.
func TestRepeatsInOneSegmentCountOnce(t *testing.T) {
	c := newCluster(t, 3)
	all := loadULB(t, 200)
	batch := append(slices.Clone(all), all[:50]...)
	ctx := context.Background()
	if err := c.node(0).writer.Write(ctx, "", "repeats", batch); err != nil {
		t.Fatalf("Write: %v", err)
	}

	q := Query{Namespace: "repeats", Sensor: all[0].Source}
	got, err := c.node(0).querier.Query(ctx, "", q)
	if err != nil {
		t.Fatal(err)
	}
	assertSameReadings(t, got, bruteQuery(all, q))

	groups, err := c.node(0).querier.Aggregate(ctx, "", Query{Namespace: "repeats"}, All)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Count != len(all) {
		t.Errorf("aggregate counts %v, want one group of %d readings", groups, len(all))
	}

	whole := Query{Namespace: "repeats"}
	keys, err := c.node(0).querier.SegmentKeys(ctx, "", whole)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.node(0).querier.Segments(ctx, "", whole, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(all) {
		t.Errorf("Segments returned %d readings, want %d", len(rs), len(all))
	}
}
