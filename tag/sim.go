package tag

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Simulation moves tags along paths through a relay network and produces
// the sightings the relays would report. The same seed gives the same
// sightings.
type Simulation struct {
	// Model draws each sighting's RSSI: the model's mean at the distance
	// plus Gaussian noise of the model's Sigma, rounded to whole dBm as
	// BLE receivers report it.
	Model PathLoss
	// Range is the farthest a relay hears a tag, in metres.
	Range float64
	// Relays are the relays' positions by id.
	Relays map[string]Point
	// Beacon is the time between two beacons of a tag.
	Beacon time.Duration
	// Speed is how fast tags move along their paths, in metres per second.
	Speed float64
	// ClockError is the largest offset of a tag's clock from the relays'.
	// Each tag draws its offset uniformly from ±ClockError, and picks its
	// rotating identifier by its own clock.
	ClockError time.Duration
	// Seed drives every random choice.
	Seed uint64
}

// SimTag is a simulated tag.
type SimTag struct {
	Name   string
	Secret Secret
	// Path is the route the tag walks, back and forth, from its first
	// point at the simulation's start.
	Path []Point
}

// SimSighting is a sighting with the tag's true position.
type SimSighting struct {
	Sighting
	Tag   string
	Truth Point
}

// Run simulates tags from start for duration and calls emit for every
// sighting, in time order. It stops at the first error emit returns.
func (s *Simulation) Run(tags []SimTag, start time.Time, duration time.Duration, emit func(SimSighting) error) error {
	if s.Beacon <= 0 || s.Range <= 0 {
		return fmt.Errorf("tag: simulation needs a positive beacon interval and range, have %v and %v m", s.Beacon, s.Range)
	}
	if err := s.Model.Check(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x74616773))
	relays := sortedRelays(s.Relays)
	offsets := make([]time.Duration, len(tags))
	for i := range tags {
		offsets[i] = time.Duration((2*rng.Float64() - 1) * float64(s.ClockError))
	}

	for t := time.Duration(0); t < duration; t += s.Beacon {
		now := start.Add(t)
		for i, tg := range tags {
			at := pathPosition(tg.Path, s.Speed*t.Seconds())
			id := RotatingID(tg.Secret, Window(now.Add(offsets[i])))
			if err := s.hear(rng, relays, tg.Name, id, at, now, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// hear emits the sightings of one beacon by every relay in range.
func (s *Simulation) hear(rng *rand.Rand, relays []relayAt, name string, id ID, at Point, now time.Time, emit func(SimSighting) error) error {
	for _, r := range relays {
		d := r.at.Dist(at)
		if d > s.Range {
			continue
		}
		rssi := math.Round(s.Model.RSSI(d) + s.Model.Sigma*rng.NormFloat64())
		rssi = math.Min(math.Max(rssi, MinRSSI), MaxRSSI)
		sg := Sighting{ID: id, Relay: r.id, RSSI: rssi, Time: now}
		if err := emit(SimSighting{Sighting: sg, Tag: name, Truth: at}); err != nil {
			return err
		}
	}
	return nil
}

type relayAt struct {
	id string
	at Point
}

func sortedRelays(m map[string]Point) []relayAt {
	out := make([]relayAt, 0, len(m))
	for id, p := range m {
		out = append(out, relayAt{id, p})
	}
	slices.SortFunc(out, func(a, b relayAt) int { return cmp.Compare(a.id, b.id) })
	return out
}

// pathPosition returns the point at distance walked along path, walking
// back from the end and forth again as often as needed.
func pathPosition(path []Point, walked float64) Point {
	if len(path) == 0 {
		return Point{}
	}
	var length float64
	for i := 1; i < len(path); i++ {
		length += path[i-1].Dist(path[i])
	}
	if length == 0 {
		return path[0]
	}
	walked = math.Mod(walked, 2*length)
	if walked > length {
		walked = 2*length - walked
	}
	for i := 1; i < len(path); i++ {
		seg := path[i-1].Dist(path[i])
		if walked <= seg && seg > 0 {
			f := walked / seg
			return Point{path[i-1].X + f*(path[i].X-path[i-1].X), path[i-1].Y + f*(path[i].Y-path[i-1].Y)}
		}
		walked -= seg
	}
	return path[len(path)-1]
}

// Town returns rows×cols relays on a grid spacing metres apart, each
// moved by up to a quarter of spacing in each axis, as lamp posts and
// shelters stand along streets. Ids are "r-ROW-COL".
func Town(rows, cols int, spacing float64, seed uint64) map[string]Point {
	rng := rand.New(rand.NewPCG(seed, 0x746f776e))
	relays := make(map[string]Point, rows*cols)
	for i := range rows {
		for j := range cols {
			jitter := func() float64 { return (rng.Float64() - 0.5) * spacing / 2 }
			relays[fmt.Sprintf("r-%d-%d", i, j)] = Point{float64(j)*spacing + jitter(), float64(i)*spacing + jitter()}
		}
	}
	return relays
}

// Route returns a path of hops+1 relay positions: it starts at a random
// relay and each step goes to a random one of the four nearest relays it
// has not visited yet, as an evacuation route goes from post to post.
func Route(relays map[string]Point, hops int, rng *rand.Rand) []Point {
	all := sortedRelays(relays)
	if len(all) == 0 {
		return nil
	}
	cur := all[rng.IntN(len(all))]
	visited := map[string]bool{cur.id: true}
	path := []Point{cur.at}
	for range hops {
		next := nearestUnvisited(all, cur.at, visited, 4)
		if len(next) == 0 {
			break
		}
		cur = next[rng.IntN(len(next))]
		visited[cur.id] = true
		path = append(path, cur.at)
	}
	return path
}

func nearestUnvisited(all []relayAt, from Point, visited map[string]bool, k int) []relayAt {
	var cands []relayAt
	for _, r := range all {
		if !visited[r.id] {
			cands = append(cands, r)
		}
	}
	slices.SortStableFunc(cands, func(a, b relayAt) int { return cmp.Compare(a.at.Dist(from), b.at.Dist(from)) })
	return cands[:min(k, len(cands))]
}

// NewSimTags returns n tags named PREFIX-1 … PREFIX-n with fresh secrets
// drawn from rng and routes of hops steps through relays.
func NewSimTags(prefix string, n, hops int, relays map[string]Point, rng *rand.Rand) []SimTag {
	tags := make([]SimTag, n)
	for i := range tags {
		var s Secret
		for j := range s {
			s[j] = byte(rng.Uint32())
		}
		tags[i] = SimTag{Name: fmt.Sprintf("%s-%d", prefix, i+1), Secret: s, Path: Route(relays, hops, rng)}
	}
	return tags
}
