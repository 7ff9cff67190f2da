package tag

import (
	"testing"
	"time"
)

func TestPolygonContains(t *testing.T) {
	// An L-shaped yard: the square 0..20 minus its upper-right quarter.
	yard := Polygon{{0, 0}, {20, 0}, {20, 10}, {10, 10}, {10, 20}, {0, 20}}
	tests := []struct {
		p    Point
		want bool
	}{
		{Point{5, 5}, true},
		{Point{15, 5}, true},
		{Point{5, 15}, true},
		{Point{15, 15}, false},
		{Point{-1, 5}, false},
		{Point{25, 5}, false},
	}
	for _, tt := range tests {
		if got := yard.Contains(tt.p); got != tt.want {
			t.Errorf("Contains(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestWatchLeftArea(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	track := []Estimate{
		{Position: Point{0, 0}, Time: t0},
		{Position: Point{60, 0}, Time: t0.Add(2 * time.Minute)},
		{Position: Point{30, 0}, Time: t0.Add(time.Minute)},
		{Position: Point{70, 0}, Time: t0.Add(3 * time.Minute)},
		{Position: Point{10, 0}, Time: t0.Add(4 * time.Minute)},
		{Position: Point{80, 0}, Time: t0.Add(5 * time.Minute)},
	}
	rule := Rule{Area: Circle{Center: Point{0, 0}, Radius: 50}}
	alerts := Watch("amy", rule, track, t0.Add(6*time.Minute))
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2 (two departures): %+v", len(alerts), alerts)
	}
	for i, want := range []time.Time{t0.Add(2 * time.Minute), t0.Add(5 * time.Minute)} {
		if alerts[i].Kind != LeftArea || !alerts[i].Time.Equal(want) {
			t.Errorf("alert %d: %s at %v, want left-area at %v", i, alerts[i].Kind, alerts[i].Time, want)
		}
	}
}

func TestWatchSilent(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	track := []Estimate{
		{From: t0.Add(-10 * time.Second), Time: t0},
		{From: t0.Add(50 * time.Second), Time: t0.Add(time.Minute)},
		{From: t0.Add(19 * time.Minute), Time: t0.Add(20 * time.Minute)},
	}
	rule := Rule{Silence: 15 * time.Minute}

	alerts := Watch("amy", rule, track, t0.Add(30*time.Minute))
	if len(alerts) != 1 || alerts[0].Kind != Silent || !alerts[0].Time.Equal(t0.Add(16*time.Minute)) {
		t.Fatalf("alerts %+v, want one silent alert at 18:16", alerts)
	}
	alerts = Watch("amy", rule, track, t0.Add(40*time.Minute))
	if len(alerts) != 2 || !alerts[1].Time.Equal(t0.Add(35*time.Minute)) {
		t.Fatalf("alerts %+v, want a second silent alert at 18:35 for the open gap", alerts)
	}
	if alerts := Watch("amy", rule, nil, t0); len(alerts) != 1 || alerts[0].Estimate != nil {
		t.Errorf("a tag never heard gave %+v, want one silent alert without estimate", alerts)
	}
}
