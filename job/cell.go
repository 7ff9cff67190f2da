package job

import (
	"fmt"
	"math"

	"github.com/yuinet/yui/sensor"
)

// maxCellIndex bounds cell numbers, so that a far Plane coordinate over
// a small cell still converts to an integer.
const maxCellIndex = 1 << 53

// Cell is a square of the grid a job groups locations by. For Geo
// locations it holds the points with floor(lon/size) == X and
// floor(lat/size) == Y, with size in degrees; for Plane locations those
// with floor(x/size) == X and floor(y/size) == Y, with size in metres.
type Cell struct {
	Kind sensor.LocationKind `cbor:"1,keyasint"`
	X    int64               `cbor:"2,keyasint"`
	Y    int64               `cbor:"3,keyasint"`
}

// cellOf returns the cell of loc, or nil for a reading without a
// location.
func cellOf(loc *sensor.Location, size float64) *Cell {
	if loc == nil {
		return nil
	}
	size = cellSize(loc.Kind, size)
	x, y := loc.X, loc.Y
	if loc.Kind == sensor.Geo {
		x, y = loc.Lon, loc.Lat
	}
	return &Cell{Kind: loc.Kind, X: cellIndex(x / size), Y: cellIndex(y / size)}
}

// cellSize returns the side of the cells of kind: size, or the kind's
// default for 0.
func cellSize(kind sensor.LocationKind, size float64) float64 {
	switch {
	case size > 0:
		return size
	case kind == sensor.Geo:
		return DefaultGeoCell
	}
	return DefaultPlaneCell
}

func cellIndex(f float64) int64 {
	return int64(math.Max(-maxCellIndex, math.Min(maxCellIndex, math.Floor(f))))
}

// key returns the cell's part of a group key. Its numbers are offset and
// zero-padded so that keys sort by kind, then column, then row.
func (c *Cell) key() string {
	if c == nil {
		return "c:-\x00"
	}
	return fmt.Sprintf("c:%d:%020d:%020d\x00", c.Kind, c.X+1<<62, c.Y+1<<62)
}

func (c *Cell) validate() error {
	if c.Kind != sensor.Geo && c.Kind != sensor.Plane {
		return fmt.Errorf("%w: cell of location kind %d", ErrInvalid, c.Kind)
	}
	if c.X < -maxCellIndex || c.X > maxCellIndex || c.Y < -maxCellIndex || c.Y > maxCellIndex {
		return fmt.Errorf("%w: cell %d,%d is beyond ±2^53", ErrInvalid, c.X, c.Y)
	}
	return nil
}

// CellBounds is a cell with the corner it starts at and its side: for Geo
// cells South and West in degrees, for Plane cells X and Y in metres.
type CellBounds struct {
	Cell
	Size        float64
	South, West float64
	MinX, MinY  float64
}

// bounds returns the cell's corner and side under the cell size of a
// Spec.
func (c *Cell) bounds(size float64) *CellBounds {
	size = cellSize(c.Kind, size)
	b := &CellBounds{Cell: *c, Size: size}
	if c.Kind == sensor.Geo {
		b.South, b.West = float64(c.Y)*size, float64(c.X)*size
	} else {
		b.MinX, b.MinY = float64(c.X)*size, float64(c.Y)*size
	}
	return b
}
