// Package geo groups nodes and sensor data into geographic clusters:
// the cells of a fixed grid of latitude and longitude.
//
// A cell is CellDegrees on each side, about 55 km north to south and
// 39 km east to west at 45° latitude. That is a town with its
// surroundings: large enough that a cluster of community nodes has
// several workers to share a job, small enough that its traffic stays on
// the networks of one area, the part that a disaster is likely to cut
// off together. The search index's finer cells (0.01° and 0.1°) would
// leave most clusters with one or two nodes.
//
// NOTE: a fixed grid splits neighbours that sit on either side of a cell
// edge into two clusters, however close they are.
package geo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/yuinet/yui/sensor"
)

// CellDegrees is the side of a cell in degrees of latitude and longitude.
const CellDegrees = 0.5

// ErrInvalid reports a position that is not a latitude and longitude in
// range.
var ErrInvalid = errors.New("geo: invalid position")

// Cell returns the name of the cell holding a position: the latitude
// and longitude of its south-west corner, such as "50.5,4.0". It returns
// an error for a latitude outside [-90, 90] or a longitude outside
// [-180, 180].
func Cell(lat, lon float64) (string, error) {
	if !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180) {
		return "", fmt.Errorf("%w: latitude %v, longitude %v; want -90 to 90 and -180 to 180", ErrInvalid, lat, lon)
	}
	// The north pole and the antimeridian belong to the cells south and
	// west of them, so that there are 360 rows and 720 columns.
	row := min(math.Floor((lat+90)/CellDegrees), 180/CellDegrees-1)
	col := min(math.Floor((lon+180)/CellDegrees), 360/CellDegrees-1)
	return fmt.Sprintf("%.1f,%.1f", row*CellDegrees-90, col*CellDegrees-180), nil
}

// CellOf returns the cell of a reading's location, or "" for a reading
// with no location, with a location on a site plan, which has no place
// on the globe, or with a position out of range.
func CellOf(l *sensor.Location) string {
	if l == nil || l.Kind != sensor.Geo {
		return ""
	}
	c, err := Cell(l.Lat, l.Lon)
	if err != nil {
		return ""
	}
	return c
}

// ParsePosition parses "LAT,LON" in degrees, such as "50.81,4.38".
func ParsePosition(s string) (lat, lon float64, err error) {
	a, b, ok := strings.Cut(s, ",")
	if ok {
		lat, err = strconv.ParseFloat(strings.TrimSpace(a), 64)
	}
	if ok && err == nil {
		lon, err = strconv.ParseFloat(strings.TrimSpace(b), 64)
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("%w: %q; want LAT,LON in degrees, such as 50.81,4.38", ErrInvalid, s)
	}
	if _, err := Cell(lat, lon); err != nil {
		return 0, 0, err
	}
	return lat, lon, nil
}

// maxTallyCells bounds the cells a Tally counts, since readings come
// from users and peers. Readings of further cells are not counted.
const maxTallyCells = 1024

// Tally counts readings by cell to find where most of them come from.
// A node uses one to place itself in the cluster of the sensors it
// ingests, and a worker to name the cluster of a unit's data. The zero
// value is ready to use. A Tally is not safe for concurrent use.
type Tally struct {
	counts map[string]int64
}

// Add counts one reading at l. Readings without a cell are skipped.
func (t *Tally) Add(l *sensor.Location) {
	c := CellOf(l)
	if c == "" {
		return
	}
	if t.counts == nil {
		t.counts = make(map[string]int64)
	}
	if _, ok := t.counts[c]; !ok && len(t.counts) >= maxTallyCells {
		return
	}
	t.counts[c]++
}

// Top returns the cell with the most readings, the lowest name among
// equals so that the answer does not depend on map order, or "" when no
// reading had a cell.
func (t *Tally) Top() string {
	best, bestN := "", int64(0)
	for c, n := range t.counts {
		if n > bestN || (n == bestN && c < best) {
			best, bestN = c, n
		}
	}
	return best
}
