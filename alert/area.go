package alert

import "math"

// earthRadius is the mean Earth radius in metres (IUGG).
const earthRadius = 6_371_008.8

// Contains reports whether p lies in the area. The zero Area contains
// every point. A circle uses the great-circle distance on a sphere; a
// polygon is tested in the plane of latitude and longitude.
// NOTE: a polygon that crosses the 180th meridian is not supported.
func (a *Area) Contains(p Point) bool {
	switch {
	case a.IsZero():
		return true
	case a.Center != nil:
		return distance(*a.Center, p) <= a.Radius
	}
	return inPolygon(a.Polygon, p)
}

// distance returns the great-circle distance between a and b in metres,
// by the haversine formula.
func distance(a, b Point) float64 {
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(min(h, 1)))
}

// inPolygon casts a ray from p towards rising longitude and counts the
// edges it crosses: an odd count means inside.
func inPolygon(poly []Point, p Point) bool {
	inside := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Lat > p.Lat) == (b.Lat > p.Lat) {
			continue
		}
		crossLon := a.Lon + (p.Lat-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat)
		if p.Lon < crossLon {
			inside = !inside
		}
	}
	return inside
}
