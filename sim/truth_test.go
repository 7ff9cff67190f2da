package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// scanClosest finds the ID closest to key by comparing it with every one.
func scanClosest(ids []identity.NodeID, key identity.NodeID) identity.NodeID {
	best := ids[0]
	for _, id := range ids[1:] {
		if identity.CloserTo(key, id, best) {
			best = id
		}
	}
	return best
}

func TestTruthMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, size := range []int{1, 2, 3, 17, 1000} {
		ids := make([]identity.NodeID, size)
		for i := range ids {
			ids[i] = randomKey(rng)
			if i%3 == 1 {
				// Long shared prefixes exercise the deep bits.
				ids[i] = ids[i-1]
				ids[i][31] ^= byte(1 + rng.IntN(255))
			}
		}
		scan := append([]identity.NodeID(nil), ids...)
		truth := NewTruth(ids)

		for range 2000 {
			key := randomKey(rng)
			if rng.IntN(4) == 0 {
				key = scan[rng.IntN(len(scan))]
				key[31] ^= 1
			}
			got, ok := truth.Closest(key)
			want := scanClosest(scan, key)
			if !ok || got != want {
				t.Fatalf("%d IDs: Closest(%s) = %s, want %s", size, key.Short(), got.Short(), want.Short())
			}
		}
	}
}

func TestTruthEmpty(t *testing.T) {
	if _, ok := NewTruth(nil).Closest(identity.NodeID{1}); ok {
		t.Error("Closest on no participants returned ok")
	}
}

// TestJudgeCountsJoinedNodes checks that a lookup must find the closest
// node that has joined, and may instead return a closer one still joining.
func TestJudgeCountsJoinedNodes(t *testing.T) {
	n := newTestNetwork(t, Config{Seed: 1, Mode: Flat})
	var key, joined, joining, stranger identity.NodeID
	joined[0] = 0x80
	joining[0] = 0x10
	stranger[0] = 0x01
	truth := NewTruth([]identity.NodeID{joined})
	withJoining := NewTruth([]identity.NodeID{joined, joining})

	tests := []struct {
		name                        string
		got                         identity.NodeID
		correct, correctWithJoining bool
	}{
		{"joined node", joined, true, false},
		{"closer node still joining", joining, true, true},
		{"closer node not in the DHT", stranger, false, false},
	}
	for _, tt := range tests {
		r := &kademlia.LookupResult{Target: key, Closest: []wire.Contact{{ID: tt.got}}}
		p := n.judge(r, truth, withJoining)
		if p.Correct != tt.correct {
			t.Errorf("%s: Correct = %v, want %v", tt.name, p.Correct, tt.correct)
		}
		if p.CorrectWithJoining != tt.correctWithJoining {
			t.Errorf("%s: CorrectWithJoining = %v, want %v", tt.name, p.CorrectWithJoining, tt.correctWithJoining)
		}
	}
}
