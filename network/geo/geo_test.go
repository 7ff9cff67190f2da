package geo

import (
	"errors"
	"testing"

	"github.com/yuinet/yui/sensor"
)

func TestCellNames(t *testing.T) {
	cases := []struct {
		lat, lon float64
		want     string
	}{
		{50.81, 4.38, "50.5,4.0"},   // Brussels
		{50.99, 4.49, "50.5,4.0"},   // same cell, 20 km away
		{51.0, 4.38, "51.0,4.0"},    // the next row starts at 51.0
		{45.07, 7.69, "45.0,7.5"},   // Turin
		{-33.9, 18.4, "-34.0,18.0"}, // south and east
		{-0.1, -0.1, "-0.5,-0.5"},
		{90, 180, "89.5,179.5"}, // the corner belongs to the last cell
		{-90, -180, "-90.0,-180.0"},
	}
	for _, tc := range cases {
		got, err := Cell(tc.lat, tc.lon)
		if err != nil {
			t.Fatalf("Cell(%v, %v): %v", tc.lat, tc.lon, err)
		}
		if got != tc.want {
			t.Errorf("Cell(%v, %v) = %q, want %q", tc.lat, tc.lon, got, tc.want)
		}
	}
}

func TestCellRejectsOutOfRange(t *testing.T) {
	nan := func() float64 { var z float64; return z / z }()
	for _, p := range [][2]float64{{91, 0}, {0, 181}, {-90.5, 0}, {nan, 0}, {0, nan}} {
		if _, err := Cell(p[0], p[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("Cell(%v, %v) error %v, want ErrInvalid", p[0], p[1], err)
		}
	}
}

func TestCellOfSkipsPlanePoints(t *testing.T) {
	if c := CellOf(sensor.PlanePoint(10, 20)); c != "" {
		t.Errorf("plane point has cell %q, want none", c)
	}
	if c := CellOf(nil); c != "" {
		t.Errorf("no location has cell %q, want none", c)
	}
	if c := CellOf(sensor.GeoPoint(50.81, 4.38)); c != "50.5,4.0" {
		t.Errorf("Brussels has cell %q, want 50.5,4.0", c)
	}
}

func TestParsePosition(t *testing.T) {
	lat, lon, err := ParsePosition(" 50.81, 4.38")
	if err != nil || lat != 50.81 || lon != 4.38 {
		t.Fatalf("ParsePosition = %v, %v, %v; want 50.81, 4.38", lat, lon, err)
	}
	for _, bad := range []string{"", "50.81", "a,b", "50.81,4.38,1", "91,0", "0,-181"} {
		if _, _, err := ParsePosition(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePosition(%q) error %v, want ErrInvalid", bad, err)
		}
	}
}

func TestTallyTopCell(t *testing.T) {
	var tally Tally
	if c := tally.Top(); c != "" {
		t.Fatalf("empty tally tops %q", c)
	}
	tally.Add(sensor.GeoPoint(45.07, 7.69))
	tally.Add(sensor.GeoPoint(50.81, 4.38))
	if c := tally.Top(); c != "45.0,7.5" {
		t.Errorf("tie tops %q, want the lower name 45.0,7.5", c)
	}
	tally.Add(sensor.GeoPoint(50.9, 4.4))
	tally.Add(sensor.PlanePoint(1, 2))
	if c := tally.Top(); c != "50.5,4.0" {
		t.Errorf("tally tops %q, want 50.5,4.0 with two readings", c)
	}
}

func TestTallyBoundsCells(t *testing.T) {
	var tally Tally
	for i := range maxTallyCells + 10 {
		tally.Add(sensor.GeoPoint(-89+float64(i/500), -179+float64(i%500)*0.5))
	}
	if len(tally.counts) != maxTallyCells {
		t.Fatalf("tally counts %d cells, limit %d", len(tally.counts), maxTallyCells)
	}
}

// FuzzParsePosition checks that any text either parses to a position in
// range, whose cell exists, or fails with ErrInvalid.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"50.81,4.38", "-90,-180", "90,180", "1e309,0", "NaN,0", ",", "a,b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lat, lon, err := ParsePosition(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParsePosition(%q) error %v, want ErrInvalid", s, err)
			}
			return
		}
		if _, err := Cell(lat, lon); err != nil {
			t.Fatalf("ParsePosition(%q) = %v, %v, which has no cell: %v", s, lat, lon, err)
		}
	})
}
