package town

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrInvalidOptions reports options that cannot describe a town.
var ErrInvalidOptions = errors.New("town: invalid options")

// Limits of the generator, which keep a run's memory bounded.
const (
	maxRelays = 20_000
	maxPeople = 5_000
)

// GenerateOptions describe a generated town.
type GenerateOptions struct {
	Relays  int
	AreaKm2 float64 // the relays stand uniformly at random in a square of this area
	// Degree is the target mean number of relays each relay hears; 0
	// takes the fit's MeanDegree.
	Degree float64
	// PathLossExponent and ShadowingDB shape the log-distance path loss
	// model. The ULB data cannot fit them because it has no positions;
	// the defaults 3 and 4 dB are assumed values for radios among
	// buildings.
	PathLossExponent float64
	ShadowingDB      float64
	// TransitionDB is the margin above the receiver's sensitivity below
	// which the delivery probability falls linearly to 0; default 5 dB
	// (assumed).
	TransitionDB float64
	// SensitivityDBm is the weakest RSSI a receiver decodes; default
	// -95 dBm, the CC2420 datasheet's typical sensitivity.
	SensitivityDBm float64
	Seed           uint64
}

func (o GenerateOptions) withDefaults(fit Fit) GenerateOptions {
	if o.Degree == 0 {
		o.Degree = fit.MeanDegree
	}
	if o.PathLossExponent == 0 {
		o.PathLossExponent = 3
	}
	if o.ShadowingDB == 0 {
		o.ShadowingDB = 4
	}
	if o.TransitionDB == 0 {
		o.TransitionDB = 5
	}
	if o.SensitivityDBm == 0 {
		o.SensitivityDBm = -95
	}
	return o
}

func (o GenerateOptions) validate() error {
	switch {
	case o.Relays < 2 || o.Relays > maxRelays:
		return fmt.Errorf("%w: %d relays; use 2 to %d", ErrInvalidOptions, o.Relays, maxRelays)
	case !(o.AreaKm2 > 0 && o.AreaKm2 <= 10_000):
		return fmt.Errorf("%w: area %g km²; use more than 0 and at most 10000", ErrInvalidOptions, o.AreaKm2)
	case !(o.Degree > 0 && o.Degree < float64(o.Relays)):
		return fmt.Errorf("%w: mean degree %g; use more than 0 and fewer than the %d relays", ErrInvalidOptions, o.Degree, o.Relays)
	case !(o.PathLossExponent >= 1 && o.PathLossExponent <= 8):
		return fmt.Errorf("%w: path loss exponent %g; use 1 to 8", ErrInvalidOptions, o.PathLossExponent)
	case !(o.ShadowingDB >= 0 && o.ShadowingDB <= 20):
		return fmt.Errorf("%w: shadowing %g dB; use 0 to 20", ErrInvalidOptions, o.ShadowingDB)
	case !(o.TransitionDB > 0 && o.TransitionDB <= 40):
		return fmt.Errorf("%w: transition %g dB; use more than 0 and at most 40", ErrInvalidOptions, o.TransitionDB)
	}
	return nil
}

// Generate places opts.Relays relays uniformly at random in a square and
// links every pair whose path loss, with log-normal shadowing, leaves
// the received signal above the sensitivity. The radio range is
// calibrated so that the mean degree matches opts.Degree. Each direction
// of a link takes an LQI drawn from the measured links, a delivery
// probability from the fit, reduced near the sensitivity, and its own
// RSSI deviation with the measured spread between directions.
func Generate(fit Fit, opts GenerateOptions) (*Graph, error) {
	opts = opts.withDefaults(fit)
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r := newRadio(fit, opts)
	g := &Graph{
		Nodes: make([]Node, opts.Relays), Links: make([][]Link, opts.Relays),
		Positioned: true, Side: math.Sqrt(opts.AreaKm2) * 1000,
	}
	for k := range g.Nodes {
		g.Nodes[k] = Node{
			Name: strconv.Itoa(k),
			X:    g.Side * r.uniform(0, uint64(k), 0, 1),
			Y:    g.Side * r.uniform(0, uint64(k), 0, 2),
		}
	}
	r.calibrate(g, opts.Degree)
	r.link(g)
	g.radio = r
	return g, nil
}

// radio is the link model of a generated town. Every random quantity of a
// pair of nodes is a hash of the seed, a salt and the pair, so it does
// not depend on the order of evaluation or on the calibrated range.
type radio struct {
	fit    Fit
	opts   GenerateOptions
	rangeM float64 // distance in metres at which the median path loss meets the sensitivity
}

func newRadio(fit Fit, opts GenerateOptions) *radio {
	return &radio{fit: fit, opts: opts}
}

