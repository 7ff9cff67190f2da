package tag

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrNoRelays reports sightings none of whose relays has a known
// position.
var ErrNoRelays = errors.New("tag: no relay with a known position heard the tag")

// Confidence is the probability that the tag lies within an Estimate's
// Radius, under the path-loss model: a one-sigma radius.
const Confidence = 0.68

// FixInterval is how far back from a tag's last sighting Track looks for
// one position fix. A person walks about 6.5 m in 5 s, which blurs a
// moving tag's fix by that much. A BLE tag that advertises every second
// is heard about five times in 5 s by each relay in range.
const FixInterval = 5 * time.Second

// gridCells is the number of cells along each side of the grid on which
// Locate evaluates the posterior.
const gridCells = 64

// Locator estimates positions from the relays of one network.
type Locator struct {
	// Model turns RSSI into likelihoods of distance.
	Model PathLoss
	// Range is the farthest a relay hears a tag, in metres. It bounds
	// where the tag can be when the model's ranging is weak.
	Range float64
	// Speed is the fastest a tag moves, in metres per second. A fix whose
	// sightings span t seconds lets the tag be Speed·t farther than Range
	// from a relay that heard it at the start.
	Speed float64
	// Relays are the relays' positions by id.
	Relays map[string]Point
	// MissProbability is the chance that a relay in range reports none of
	// a fix's beacons: radio loss, a full queue, a relay that is down.
	// Zero means DefaultMissProbability, and 1 ignores silent relays.
	MissProbability float64
}

// DefaultMissProbability is the Locator.MissProbability used when none
// is set. It is a guess, not a measurement: one relay in ten missing a
// fix keeps an offline relay from pushing estimates far away.
const DefaultMissProbability = 0.1

// Estimate is a tag's probable position at the time of a fix.
type Estimate struct {
	// Position is the posterior mean.
	Position Point `json:"position"`
	// Radius is the distance from Position within which the tag lies with
	// probability Confidence under the model, in metres.
	Radius float64 `json:"radius_m"`
	// From and Time are the first and the last sighting's time.
	From time.Time `json:"from"`
	Time time.Time `json:"time"`
	// Relays counts the relays with known positions that heard the tag.
	Relays int `json:"relays"`
	// Sightings counts the sightings used.
	Sightings int `json:"sightings"`
}

// relayRSSI is one relay's mean RSSI over the sightings of a fix.
type relayRSSI struct {
	at   Point
	rssi float64
}

// Locate estimates where the tag of sightings was, as the mean of the
// posterior over a grid that covers every place in range of all relays
// that heard it. Each relay contributes the Gaussian likelihood of
// its mean RSSI under the model. The mean of a relay's sightings keeps
// the model's Sigma rather than Sigma/√k, because the shadowing of one
// place does not average out over repeated beacons.
//
// A relay of known position that reported nothing would have heard a tag
// that stayed within Range less Speed·t of it for the whole fix. Such
// places are MissProbability times as likely as elsewhere.
func (l *Locator) Locate(sightings []Sighting) (Estimate, error) {
	if err := l.Model.Check(); err != nil {
		return Estimate{}, err
	}
	if !(l.Range > 0) || math.IsInf(l.Range, 0) || !(l.Speed >= 0) || math.IsInf(l.Speed, 0) {
		return Estimate{}, fmt.Errorf("tag: locator range %v m and speed %v m/s: want a positive range and a speed of 0 or more",
			l.Range, l.Speed)
	}
	hs, est := l.heardRelays(sightings)
	if len(hs) == 0 {
		return est, fmt.Errorf("%w: %d sightings from relays of unknown position", ErrNoRelays, len(sightings))
	}

	moved := l.Speed * est.Time.Sub(est.From).Seconds()
	rg := fixRange{max: l.Range + moved, miss: l.Range - moved}
	box := searchBox(hs, rg.max)
	cells := l.posterior(hs, l.silentRelays(sightings, box, rg.miss), box, rg)
	if len(cells) == 0 {
		// The squares around the relays overlap but their circles do
		// not: no place is within range of all. Drop the range limit.
		box.inRange = false
		cells = l.posterior(hs, l.silentRelays(sightings, box, rg.miss), box, rg)
	}
	est.Position, est.Radius = summarise(cells, box.cell)
	return est, nil
}

