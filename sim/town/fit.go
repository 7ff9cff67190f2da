package town

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// minDelivery is the lowest delivery probability a link keeps. Weaker
// links are left out of the mesh and out of the connectivity limit: a
// link that carries one frame in twenty is no path an alert can count on.
const minDelivery = 0.05

// ErrTooFewLinks reports a measurement with too few links to fit.
var ErrTooFewLinks = errors.New("town: too few measured links to fit")

// Fit holds the link statistics measured on the ULB neighbour graph that
// the simulator derives delivery from and the generator reproduces.
type Fit struct {
	Motes int
	Links int
	// MeanDegree is the mean number of motes each mote heard.
	MeanDegree float64

	// Delivery of a link is modelled as DeliveryIntercept +
	// DeliverySlope × LQI, fitted by least squares to each link's
	// presence: the share of minutes in which the receiver's neighbour
	// report listed the sender.
	DeliveryIntercept, DeliverySlope float64
	// CorrLQI and CorrRSSI are the correlations of presence with the
	// link's mean LQI and mean RSSI.
	CorrLQI, CorrRSSI float64

	MeanPresence, SDPresence float64
	MeanLQI, SDLQI           float64
	MeanRSSI, SDRSSI         float64 // dBm
	// SDDirection is the standard deviation of one direction's RSSI
	// around the mean of both directions of a link, in dB.
	SDDirection float64

	// LQIs are the links' mean LQIs, ascending, which the generator draws
	// from.
	LQIs []float64
}

// FitULB fits the link model to a parsed neighbour file.
func FitULB(d *ULBData) (Fit, error) {
	if len(d.Links) < 3 {
		return Fit{}, fmt.Errorf("%w: %d links, need at least 3", ErrTooFewLinks, len(d.Links))
	}
	f := Fit{Motes: len(d.Motes), Links: len(d.Links)}
	f.MeanDegree = float64(len(d.Links)) / float64(len(d.Motes))

	presence := make([]float64, len(d.Links))
	lqi := make([]float64, len(d.Links))
	rssi := make([]float64, len(d.Links))
	for k, l := range d.Links {
		presence[k], lqi[k], rssi[k] = l.Presence, l.LQI, l.RSSI
	}
	f.MeanPresence, f.SDPresence = meanSD(presence)
	f.MeanLQI, f.SDLQI = meanSD(lqi)
	f.MeanRSSI, f.SDRSSI = meanSD(rssi)
	f.CorrLQI = correlation(lqi, presence)
	f.CorrRSSI = correlation(rssi, presence)
	f.DeliverySlope = f.CorrLQI * f.SDPresence / f.SDLQI
	if f.SDLQI == 0 {
		f.DeliverySlope = 0
	}
	f.DeliveryIntercept = f.MeanPresence - f.DeliverySlope*f.MeanLQI
	f.SDDirection = directionSD(d.Links)

	f.LQIs = append([]float64(nil), lqi...)
	sort.Float64s(f.LQIs)
	return f, nil
}

// Delivery returns the delivery probability of a link with the given
// LQI, clamped to [minDelivery, 1].
func (f Fit) Delivery(lqi float64) float64 {
	return min(max(f.DeliveryIntercept+f.DeliverySlope*lqi, minDelivery), 1)
}

// directionSD measures how far each direction's RSSI lies from the mean
// of the link's two directions.
func directionSD(links []ULBLink) float64 {
	byPair := map[[2]int]float64{}
	for _, l := range links {
		byPair[[2]int{l.Sender, l.Receiver}] = l.RSSI
	}
	var m moments
	for _, l := range links {
		back, ok := byPair[[2]int{l.Receiver, l.Sender}]
		if ok {
			m.add((l.RSSI - back) / 2)
		}
	}
	return m.sd()
}

func meanSD(v []float64) (mean, sd float64) {
	var m moments
	for _, x := range v {
		m.add(x)
	}
	return m.mean(), m.sd()
}

func correlation(x, y []float64) float64 {
	mx, sx := meanSD(x)
	my, sy := meanSD(y)
	if sx == 0 || sy == 0 {
		return 0
	}
	var c float64
	for k := range x {
		c += (x[k] - mx) * (y[k] - my)
	}
	return c / float64(len(x)) / (sx * sy)
}

// quantile returns the q-quantile of sorted values by the nearest rank.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}
