package town

import "math"

// grid buckets positions into square cells so that the nodes within one
// cell size of a point are found by scanning nine cells.
type grid struct {
	cell  float64
	cells map[[2]int][]int
}

type point interface{ pos() (x, y float64) }

func (n Node) pos() (float64, float64) { return n.X, n.Y }

func newGrid[P point](points []P, cell float64) *grid {
	g := &grid{cell: max(cell, 1), cells: map[[2]int][]int{}}
	for k, p := range points {
		x, y := p.pos()
		key := g.key(x, y)
		g.cells[key] = append(g.cells[key], k)
	}
	return g
}

func (g *grid) key(x, y float64) [2]int {
	return [2]int{int(math.Floor(x / g.cell)), int(math.Floor(y / g.cell))}
}

// near calls fn for every point in the cell of (x, y) and the eight
// around it, cell by cell in a fixed order.
func (g *grid) near(x, y float64, fn func(k int)) {
	c := g.key(x, y)
	for dx := -1; dx <= 1; dx++ {
		for dy := -1; dy <= 1; dy++ {
			for _, k := range g.cells[[2]int{c[0] + dx, c[1] + dy}] {
				fn(k)
			}
		}
	}
}
