package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// LinkOptions tunes the link delay model. The zero value of a field
// selects its default.
type LinkOptions struct {
	// Jitter is the largest extra delay of one message between sites, as
	// a fraction of the link's one-way delay. Each message draws a
	// uniform amount in [0, Jitter × delay]. Default 0.1, an estimate.
	Jitter float64
	// LANMin and LANMax bound the one-way delay inside a broadcast
	// domain; each message draws a uniform delay between them. Defaults
	// 0.2 ms and 1 ms, typical of switched Ethernet and Wi-Fi.
	LANMin, LANMax time.Duration
}

func (o LinkOptions) withDefaults() LinkOptions {
	if o.Jitter <= 0 {
		o.Jitter = 0.1
	}
	if o.LANMin <= 0 {
		o.LANMin = 200 * time.Microsecond
	}
	if o.LANMax < o.LANMin {
		o.LANMax = max(o.LANMin, time.Millisecond)
	}
	return o
}

// Links gives the one-way delay between two simulated nodes. Every
// broadcast domain sits at one site, a host of the RTT matrix:
//
//   - Inside one broadcast domain a message takes LANMin to LANMax.
//   - Between sites it takes half the measured RTT plus jitter.
//   - Between two broadcast domains at the same site, which the matrix
//     does not measure, it takes half the RTT from that site to its
//     nearest other site plus jitter. The distance to the nearest
//     measured site is the best available estimate of a metropolitan
//     link.
type Links struct {
	hosts  int
	oneWay []int64  // nanoseconds, hosts×hosts; the diagonal is the same-site delay
	link   []uint32 // Traits.Link of each site
	jitter float64
	lanMin int64
	lanMax int64
}

// NewLinks builds the delay model over the sites of m.
func NewLinks(m *RTTMatrix, opts LinkOptions) *Links {
	opts = opts.withDefaults()
	l := &Links{
		hosts:  m.hosts,
		oneWay: make([]int64, m.hosts*m.hosts),
		link:   make([]uint32, m.hosts),
		jitter: opts.Jitter,
		lanMin: int64(opts.LANMin),
		lanMax: int64(opts.LANMax),
	}
	for i := range m.hosts {
		for j := range m.hosts {
			rtt := m.At(i, j)
			if i == j {
				rtt = m.nearestRTT(i)
			}
			l.oneWay[i*m.hosts+j] = int64(rtt / 2 * float64(time.Millisecond))
		}
		medianMicros := max(m.medianRTT(i)*1000, 1)
		l.link[i] = uint32(min(1e6/medianMicros, math.MaxUint32))
	}
	return l
}

// Sites returns the number of sites.
func (l *Links) Sites() int { return l.hosts }

// delay draws the one-way delay of one message, in nanoseconds, between
// nodes at the given sites, in the same broadcast domain or not.
func (l *Links) delay(fromSite, toSite uint16, sameLAN bool, rng *rand.Rand) int64 {
	if sameLAN {
		return l.lanMin + rng.Int64N(l.lanMax-l.lanMin+1)
	}
	base := l.oneWay[int(fromSite)*l.hosts+int(toSite)]
	return base + rng.Int64N(int64(float64(base)*l.jitter)+1)
}
