package tag

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// The ULB library data set (Université Libre de Bruxelles, Machine
// Learning Group, 2006) records which Tmote Sky mote heard which
// neighbour, with the RSSI of the CC2420 radio, once a minute per link.
// It has no mote positions. This file reads it and infers a layout on the
// Intel Berkeley lab's mote positions, so that a path-loss model can be
// fitted and locations checked against real RSSI.

// cc2420RSSIOffset turns the CC2420's RSSI register, an 8-bit two's
// complement value, into dBm: P = RSSI_VAL − 45 dBm, from the CC2420
// datasheet.
const cc2420RSSIOffset = -45

// ULBLink is one line of the ULB neighbour files: Receiver reports that
// it heard Transmitter at RSSI.
type ULBLink struct {
	Time        time.Time
	Receiver    int
	Transmitter int
	RSSI        float64 // dBm
}

// ReadULBLinks reads a ULB neighbour file such as N1.txt through the
// sensor importer, which bounds lines and fields.
func ReadULBLinks(path string) ([]ULBLink, error) {
	m, err := importer.ParseMap(importer.ULBLinksMap)
	if err != nil {
		return nil, err
	}
	var links []ULBLink
	_, err = importer.ImportFile(path, importer.Options{Map: m}, func(r sensor.Reading) error {
		l, err := ulbLink(r)
		if err != nil {
			return fmt.Errorf("tag: %s: %w", path, err)
		}
		links = append(links, l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return links, nil
}

func ulbLink(r sensor.Reading) (ULBLink, error) {
	rx, err := strconv.Atoi(r.Source)
	if err != nil {
		return ULBLink{}, fmt.Errorf("node id %q is not a number", r.Source)
	}
	tx, ok1 := number(r, "neighbour")
	raw, ok2 := number(r, "rssi")
	if !ok1 || !ok2 || raw < 0 || raw > 255 {
		return ULBLink{}, fmt.Errorf("reading of node %d at %s lacks a neighbour or an RSSI byte", rx, r.Time)
	}
	reg := int(raw)
	if reg > 127 {
		reg -= 256
	}
	return ULBLink{Time: r.Time, Receiver: rx, Transmitter: int(tx), RSSI: float64(reg + cc2420RSSIOffset)}, nil
}

func number(r sensor.Reading, field string) (float64, bool) {
	v, ok := r.Get(field)
	if !ok {
		return 0, false
	}
	return v.Number()
}

// linkKey names a directed link.
type linkKey struct{ rx, tx int }

// meanLinkRSSI returns the mean RSSI of each directed link.
func meanLinkRSSI(links []ULBLink) map[linkKey]float64 {
	sum := map[linkKey]float64{}
	count := map[linkKey]int{}
	for _, l := range links {
		k := linkKey{l.Receiver, l.Transmitter}
		sum[k] += l.RSSI
		count[k]++
	}
	for k := range sum {
		sum[k] /= float64(count[k])
	}
	return sum
}

// Layout maps node ids to positions.
type Layout map[int]Point

// InferLayout places every node of links on one of sites so that the
// log-distance model fits the links' mean RSSI as well as it can, by
// simulated annealing over assignments (seeded, so deterministic). It
// stands in for the positions the data set lacks. A model fitted on the
// result describes RSSI on that inferred geometry: the layout was chosen
// to fit, so the fit is an optimistic one.
func InferLayout(links []ULBLink, sites []Point, seed uint64) (Layout, error) {
	mean := meanLinkRSSI(links)
	nodes := nodeIDs(mean)
	if len(nodes) > len(sites) {
		return nil, fmt.Errorf("%w: %d nodes but only %d sites", ErrFit, len(nodes), len(sites))
	}
	index := map[int]int{}
	for i, id := range nodes {
		index[id] = i
	}
	pairs := make([]indexedLink, 0, len(mean))
	for k, rssi := range mean {
		pairs = append(pairs, indexedLink{index[k.rx], index[k.tx], rssi})
	}
	slices.SortFunc(pairs, func(a, b indexedLink) int { return (a.rx*len(nodes) + a.tx) - (b.rx*len(nodes) + b.tx) })

	logDist := make([][]float64, len(sites))
	for i := range sites {
		logDist[i] = make([]float64, len(sites))
		for j := range sites {
			logDist[i][j] = math.Log10(math.Max(sites[i].Dist(sites[j]), minDistance))
		}
	}
	assign := anneal(pairs, len(nodes), logDist, rand.New(rand.NewPCG(seed, 0x756c62)))
	layout := Layout{}
	for i, id := range nodes {
		layout[id] = sites[assign[i]]
	}
	return layout, nil
}

type indexedLink struct {
	rx, tx int
	rssi   float64
}

func nodeIDs(mean map[linkKey]float64) []int {
	seen := map[int]bool{}
	for k := range mean {
		seen[k.rx], seen[k.tx] = true, true
	}
	ids := make([]int, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// annealIterations bounds the search. Different seeds end in different
// layouts, mirror images and other near-ties among them, whose fits on N1
// differ by less than 0.01 in the exponent and 0.01 dB in sigma.
const annealIterations = 200_000

// anneal returns a site index for each of n nodes that minimises the
// residual of the log-distance fit.
func anneal(pairs []indexedLink, n int, logDist [][]float64, rng *rand.Rand) []int {
	perm := rng.Perm(len(logDist))
	assign := slices.Clone(perm[:n])
	cost := layoutCost(pairs, assign, logDist)
	best, bestCost := slices.Clone(assign), cost

	temp0 := cost / float64(len(pairs))
	for it := range annealIterations {
		temp := temp0 * math.Pow(1e-4, float64(it)/annealIterations)
		next := slices.Clone(assign)
		i := rng.IntN(n)
		j := rng.IntN(len(logDist))
		if k := slices.Index(next, j); k >= 0 {
			next[i], next[k] = next[k], next[i]
		} else {
			next[i] = j
		}
		c := layoutCost(pairs, next, logDist)
		if c < cost || rng.Float64() < math.Exp((cost-c)/temp) {
			assign, cost = next, c
			if c < bestCost {
				best, bestCost = slices.Clone(next), c
			}
		}
	}
	return best
}

// layoutCost is the residual sum of squares of the log-distance fit on
// assignment, or the total sum of squares if RSSI would rise with
// distance.
func layoutCost(pairs []indexedLink, assign []int, logDist [][]float64) float64 {
	var sx, sy, sxx, sxy, syy float64
	for _, p := range pairs {
		x := logDist[assign[p.rx]][assign[p.tx]]
		sx += x
		sy += p.rssi
		sxx += x * x
		sxy += x * p.rssi
		syy += p.rssi * p.rssi
	}
	n := float64(len(pairs))
	varX, varY, cov := sxx-sx*sx/n, syy-sy*sy/n, sxy-sx*sy/n
	if varX <= 0 || cov >= 0 {
		return varY
	}
	return varY - cov*cov/varX
}

// FitULB fits a path-loss model to every link measurement placed on
// layout. Sigma is then the spread of a single measurement, which is
// what one sighting in a fix has: the minute-to-minute variation of a
// link as well as the differences between links.
func FitULB(links []ULBLink, layout Layout) (PathLoss, error) {
	samples := make([]LinkSample, 0, len(links))
	for _, l := range links {
		a, ok1 := layout[l.Receiver]
		b, ok2 := layout[l.Transmitter]
		if ok1 && ok2 {
			samples = append(samples, LinkSample{Distance: a.Dist(b), RSSI: l.RSSI})
		}
	}
	return FitPathLoss(samples)
}
