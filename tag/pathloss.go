package tag

import (
	"errors"
	"fmt"
	"math"
)

// ErrFit reports samples that cannot determine a path-loss model.
var ErrFit = errors.New("tag: path-loss fit failed")

// PathLoss is a log-distance path-loss model: a receiver at distance d
// metres from a tag measures
//
//	RSSI(d) = RefRSSI − 10·Exponent·log10(d / 1 m) + X,  X ~ N(0, Sigma²)
//
// where X is the shadowing of walls, bodies and furniture.
type PathLoss struct {
	// RefRSSI is the mean RSSI at 1 m, in dBm.
	RefRSSI float64 `json:"ref_rssi_dbm"`
	// Exponent is the path-loss exponent n: 2 in free space, more
	// indoors and between buildings.
	Exponent float64 `json:"exponent"`
	// Sigma is the standard deviation of the shadowing, in dB.
	Sigma float64 `json:"sigma_db"`
}

// minDistance keeps the model away from log(0): nothing is closer to a
// relay than its own antenna.
const minDistance = 0.1

// RSSI returns the model's mean RSSI at d metres, in dBm.
func (m PathLoss) RSSI(d float64) float64 {
	return m.RefRSSI - 10*m.Exponent*math.Log10(math.Max(d, minDistance))
}

// Distance returns the distance at which the model's mean RSSI equals
// rssi: the range a relay's measurement suggests.
func (m PathLoss) Distance(rssi float64) float64 {
	return math.Max(math.Pow(10, (m.RefRSSI-rssi)/(10*m.Exponent)), minDistance)
}

// LogSigma returns the standard deviation of ln(Distance(rssi)) that
// shadowing of Sigma dB causes: a relay's range estimate is off by a
// factor of e^LogSigma or more about a third of the time.
func (m PathLoss) LogSigma() float64 {
	return m.Sigma * math.Ln10 / (10 * m.Exponent)
}

// Check rejects a model that cannot turn RSSI into distance.
func (m PathLoss) Check() error {
	if !(m.Exponent > 0) || math.IsInf(m.Exponent, 0) || math.IsNaN(m.RefRSSI) || math.IsInf(m.RefRSSI, 0) ||
		!(m.Sigma >= 0) || math.IsInf(m.Sigma, 0) {
		return fmt.Errorf("%w: model %+v needs a positive exponent and finite RSSI and sigma", ErrFit, m)
	}
	return nil
}

// LinkSample is one measured link: the distance between transmitter and
// receiver and the RSSI measured over it.
type LinkSample struct {
	Distance float64 // metres
	RSSI     float64 // dBm
}

// FitPathLoss fits a PathLoss to samples by least squares of RSSI on
// log10 distance. Sigma is the residuals' standard deviation with two
// degrees of freedom taken by the fit.
func FitPathLoss(samples []LinkSample) (PathLoss, error) {
	if len(samples) < 3 {
		return PathLoss{}, fmt.Errorf("%w: %d samples; need at least 3", ErrFit, len(samples))
	}
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x := math.Log10(math.Max(s.Distance, minDistance))
		sx += x
		sy += s.RSSI
		sxx += x * x
		sxy += x * s.RSSI
	}
	n := float64(len(samples))
	varX := sxx - sx*sx/n
	if varX <= 1e-12 {
		return PathLoss{}, fmt.Errorf("%w: every sample is at the same distance", ErrFit)
	}
	slope := (sxy - sx*sy/n) / varX
	icept := (sy - slope*sx) / n

	var sse float64
	for _, s := range samples {
		r := s.RSSI - (icept + slope*math.Log10(math.Max(s.Distance, minDistance)))
		sse += r * r
	}
	m := PathLoss{RefRSSI: icept, Exponent: -slope / 10, Sigma: math.Sqrt(sse / (n - 2))}
	if !(m.Exponent > 0) {
		return m, fmt.Errorf("%w: RSSI does not fall with distance (exponent %.3f)", ErrFit, m.Exponent)
	}
	return m, nil
}
