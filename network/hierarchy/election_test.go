package hierarchy

import (
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
)

func idOf(b byte) identity.NodeID {
	var id identity.NodeID
	id[0] = b
	return id
}

func cand(b byte, merit uint32, claim bool) candidate {
	return candidate{id: idOf(b), merit: merit, claim: claim}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		cands []candidate
		self  byte
		want  verdict
	}{
		{"alone claims", []candidate{cand(1, 10, false)}, 1, claimSeat},
		{"best fills free seat", []candidate{cand(1, 50, true), cand(2, 40, false), cand(3, 30, false)}, 2, claimSeat},
		{"second fills second free seat", []candidate{cand(1, 50, true), cand(2, 40, false), cand(3, 30, false)}, 3, claimSeat},
		{"fourth waits with three free seats taken", []candidate{cand(1, 50, false), cand(2, 40, false), cand(3, 30, false), cand(4, 20, false)}, 4, stay},
		{"tie goes to lower ID", []candidate{cand(9, 30, true), cand(8, 30, true), cand(5, 20, false), cand(6, 20, false)}, 5, claimSeat},
		{"tie loser waits", []candidate{cand(9, 30, true), cand(8, 30, true), cand(5, 20, false), cand(6, 20, false)}, 6, stay},
		{"challenger below margin stays", full(cand(4, 45, false)), 4, stay},
		{"challenger at margin challenges", full(cand(4, 46, false)), 4, challenge},
		{"second challenger waits", full(cand(4, 80, false), cand(5, 90, false)), 4, stay},
		{"incumbent stays when challenged", full(cand(4, 90, false)), 3, stay},
		{"weakest of four claimants steps down", full(cand(4, 90, true)), 3, stepDown},
		{"stronger of four claimants stays", full(cand(4, 90, true)), 2, stay},
		{"newcomer among four stays", full(cand(4, 90, true)), 4, stay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.cands, idOf(tt.self), 3, 16); got != tt.want {
				t.Fatalf("decide = %d, want %d", got, tt.want)
			}
		})
	}
}

// full returns three claimants with merits 50, 40 and 30, and extra.
func full(extra ...candidate) []candidate {
	return append([]candidate{cand(1, 50, true), cand(2, 40, true), cand(3, 30, true)}, extra...)
}

func TestMeritOrdersScores(t *testing.T) {
	base := Score{Uptime: time.Hour, Capacity: 1024, Link: 100}
	better := []Score{
		{Uptime: 2 * time.Hour, Capacity: 1024, Link: 100},
		{Uptime: time.Hour, Capacity: 2048, Link: 100},
		{Uptime: time.Hour, Capacity: 1024, Link: 200},
	}
	for _, s := range better {
		if s.Merit() <= base.Merit() {
			t.Errorf("Merit(%+v) = %d, not above Merit(%+v) = %d", s, s.Merit(), base, base.Merit())
		}
	}
	if up, cap := better[0].Merit()-base.Merit(), better[1].Merit()-base.Merit(); up != 2*cap {
		t.Errorf("doubling uptime adds %d, doubling capacity %d: want uptime to weigh double", up, cap)
	}
	if got := (Score{Uptime: -time.Hour}).Merit(); got != 0 {
		t.Errorf("Merit of a negative uptime = %d, want 0", got)
	}
}

func TestLg16(t *testing.T) {
	tests := []struct {
		x    uint64
		want uint32
	}{
		{0, 0},
		{1, 16},
		{2, 16 + 8},
		{3, 32},
		{1023, 160},
		{^uint64(0), 16*63 + 15},
	}
	for _, tt := range tests {
		if got := lg16(tt.x); got != tt.want {
			t.Errorf("lg16(%d) = %d, want %d", tt.x, got, tt.want)
		}
	}
}