// maxShadowSD caps the shadowing at four standard deviations, so that a
// grid of cells of maxReach finds every pair that can link.
const maxShadowSD = 4

// maxReach returns the longest distance at which a link can exist.
func (r *radio) maxReach() float64 {
	return r.rangeM * math.Pow(10, maxShadowSD*r.opts.ShadowingDB/(10*r.opts.PathLossExponent))
}

// pair returns the two directions of the link between a and b at
// distance d, or ok false when they do not hear each other. The salt
// separates draws, such as one per mobility step.
func (r *radio) pair(a, b int, d float64, salt uint64) (ab, ba Link, ok bool) {
	lo, hi := uint64(min(a, b)), uint64(max(a, b))
	shadow := r.opts.ShadowingDB * r.normal(salt, lo, hi, 1)
	shadow = min(max(shadow, -maxShadowSD*r.opts.ShadowingDB), maxShadowSD*r.opts.ShadowingDB)
	margin := 10*r.opts.PathLossExponent*math.Log10(r.rangeM/max(d, 1)) + shadow
	if margin < 0 {
		return Link{}, Link{}, false
	}
	ab = r.direction(lo, hi, margin, salt, 10)
	ba = r.direction(hi, lo, margin, salt, 20)
	if ab.Delivery < minDelivery || ba.Delivery < minDelivery {
		return Link{}, Link{}, false
	}
	if a > b {
		ab, ba = ba, ab
	}
	ab.Receiver, ba.Receiver = int32(b), int32(a)
	return ab, ba, true
}

// direction draws one direction of a link with the given margin above
// the sensitivity.
func (r *radio) direction(from, to uint64, margin float64, salt, lane uint64) Link {
	margin += r.fit.SDDirection * r.normal(salt, from, to, lane)
	lqi := r.fit.LQIs[int(r.uniform(salt, from, to, lane+2)*float64(len(r.fit.LQIs)))]
	transition := min(max(margin, 0)/r.opts.TransitionDB, 1)
	return Link{
		RSSI:     r.opts.SensitivityDBm + margin,
		LQI:      lqi,
		Delivery: r.fit.Delivery(lqi) * transition,
	}
}

// calibrate sets the range so that the graph's mean degree is target.
// The mean degree grows with the square of the range, apart from edge
// effects and the delivery floor, so a few proportional steps converge.
func (r *radio) calibrate(g *Graph, target float64) {
	area := g.Side * g.Side
	r.rangeM = math.Sqrt(target * area / (math.Pi * float64(g.Len())))
	for range 12 {
		got := 2 * float64(r.countPairs(g)) / float64(g.Len())
		if got == 0 {
			r.rangeM *= 2
			continue
		}
		if math.Abs(got-target) < 0.002*target {
			return
		}
		r.rangeM *= math.Sqrt(target / got)
	}
}

func (r *radio) countPairs(g *Graph) int {
	n := 0
	r.eachPair(g, func(a, b int, ab, ba Link) { n++ })
	return n
}

func (r *radio) link(g *Graph) {
	for k := range g.Links {
		g.Links[k] = g.Links[k][:0]
	}
	r.eachPair(g, func(a, b int, ab, ba Link) {
		g.Links[a] = append(g.Links[a], ab)
		g.Links[b] = append(g.Links[b], ba)
	})
}

// eachPair calls fn for every linked pair a < b, in ascending order of a
// and then of the grid scan, which is deterministic.
func (r *radio) eachPair(g *Graph, fn func(a, b int, ab, ba Link)) {
	cell := r.maxReach()
	grid := newGrid(g.Nodes, cell)
	for a, na := range g.Nodes {
		grid.near(na.X, na.Y, func(b int) {
			if b <= a {
				return
			}
			d := math.Hypot(na.X-g.Nodes[b].X, na.Y-g.Nodes[b].Y)
			if d > cell {
				return
			}
			if ab, ba, ok := r.pair(a, b, d, 0); ok {
				fn(a, b, ab, ba)
			}
		})
	}
}

// uniform returns a number in [0, 1) derived from the seed and the keys.
func (r *radio) uniform(salt, a, b, lane uint64) float64 {
	h := splitmix(r.opts.Seed ^ splitmix(salt^splitmix(a^splitmix(b^splitmix(lane)))))
	return float64(h>>11) / (1 << 53)
}

// normal returns a standard normal number derived from the keys, by the
// Box–Muller transform.
func (r *radio) normal(salt, a, b, lane uint64) float64 {
	u1 := r.uniform(salt, a, b, lane)
	u2 := r.uniform(salt, a, b, lane+1)
	return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
}

// splitmix is the SplitMix64 finaliser, a fast hash with good mixing.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