// fixRange is how far from a relay a tag can be in one fix: within max of
// every relay that heard it, and, more likely than not, beyond miss of
// every relay that did not.
type fixRange struct {
	max, miss float64
}

// heardRelays returns the mean RSSI per relay of known position, sorted by
// relay id for determinism, and an Estimate with the counts filled in.
func (l *Locator) heardRelays(sightings []Sighting) ([]relayRSSI, Estimate) {
	sum := map[string]float64{}
	count := map[string]int{}
	var est Estimate
	for _, s := range sightings {
		if _, ok := l.Relays[s.Relay]; !ok {
			continue
		}
		sum[s.Relay] += s.RSSI
		count[s.Relay]++
		est.Sightings++
		if s.Time.After(est.Time) {
			est.Time = s.Time
		}
		if est.From.IsZero() || s.Time.Before(est.From) {
			est.From = s.Time
		}
	}
	ids := make([]string, 0, len(sum))
	for id := range sum {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	hs := make([]relayRSSI, 0, len(ids))
	for _, id := range ids {
		hs = append(hs, relayRSSI{at: l.Relays[id], rssi: sum[id] / float64(count[id])})
	}
	est.Relays = len(hs)
	return hs, est
}

// box is the grid's area: its lower-left corner, cell size and whether
// cells out of range of a relay are excluded.
type box struct {
	min     Point
	cell    float64
	inRange bool
}

// searchBox returns the grid over the intersection of the squares of
// side 2·r around each relay. Relays farther apart than that
// cannot all have heard one tag under the model; the box then covers
// their union and drops the range limit.
func searchBox(hs []relayRSSI, r float64) box {
	lo := Point{math.Inf(-1), math.Inf(-1)}
	hi := Point{math.Inf(1), math.Inf(1)}
	for _, h := range hs {
		lo.X, lo.Y = math.Max(lo.X, h.at.X-r), math.Max(lo.Y, h.at.Y-r)
		hi.X, hi.Y = math.Min(hi.X, h.at.X+r), math.Min(hi.Y, h.at.Y+r)
	}
	inRange := true
	if lo.X >= hi.X || lo.Y >= hi.Y {
		inRange = false
		lo = Point{math.Inf(1), math.Inf(1)}
		hi = Point{math.Inf(-1), math.Inf(-1)}
		for _, h := range hs {
			lo.X, lo.Y = math.Min(lo.X, h.at.X-r), math.Min(lo.Y, h.at.Y-r)
			hi.X, hi.Y = math.Max(hi.X, h.at.X+r), math.Max(hi.Y, h.at.Y+r)
		}
	}
	side := math.Max(hi.X-lo.X, hi.Y-lo.Y)
	return box{min: lo, cell: math.Max(side/gridCells, minDistance), inRange: inRange}
}

// cell is one grid cell's centre and posterior weight.
type cell struct {
	at     Point
	weight float64
}

// silentRelays returns the positions of the relays that reported none of
// sightings and stand within missRange of the box.
func (l *Locator) silentRelays(sightings []Sighting, b box, missRange float64) []Point {
	if missRange <= 0 {
		return nil
	}
	heardBy := map[string]bool{}
	for _, s := range sightings {
		heardBy[s.Relay] = true
	}
	side := b.cell * gridCells
	var silent []Point
	for id, p := range l.Relays {
		if heardBy[id] {
			continue
		}
		if p.X < b.min.X-missRange || p.X > b.min.X+side+missRange ||
			p.Y < b.min.Y-missRange || p.Y > b.min.Y+side+missRange {
			continue
		}
		silent = append(silent, p)
	}
	// Sorted, so that sums run in the same order every time.
	slices.SortFunc(silent, func(a, b Point) int {
		if c := cmp.Compare(a.X, b.X); c != 0 {
			return c
		}
		return cmp.Compare(a.Y, b.Y)
	})
	return silent
}

// posterior returns the grid cells with their normalised posterior
// weights, under a uniform prior over the box.
func (l *Locator) posterior(hs []relayRSSI, silent []Point, b box, rg fixRange) []cell {
	cells := make([]cell, 0, gridCells*gridCells)
	logs := make([]float64, 0, gridCells*gridCells)
	best := math.Inf(-1)
	variance := math.Max(l.Model.Sigma*l.Model.Sigma, 1e-6)
	miss := l.MissProbability
	if miss <= 0 {
		miss = DefaultMissProbability
	}
	logMiss := math.Log(miss)
	for i := range gridCells {
		for j := range gridCells {
			p := Point{b.min.X + (float64(i)+0.5)*b.cell, b.min.Y + (float64(j)+0.5)*b.cell}
			ll, ok := l.logLikelihood(hs, p, variance, b.inRange, rg.max)
			if !ok {
				continue
			}
			for _, q := range silent {
				if p.Dist(q) < rg.miss {
					ll += logMiss
				}
			}
			cells = append(cells, cell{at: p})
			logs = append(logs, ll)
			best = math.Max(best, ll)
		}
	}

	var total float64
	for i := range cells {
		cells[i].weight = math.Exp(logs[i] - best)
		total += cells[i].weight
	}
	for i := range cells {
		cells[i].weight /= total
	}
	return cells
}

func (l *Locator) logLikelihood(hs []relayRSSI, p Point, variance float64, inRange bool, maxRange float64) (float64, bool) {
	var ll float64
	for _, h := range hs {
		d := p.Dist(h.at)
		if inRange && d > maxRange {
			return 0, false
		}
		r := h.rssi - l.Model.RSSI(d)
		ll -= r * r / (2 * variance)
	}
	return ll, true
}

// summarise returns the posterior mean and the radius around it that
// holds Confidence of the posterior's weight. The grid cannot place the
// tag closer than half a cell's diagonal, so the radius is at least that.
func summarise(cells []cell, size float64) (Point, float64) {
	var mean Point
	for _, c := range cells {
		mean.X += c.weight * c.at.X
		mean.Y += c.weight * c.at.Y
	}
	type ring struct{ dist, weight float64 }
	rings := make([]ring, len(cells))
	for i, c := range cells {
		rings[i] = ring{c.at.Dist(mean), c.weight}
	}
	slices.SortFunc(rings, func(a, b ring) int { return cmp.Compare(a.dist, b.dist) })

	radius := size * math.Sqrt2 / 2
	var mass float64
	for _, r := range rings {
		mass += r.weight
		if mass >= Confidence {
			radius = math.Max(radius, r.dist)
			break
		}
	}
	return mean, radius
}

// Track returns one estimate per fix: the sightings within FixInterval
// before each fix's last sighting, fixes taken from the newest sighting
// backwards, newest first. Sightings from relays of unknown position are
// skipped; a fix with none left yields no estimate.
func (l *Locator) Track(sightings []Sighting) []Estimate {
	sorted := slices.Clone(sightings)
	slices.SortFunc(sorted, func(a, b Sighting) int { return b.Time.Compare(a.Time) })

	var track []Estimate
	for start := 0; start < len(sorted); {
		end := start
		for end < len(sorted) && sorted[start].Time.Sub(sorted[end].Time) < FixInterval {
			end++
		}
		if est, err := l.Locate(sorted[start:end]); err == nil {
			track = append(track, est)
		}
		start = end
	}
	return track
}

// Latest returns the estimate from the last FixInterval of the sightings
// whose relays have known positions.
func (l *Locator) Latest(sightings []Sighting) (Estimate, error) {
	var last time.Time
	for _, s := range sightings {
		if _, ok := l.Relays[s.Relay]; ok && s.Time.After(last) {
			last = s.Time
		}
	}
	var fix []Sighting
	for _, s := range sightings {
		if _, ok := l.Relays[s.Relay]; ok && last.Sub(s.Time) < FixInterval {
			fix = append(fix, s)
		}
	}
	return l.Locate(fix)
}

// DefaultRange is the hearing range the simulation assumes for a BLE
// tag and a relay on a street, in metres: an assumption, not a
// measurement.
const DefaultRange = 40

// WalkingSpeed is a person's walking speed, in metres per second.
const WalkingSpeed = 1.3
