package search

import (
	"math"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
)

// Grid cell sizes, finest first. A location is indexed in one cell of
// each size, and a query near a point uses the finest size whose cells
// covering the circle number at most maxNearCells.
var (
	// geoCellDegrees are cell sides in degrees of latitude and longitude:
	// about 1.1 km, 11 km and 111 km north to south.
	geoCellDegrees = [...]float64{0.01, 0.1, 1}
	// planeCellMetres are cell sides in metres on a site's plan.
	planeCellMetres = [...]float64{1, 10, 100}
)

// maxNearCells bounds the cell tokens one Near condition becomes. A
// circle that needs more even in the largest cells is not looked up in
// the index but checked on each reading that the other conditions find.
const maxNearCells = 64

// earthRadius is the mean radius of the Earth in metres (IUGG), the
// sphere on which geo distances are computed.
const earthRadius = 6371008.8

// maxCell bounds plane cell numbers, so that converting a far coordinate
// to an integer stays defined.
const maxCell = 1 << 53

func (k *keys) cellToken(kind sensor.LocationKind, level int, x, y int64) wire.Hash {
	name := kindGeoCell
	if kind == sensor.Plane {
		name = kindPlaneCell
	}
	return k.tokenOf(name, []byte{byte(level)}, int64Part(x), int64Part(y))
}

// cellTokens returns the tokens of the cells holding loc, one per size.
func (k *keys) cellTokens(loc *sensor.Location) []wire.Hash {
	var tokens []wire.Hash
	for level := range geoCellDegrees {
		x, y := cellOf(loc, level)
		tokens = append(tokens, k.cellToken(loc.Kind, level, x, y))
	}
	return tokens
}

// cellOf returns the column and row of the cell of the given level that
// holds loc. Geo columns count from longitude -180 and wrap at +180, rows
// from latitude -90.
func cellOf(loc *sensor.Location, level int) (x, y int64) {
	if loc.Kind == sensor.Geo {
		size := geoCellDegrees[level]
		columns := geoColumns(level)
		return floorMod(int64(math.Floor((loc.Lon+180)/size)), columns), int64(math.Floor((loc.Lat + 90) / size))
	}
	size := planeCellMetres[level]
	return clampCell(math.Floor(loc.X / size)), clampCell(math.Floor(loc.Y / size))
}

func geoColumns(level int) int64 { return int64(math.Round(360 / geoCellDegrees[level])) }

func clampCell(f float64) int64 { return int64(math.Max(-maxCell, math.Min(maxCell, f))) }

// nearTokens returns the cell tokens that cover the circle of radius
// metres around center, at the finest size that takes at most
// maxNearCells, and false if none does.
func (k *keys) nearTokens(center *sensor.Location, radius float64) ([]wire.Hash, bool) {
	// The box is widened by a relative millionth so that rounding in its
	// computation cannot leave out a cell that a reading within the
	// radius falls in.
	radius = radius*(1+1e-6) + 1e-9
	for level := range geoCellDegrees {
		xs, ys, ok := cellRanges(center, radius, level)
		if !ok || int64(len(xs))*(ys[1]-ys[0]+1) > maxNearCells {
			continue
		}
		var tokens []wire.Hash
		for _, x := range xs {
			for y := ys[0]; y <= ys[1]; y++ {
				tokens = append(tokens, k.cellToken(center.Kind, level, x, y))
			}
		}
		return tokens, true
	}
	return nil, false
}

// cellRanges returns the columns and the first and last row of the
// cells of a level that hold any point within radius of center. The
// columns are listed one by one because geo columns wrap around. It
// returns false when there are more than maxNearCells columns.
func cellRanges(center *sensor.Location, radius float64, level int) (xs []int64, ys [2]int64, ok bool) {
	if center.Kind == sensor.Plane {
		lo := &sensor.Location{Kind: sensor.Plane, X: center.X - radius, Y: center.Y - radius}
		hi := &sensor.Location{Kind: sensor.Plane, X: center.X + radius, Y: center.Y + radius}
		x0, y0 := cellOf(lo, level)
		x1, y1 := cellOf(hi, level)
		if x1-x0 >= maxNearCells {
			return nil, ys, false
		}
		for x := x0; x <= x1; x++ {
			xs = append(xs, x)
		}
		return xs, [2]int64{y0, y1}, true
	}
	return geoColumnRange(center, radius, level)
}

// geoColumnRange bounds a spherical cap. Its latitudes span the angular
// radius either way of the centre. Its longitudes span
// asin(sin(r)/cos(lat)) either way, the exact half-width of a cap that
// reaches no pole, or the whole circle when it reaches one.
func geoColumnRange(center *sensor.Location, radius float64, level int) (xs []int64, ys [2]int64, ok bool) {
	size := geoCellDegrees[level]
	angle := radius / earthRadius
	dlat := angle * 180 / math.Pi
	latLo, latHi := math.Max(-90, center.Lat-dlat), math.Min(90, center.Lat+dlat)
	ys = [2]int64{int64(math.Floor((latLo + 90) / size)), int64(math.Floor((latHi + 90) / size))}

	columns := geoColumns(level)
	whole := func() ([]int64, [2]int64, bool) {
		if columns > maxNearCells {
			return nil, ys, false
		}
		for x := range columns {
			xs = append(xs, x)
		}
		return xs, ys, true
	}
	s := math.Sin(math.Min(angle, math.Pi/2)) / math.Cos(center.Lat*math.Pi/180)
	if angle >= math.Pi/2 || latLo <= -90 || latHi >= 90 || s >= 1 {
		return whole()
	}
	dlon := math.Asin(s) * 180 / math.Pi
	x0 := int64(math.Floor((center.Lon - dlon + 180) / size))
	x1 := int64(math.Floor((center.Lon + dlon + 180) / size))
	if x1-x0+1 >= columns {
		return whole()
	}
	if x1-x0 >= maxNearCells {
		return nil, ys, false
	}
	for x := x0; x <= x1; x++ {
		xs = append(xs, floorMod(x, columns))
	}
	return xs, ys, true
}

// distance returns the distance in metres between two locations of the
// same kind: along a great circle for Geo, straight for Plane. Locations
// of different kinds are infinitely far apart.
func distance(a, b *sensor.Location) float64 {
	if a.Kind != b.Kind {
		return math.Inf(1)
	}
	if a.Kind == sensor.Plane {
		return math.Hypot(a.X-b.X, a.Y-b.Y)
	}
	lat1, lat2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dlat, dlon := lat2-lat1, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(math.Min(1, h)))
}
