package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/mathext"
)

// Churn is the session-length distribution of nodes: Weibull with shape
// Shape and scale Scale.
//
// Source: Stutzbach and Rejaie, "Understanding Churn in Peer-to-Peer
// Networks", IMC 2006, measured Gnutella, Kad and BitTorrent and found
// session lengths heavy-tailed and better fitted by Weibull (or
// log-normal) distributions than by exponential ones, and peer arrivals
// close to a Poisson process. Their Weibull fits of BitTorrent session
// lengths have shapes from 0.34 to 0.59 and scales from 21 to 42. These
// values come from a summary of the paper's fits, and the unit of the
// scales, minutes, is our reading of it.
//
// DefaultChurn takes the shape 0.5 from inside that range, an estimate
// because it is one value for all nodes. It derives the scale from an
// estimate of how fast such networks lose peers: half the peers online at
// any moment are gone two hours later. A shape below 1 means a falling
// hazard rate, so most sessions are short and a node that has stayed long
// is likely to stay longer.
type Churn struct {
	Shape float64
	Scale time.Duration
}

// DefaultChurn is Weibull with shape 0.5 and the scale at which half the
// nodes online at any moment have left 2 hours later: 42.6 minutes, so
// sessions have a median of 20.5 minutes and a mean of 85 minutes.
func DefaultChurn() Churn {
	c, err := ChurnWithHalfLife(0.5, 2*time.Hour)
	if err != nil {
		panic(err) // the constants above are valid
	}
	return c
}

// ErrChurn reports invalid churn parameters.
var ErrChurn = errors.New("sim: invalid churn parameters")

// ChurnWithHalfLife returns the Weibull churn with the given shape whose
// scale makes half the nodes online at a random moment leave within
// halfLife.
//
// A node online at a random moment is in a session picked with
// probability proportional to its length, and its remaining time R is the
// stationary residual life: P(R > x) = ∫ₓ^∞ S(u) du / E[T], with S the
// survival function and E[T] the mean session. For a Weibull session
// that is Q(1/k, (x/λ)^k), the regularized upper incomplete gamma
// function, so the scale solving P(R > halfLife) = 1/2 is
// λ = halfLife / Q⁻¹(1/k, 1/2)^(1/k).
func ChurnWithHalfLife(shape float64, halfLife time.Duration) (Churn, error) {
	if !(shape >= 0.1 && shape <= 10) {
		return Churn{}, fmt.Errorf("%w: shape %v outside [0.1, 10]", ErrChurn, shape)
	}
	if halfLife <= 0 {
		return Churn{}, fmt.Errorf("%w: half-life %v must be positive", ErrChurn, halfLife)
	}
	x := mathext.GammaIncRegCompInv(1/shape, 0.5)
	scale := float64(halfLife) / math.Pow(x, 1/shape)
	return Churn{Shape: shape, Scale: time.Duration(scale)}, nil
}

// Session draws the length of a new session.
func (c Churn) Session(rng *rand.Rand) time.Duration {
	u := 1 - rng.Float64() // in (0, 1], so the log is finite
	return c.duration(math.Pow(-math.Log(u), 1/c.Shape))
}

// Residual draws the remaining session of a node online at a random
// moment of a stationary network, which is how long a node already
// running when a measurement starts stays.
func (c Churn) Residual(rng *rand.Rand) time.Duration {
	u := 1 - rng.Float64()
	return c.duration(math.Pow(mathext.GammaIncRegCompInv(1/c.Shape, u), 1/c.Shape))
}

// duration scales a draw of the standard Weibull distribution, capping it
// at 100 years so that the conversion cannot overflow.
func (c Churn) duration(standard float64) time.Duration {
	d := standard * float64(c.Scale)
	return time.Duration(min(d, float64(100*365*24*time.Hour)))
}

// Mean returns the mean session length, λ·Γ(1 + 1/k).
func (c Churn) Mean() time.Duration {
	return time.Duration(float64(c.Scale) * math.Gamma(1+1/c.Shape))
}

// Median returns the median session length, λ·(ln 2)^(1/k).
func (c Churn) Median() time.Duration {
	return time.Duration(float64(c.Scale) * math.Pow(math.Ln2, 1/c.Shape))
}

// Variance returns the variance of the session length in seconds²,
// λ²·(Γ(1 + 2/k) − Γ(1 + 1/k)²).
func (c Churn) Variance() float64 {
	s := c.Scale.Seconds()
	g1 := math.Gamma(1 + 1/c.Shape)
	return s * s * (math.Gamma(1+2/c.Shape) - g1*g1)
}

// ArrivalGap draws the time to the next arrival of a Poisson process that
// keeps nodes online on average: by Little's law its rate is nodes
// divided by the mean session.
func (c Churn) ArrivalGap(nodes int, rng *rand.Rand) time.Duration {
	mean := float64(c.Mean()) / float64(max(nodes, 1))
	return time.Duration(rng.ExpFloat64() * mean)
}
