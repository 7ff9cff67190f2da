package tag

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// townResult is the outcome of locating simulated tags in a town.
type townResult struct {
	errors []float64 // metres, sorted
	radii  []float64 // metres, sorted
	inside int       // estimates whose radius held the true position
}

// add records one estimate against the true position.
func (r *townResult) add(est Estimate, truth Point) {
	e := est.Position.Dist(truth)
	r.errors = append(r.errors, e)
	r.radii = append(r.radii, est.Radius)
	if e <= est.Radius {
		r.inside++
	}
}

func (r *townResult) sort() {
	slices.Sort(r.errors)
	slices.Sort(r.radii)
}

func (r townResult) share() float64 { return float64(r.inside) / float64(len(r.errors)) }
func (r townResult) median() float64 {
	return r.errors[len(r.errors)/2]
}
func (r townResult) quantile(q float64) float64 {
	return r.errors[int(q*float64(len(r.errors)-1))]
}

// simulateTown walks tags through a 10×10 town of relays 30 m apart,
// heard up to 40 m away, and locates every fix of every tag.
func simulateTown(t testing.TB, tags int, duration time.Duration, seed uint64) townResult {
	relays := Town(10, 10, 30, seed)
	sim := &Simulation{Model: ULBModel, Range: 40, Relays: relays, Beacon: 5 * time.Second,
		Speed: 1.3, ClockError: time.Minute, Seed: seed}
	simTags := NewSimTags("kid", tags, 20, relays, rand.New(rand.NewPCG(seed, 2)))

	start := WindowStart(29_500_000)
	truth := map[string]map[time.Time]Point{}
	var sightings []Sighting
	err := sim.Run(simTags, start, duration, func(s SimSighting) error {
		if truth[s.Tag] == nil {
			truth[s.Tag] = map[time.Time]Point{}
		}
		truth[s.Tag][s.Time] = s.Truth
		sightings = append(sightings, s.Sighting)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	secrets := map[string]Secret{}
	for _, tg := range simTags {
		secrets[tg.Name] = tg.Secret
	}
	byTag := NewResolver(secrets, start, start.Add(duration)).Resolve(sightings)
	if len(byTag) != tags {
		t.Fatalf("resolved %d tags of %d", len(byTag), tags)
	}
	loc := &Locator{Model: ULBModel, Range: 40, Speed: 1.3, Relays: relays}
	var res townResult
	for name, ss := range byTag {
		for _, est := range loc.Track(ss) {
			res.add(est, truth[name][est.Time])
		}
	}
	res.sort()
	return res
}

func TestLocateTown(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under the race detector, and the package has no concurrency; scripts/test runs it without")
	}
	res := simulateTown(t, 20, 20*time.Minute, 1)
	t.Logf("%d fixes: median error %.1f m, 90th percentile %.1f m, median radius %.1f m, %.1f%% within the radius",
		len(res.errors), res.median(), res.quantile(0.9), res.radii[len(res.radii)/2], 100*res.share())
	if res.share() < Confidence {
		t.Errorf("%.1f%% of fixes within their radius, want at least %.0f%%", 100*res.share(), 100*Confidence)
	}
	// Relays stand 30 m apart and hear 40 m, so a tag between four
	// relays is at most about 21 m from the nearest. An estimator that
	// does worse than that has ignored the relays.
	if res.median() > 21 {
		t.Errorf("median error %.1f m, want at most 21 m", res.median())
	}
}

// TestLocateULB locates every mote of the ULB library from the real RSSI
// its neighbours reported in each minute, on the inferred layout.
func TestLocateULB(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under the race detector, and the package has no concurrency; scripts/test runs it without")
	}
	links, err := ReadULBLinks(dataPath(t, "ulb-library1/N1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// The motes do not move, and every one hears every other: a mote
	// missing from a minute lost its report on the way to the base
	// station, so its silence says nothing (MissProbability 1).
	loc := &Locator{Model: ULBModel, Range: ulbMaxRange(), MissProbability: 1, Relays: ULBRelays()}

	type fixKey struct {
		minute int64
		tx     int
	}
	// Every fourth minute keeps the test near 4 s; all minutes give the
	// same shares within a point (BENCHMARKS.md).
	fixes := map[fixKey][]Sighting{}
	for _, l := range links {
		k := fixKey{l.Time.Unix() / 60, l.Transmitter}
		if k.minute%4 != 0 {
			continue
		}
		fixes[k] = append(fixes[k], Sighting{Relay: strconv.Itoa(l.Receiver), RSSI: l.RSSI, Time: l.Time})
	}
	var res townResult
	for k, ss := range fixes {
		est, err := loc.Locate(ss)
		if err != nil {
			t.Fatalf("minute %d, mote %d: %v", k.minute, k.tx, err)
		}
		res.add(est, ULBLayout[k.tx])
	}
	res.sort()
	t.Logf("%d fixes: median error %.1f m, 90th percentile %.1f m, median radius %.1f m, %.1f%% within the radius",
		len(res.errors), res.median(), res.quantile(0.9), res.radii[len(res.radii)/2], 100*res.share())
	if res.share() < Confidence {
		t.Errorf("%.1f%% of fixes within their radius, want at least %.0f%%", 100*res.share(), 100*Confidence)
	}
}

// ulbMaxRange is the largest distance between two motes of ULBLayout:
// every mote heard every other.
func ulbMaxRange() float64 {
	var r float64
	for _, p := range ULBLayout {
		for _, q := range ULBLayout {
			r = math.Max(r, p.Dist(q))
		}
	}
	return r
}

// TestULBLayoutEmbedded recomputes ULBLayout and ULBModel from the data.
func TestULBLayoutEmbedded(t *testing.T) {
	if raceEnabled {
		t.Skip("slow under the race detector, and the package has no concurrency; scripts/test runs it without")
	}
	links, err := ReadULBLinks(dataPath(t, "ulb-library1/N1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	layout, err := InferLayout(links, intelSites(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	for id, p := range ULBLayout {
		if layout[id] != p {
			t.Errorf("mote %d at %v, ULBLayout has %v", id, layout[id], p)
		}
	}
	m, err := FitULB(links, layout)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.RefRSSI-ULBModel.RefRSSI) > 0.01 || math.Abs(m.Exponent-ULBModel.Exponent) > 0.001 ||
		math.Abs(m.Sigma-ULBModel.Sigma) > 0.01 {
		t.Errorf("fit %+v, ULBModel is %+v", m, ULBModel)
	}
}

func TestLocateSingleRelay(t *testing.T) {
	loc := &Locator{Model: PathLoss{RefRSSI: -60, Exponent: 2, Sigma: 4}, Range: 30,
		Relays: map[string]Point{"a": {100, 100}}}
	est, err := loc.Locate([]Sighting{{Relay: "a", RSSI: -80, Time: time.Unix(1, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	// One relay gives a ring around it: the mean is near the relay and
	// the radius reaches out to the ring, 10 m at -80 dBm.
	if d := est.Position.Dist(Point{100, 100}); d > 2 {
		t.Errorf("estimate %v is %.1f m from the only relay", est.Position, d)
	}
	if est.Radius < 8 || est.Radius > 30 {
		t.Errorf("radius %.1f m, want one that reaches the 10 m ring and stays within range", est.Radius)
	}
}

func TestLocateUnknownRelays(t *testing.T) {
	loc := &Locator{Model: ULBModel, Range: 30, Relays: map[string]Point{"a": {}}}
	_, err := loc.Locate([]Sighting{{Relay: "b", RSSI: -70}})
	if err == nil {
		t.Fatal("Locate with no known relay succeeded")
	}
}

// Two relays whose squares of side 2·Range overlap but whose circles
// do not cannot both be in range of one place; Locate then drops the
// range limit instead of returning an empty posterior.
func TestLocateDisjointRanges(t *testing.T) {
	loc := &Locator{Model: ULBModel, Range: 10, Relays: map[string]Point{"a": {0, 0}, "b": {15, 15}}}
	est, err := loc.Locate([]Sighting{{Relay: "a", RSSI: -66}, {Relay: "b", RSSI: -66}})
	if err != nil {
		t.Fatal(err)
	}
	mid := Point{7.5, 7.5}
	if d := est.Position.Dist(mid); d > 3 || math.IsNaN(est.Position.X) {
		t.Errorf("estimate %v, want near the midpoint %v", est.Position, mid)
	}
	if !(est.Radius > 0) || math.IsInf(est.Radius, 0) {
		t.Errorf("radius %v m, want a positive, finite one", est.Radius)
	}
}

func TestLocateRejectsNoRange(t *testing.T) {
	loc := &Locator{Model: ULBModel, Relays: map[string]Point{"a": {}}}
	if _, err := loc.Locate([]Sighting{{Relay: "a", RSSI: -60}}); err == nil {
		t.Errorf("Locate with Range 0 succeeded")
	}
}
