package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/yuinet/yui/network/identity"
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
