package tag

import (
	"fmt"
	"math"
)

// Point is a position in metres on a site's own plan, x east and y north
// of an origin the site chooses.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Dist returns the distance from p to q, in metres.
func (p Point) Dist(q Point) float64 { return math.Hypot(p.X-q.X, p.Y-q.Y) }

func (p Point) check() error {
	for _, v := range []float64{p.X, p.Y} {
		if math.IsNaN(v) || math.Abs(v) > MaxCoordinate {
			return fmt.Errorf("coordinate %v is not a number within ±%g m", v, MaxCoordinate)
		}
	}
	return nil
}
