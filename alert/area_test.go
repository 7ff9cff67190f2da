package alert

import "testing"

func TestAreaContains(t *testing.T) {
	tokyo := Point{Lat: 35.6812, Lon: 139.7671}
	yokohama := Point{Lat: 35.4660, Lon: 139.6223} // about 27 km from tokyo
	circle := &Area{Center: &tokyo, Radius: 30_000}
	small := &Area{Center: &tokyo, Radius: 20_000}
	square := &Area{Polygon: []Point{{Lat: 35, Lon: 139}, {Lat: 36, Lon: 139}, {Lat: 36, Lon: 140}, {Lat: 35, Lon: 140}}}

	tests := []struct {
		name string
		area *Area
		p    Point
		want bool
	}{
		{"everywhere", nil, yokohama, true},
		{"circle centre", circle, tokyo, true},
		{"inside radius", circle, yokohama, true},
		{"outside radius", small, yokohama, false},
		{"inside polygon", square, tokyo, true},
		{"outside polygon", square, Point{Lat: 34.9, Lon: 139.5}, false},
		{"east of polygon", square, Point{Lat: 35.5, Lon: 140.1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.area.Contains(tt.p); got != tt.want {
				t.Errorf("Contains(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	// One degree of latitude is about 111.2 km on the mean sphere.
	got := distance(Point{Lat: 0, Lon: 0}, Point{Lat: 1, Lon: 0})
	if got < 111_100 || got > 111_300 {
		t.Errorf("distance of one degree = %.0f m, want about 111,195 m", got)
	}
}
