package search

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

func TestTimeCover(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	h := hourOf(day)
	tests := []struct {
		name        string
		from, to    time.Time
		hours, days []int64
	}{
		{"within an hour", day.Add(10 * time.Minute), day.Add(20 * time.Minute), []int64{h}, nil},
		{"end on the hour", day.Add(30 * time.Minute), day.Add(2 * time.Hour), []int64{h, h + 1}, nil},
		{"whole day", day, day.Add(24 * time.Hour), nil, []int64{h / 24}},
		{"day and ends", day.Add(-time.Hour), day.Add(25*time.Hour + time.Second), []int64{h - 1, h + 24, h + 25}, []int64{h / 24}},
		{"before 1970", time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 30, 0, 0, time.UTC), []int64{-1, 0}, nil},
	}
	for _, tt := range tests {
		hours, days, ok := timeCover(tt.from, tt.to)
		if !ok {
			t.Errorf("%s: no cover", tt.name)
			continue
		}
		if !equalInts(hours, tt.hours) || !equalInts(days, tt.days) {
			t.Errorf("%s: hours %v days %v, want %v and %v", tt.name, hours, days, tt.hours, tt.days)
		}
	}
	if _, _, ok := timeCover(day, day.AddDate(2, 0, 0)); ok {
		t.Error("a two-year range is covered, want it left to the readings' check")
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNearCellsCoverCircle places random points within the radius of
// random centres and checks that each falls in a cell the query asks for.
func TestNearCellsCoverCircle(t *testing.T) {
	k, err := deriveKeys([store.IndexKeySize]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		var center sensor.Location
		var radius float64
		if i%2 == 0 {
			center = *sensor.GeoPoint(rng.Float64()*178-89, rng.Float64()*360-180)
			radius = math.Pow(10, 1+rng.Float64()*4.5) // 10 m to 300 km
		} else {
			center = *sensor.PlanePoint(rng.Float64()*200-100, rng.Float64()*200-100)
			radius = rng.Float64() * 200
		}
		tokens, ok := k.nearTokens(&center, radius)
		if !ok {
			continue
		}
		asked := make(map[wire.Hash]bool)
		for _, tok := range tokens {
			asked[tok] = true
		}
		for range 50 {
			p := pointWithin(rng, &center, radius)
			if d := distance(&center, p); d > radius {
				continue
			}
			if !anyAsked(k.cellTokens(p), asked) {
				t.Fatalf("point %+v at %.3f m of %+v (radius %.3f) is in no cell the query asks for", *p, distance(&center, p), center, radius)
			}
		}
	}
}

func anyAsked(tokens []wire.Hash, asked map[wire.Hash]bool) bool {
	for _, tok := range tokens {
		if asked[tok] {
			return true
		}
	}
	return false
}

// pointWithin returns a point near the edge of the circle, where cells
// are most likely to be missed.
func pointWithin(rng *rand.Rand, c *sensor.Location, radius float64) *sensor.Location {
	angle := rng.Float64() * 2 * math.Pi
	r := radius * (0.95 + 0.05*rng.Float64())
	if c.Kind == sensor.Plane {
		return sensor.PlanePoint(c.X+r*math.Cos(angle), c.Y+r*math.Sin(angle))
	}
	// Walk r metres from c on the sphere in direction angle.
	lat1, lon1 := c.Lat*math.Pi/180, c.Lon*math.Pi/180
	d := r / earthRadius
	lat2 := math.Asin(math.Sin(lat1)*math.Cos(d) + math.Cos(lat1)*math.Sin(d)*math.Cos(angle))
	lon2 := lon1 + math.Atan2(math.Sin(angle)*math.Sin(d)*math.Cos(lat1), math.Cos(d)-math.Sin(lat1)*math.Sin(lat2))
	lon := math.Mod(lon2*180/math.Pi+540, 360) - 180
	return sensor.GeoPoint(math.Max(-90, math.Min(90, lat2*180/math.Pi)), lon)
}

func TestEntrySealing(t *testing.T) {
	k, err := deriveKeys([store.IndexKeySize]byte{2})
	if err != nil {
		t.Fatal(err)
	}
	other, err := deriveKeys([store.IndexKeySize]byte{3})
	if err != nil {
		t.Fatal(err)
	}
	tok := k.sensorToken("s")
	sealed := k.seal(tok, []byte("readings/x"))
	if string(k.seal(tok, []byte("readings/x"))) != string(sealed) {
		t.Error("sealing one entry twice gives different bytes, so holders would store it twice")
	}
	if got, err := k.open(tok, sealed); err != nil || string(got) != "readings/x" {
		t.Errorf("open = %q, %v", got, err)
	}
	if _, err := k.open(k.sensorToken("t"), sealed); err == nil {
		t.Error("an entry opens under another token")
	}
	if _, err := other.open(tok, sealed); err == nil {
		t.Error("an entry opens under another namespace's key")
	}
	if _, err := k.open(tok, sealed[:5]); err == nil {
		t.Error("a truncated entry opens")
	}
	if k.sensorToken("s") == other.sensorToken("s") {
		t.Error("two index keys give the same token")
	}
}
