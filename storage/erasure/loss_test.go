package erasure

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func mustChunkLoss(t testing.TB, p Params, nodes, failed int) *big.Rat {
	t.Helper()
	r, err := ChunkLoss(p, nodes, failed)
	if err != nil {
		t.Fatalf("ChunkLoss(%v, %d, %d): %v", p, nodes, failed, err)
	}
	return r
}

func TestChunkLossExactValues(t *testing.T) {
	tests := []struct {
		p             Params
		nodes, failed int
		want          *big.Rat
	}{
		// All 3 copies on failed nodes: C(16,3)/C(48,3) = 560/17296.
		{Replication(3), 48, 16, big.NewRat(560, 17296)},
		// 32 shards on 48 nodes hold at most 16 failed ones, so never more
		// than Parity.
		{Params{Data: 16, Parity: 16}, 48, 16, new(big.Rat)},
		{Params{Data: 24, Parity: 24}, 48, 24, new(big.Rat)},
		// All 48 shards cover the cluster, so exactly 24 fail: always lost.
		{Params{Data: 32, Parity: 16}, 48, 24, big.NewRat(1, 1)},
		{Params{Data: 4, Parity: 2}, 48, 0, new(big.Rat)},
		{Params{Data: 4, Parity: 2}, 48, 48, big.NewRat(1, 1)},
		// No parity: lost unless all 2 shards avoid the failed node,
		// 1 − C(2,2)/C(3,2) = 2/3.
		{Params{Data: 2, Parity: 0}, 3, 1, big.NewRat(2, 3)},
	}
	for _, tt := range tests {
		got := mustChunkLoss(t, tt.p, tt.nodes, tt.failed)
		if got.Cmp(tt.want) != 0 {
			t.Errorf("ChunkLoss(%v, N=%d, f=%d) = %v, want %v", tt.p, tt.nodes, tt.failed, got, tt.want)
		}
	}
}

func TestChunkLossRejects(t *testing.T) {
	if _, err := ChunkLoss(Params{Data: 40, Parity: 10}, 48, 16); err == nil {
		t.Error("ChunkLoss accepted 50 shards on 48 nodes")
	}
	if _, err := ChunkLoss(Params{Data: 4, Parity: 2}, 48, 49); err == nil {
		t.Error("ChunkLoss accepted 49 failed of 48 nodes")
	}
	if _, err := ChunkLoss(Params{Data: 0, Parity: 2}, 48, 16); err == nil {
		t.Error("ChunkLoss accepted invalid params")
	}
	if _, err := ChunkLossIndependent(Params{Data: 4, Parity: 2}, big.NewRat(3, 2)); err == nil {
		t.Error("ChunkLossIndependent accepted q = 3/2")
	}
}

func TestChunkLossIndependentExactValues(t *testing.T) {
	tests := []struct {
		p    Params
		q    *big.Rat
		want *big.Rat
	}{
		{Replication(3), big.NewRat(1, 10), big.NewRat(1, 1000)},
		// 2+1 is lost when 2 or 3 of 3 fail: 3·q²(1−q) + q³ with q = 1/2.
		{Params{Data: 2, Parity: 1}, big.NewRat(1, 2), big.NewRat(1, 2)},
		{Params{Data: 4, Parity: 4}, new(big.Rat), new(big.Rat)},
		{Params{Data: 4, Parity: 4}, big.NewRat(1, 1), big.NewRat(1, 1)},
	}
	for _, tt := range tests {
		got, err := ChunkLossIndependent(tt.p, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cmp(tt.want) != 0 {
			t.Errorf("ChunkLossIndependent(%v, %v) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
	}
}

// TestChunkLossApproachesBinomial checks that sampling without replacement
// from a large cluster approaches independent failures.
func TestChunkLossApproachesBinomial(t *testing.T) {
	p := Params{Data: 8, Parity: 8}
	hyper, _ := mustChunkLoss(t, p, 300_000, 100_000).Float64()
	indep, err := ChunkLossIndependent(p, big.NewRat(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := indep.Float64()
	if math.Abs(hyper-want)/want > 1e-3 {
		t.Errorf("hypergeometric %g, binomial %g: differ by more than 0.1%%", hyper, want)
	}
}

func TestDataSetLossMatchesExactPower(t *testing.T) {
	tests := []struct {
		chunk  *big.Rat
		chunks int64
	}{
		{big.NewRat(1, 1000), 500},         // float64 branch
		{big.NewRat(3, 7), 20},             // float64 branch, large p
		{big.NewRat(1, 1_000_000_000), 50}, // series branch
		{big.NewRat(1, 3), 1},
	}
	for _, tt := range tests {
		// 1 − (1−p)^C exactly, feasible for these small C.
		survive := new(big.Rat).Sub(big.NewRat(1, 1), tt.chunk)
		exact := new(big.Rat).Sub(big.NewRat(1, 1), ratPow(survive, int(tt.chunks)))
		want, _ := exact.Float64()

		got, _ := DataSetLoss(tt.chunk, tt.chunks).Float64()
		if math.Abs(got-want)/want > 1e-12 {
			t.Errorf("DataSetLoss(%v, %d) = %.15g, exact %.15g", tt.chunk, tt.chunks, got, want)
		}
	}
}

func TestDataSetLossBelowFloat64(t *testing.T) {
	chunk := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(400), nil))
	got := DataSetLoss(chunk, 1000)
	want := new(big.Float).SetRat(new(big.Rat).Mul(chunk, big.NewRat(1000, 1)))
	if got.Sign() == 0 {
		t.Fatal("DataSetLoss underflowed to 0 for a 1e-400 chunk probability")
	}
	ratio, _ := new(big.Float).Quo(got, want).Float64()
	if math.Abs(ratio-1) > 1e-12 {
		t.Errorf("DataSetLoss(1e-400, 1000) = %s, want %s", got.Text('e', 6), want.Text('e', 6))
	}
}

func TestDataSetLossEdges(t *testing.T) {
	if got := DataSetLoss(new(big.Rat), 1_000_000); got.Sign() != 0 {
		t.Errorf("DataSetLoss(0, 10^6) = %v, want 0", got)
	}
	if got, _ := DataSetLoss(big.NewRat(1, 1), 3).Float64(); got != 1 {
		t.Errorf("DataSetLoss(1, 3) = %v, want 1", got)
	}
}

func TestUnionBound(t *testing.T) {
	if got := UnionBound(big.NewRat(1, 1000), 10); got.Cmp(big.NewRat(1, 100)) != 0 {
		t.Errorf("UnionBound(1/1000, 10) = %v, want 1/100", got)
	}
	if got := UnionBound(big.NewRat(1, 2), 10); got.Cmp(big.NewRat(1, 1)) != 0 {
		t.Errorf("UnionBound(1/2, 10) = %v, want 1", got)
	}
	chunk := big.NewRat(1, 500)
	bound, _ := UnionBound(chunk, 100).Float64()
	exact, _ := DataSetLoss(chunk, 100).Float64()
	if bound < exact {
		t.Errorf("union bound %g is below the exact %g", bound, exact)
	}
}

// simulator draws failures and placements like the model behind ChunkLoss.
type simulator struct {
	rng    *rand.Rand
	nodes  []int
	failed []bool
}

func newSimulator(seed uint64, nodes int) *simulator {
	s := &simulator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), nodes: make([]int, nodes), failed: make([]bool, nodes)}
	for i := range s.nodes {
		s.nodes[i] = i
	}
	return s
}

// fail marks a uniformly random set of count nodes as failed.
func (s *simulator) fail(count int) {
	clear(s.failed)
	for _, n := range s.pick(count) {
		s.failed[n] = true
	}
}

// pick returns count distinct nodes by a partial Fisher–Yates shuffle.
func (s *simulator) pick(count int) []int {
	for i := 0; i < count; i++ {
		j := i + s.rng.IntN(len(s.nodes)-i)
		s.nodes[i], s.nodes[j] = s.nodes[j], s.nodes[i]
	}
	return s.nodes[:count]
}

// lost places a chunk on random distinct nodes and reports whether more
// than p.Parity of them failed.
func (s *simulator) lost(p Params) bool {
	down := 0
	for _, n := range s.pick(p.Total()) {
		if s.failed[n] {
			down++
		}
	}
	return down > p.Parity
}

// checkEstimate fails t when the observed frequency is more than five
// standard errors from want, a false alarm rate near 6e-7 per check.
func checkEstimate(t *testing.T, what string, hits, trials int, want float64) {
	t.Helper()
	got := float64(hits) / float64(trials)
	sigma := math.Sqrt(want * (1 - want) / float64(trials))
	if want == 0 {
		if hits != 0 {
			t.Errorf("%s: %d losses in %d trials, want none", what, hits, trials)
		}
		return
	}
	if math.Abs(got-want) > 5*sigma {
		t.Errorf("%s: simulated %.5f, computed %.5f (σ %.5f)", what, got, want, sigma)
	}
}

func TestChunkLossMonteCarlo(t *testing.T) {
	const trials = 100_000
	tests := []struct {
		p             Params
		nodes, failed int
	}{
		{Replication(3), 48, 16},
		{Params{Data: 4, Parity: 2}, 48, 16},
		{Params{Data: 8, Parity: 8}, 48, 16},
		{Params{Data: 10, Parity: 10}, 48, 16},
		{Params{Data: 16, Parity: 16}, 48, 16},
		{Params{Data: 16, Parity: 16}, 48, 24},
		{Params{Data: 24, Parity: 24}, 48, 24},
	}
	for i, tt := range tests {
		sim := newSimulator(uint64(i+1), tt.nodes)
		hits := 0
		for range trials {
			sim.fail(tt.failed)
			if sim.lost(tt.p) {
				hits++
			}
		}
		want, _ := mustChunkLoss(t, tt.p, tt.nodes, tt.failed).Float64()
		checkEstimate(t, tt.p.String(), hits, trials, want)
	}
}

func TestChunkLossIndependentMonteCarlo(t *testing.T) {
	const trials = 100_000
	rng := rand.New(rand.NewPCG(11, 12))
	for _, p := range []Params{{Data: 8, Parity: 8}, DefaultParams, Replication(3)} {
		q := big.NewRat(1, 3)
		hits := 0
		for range trials {
			down := 0
			for range p.Total() {
				if rng.IntN(3) == 0 {
					down++
				}
			}
			if down > p.Parity {
				hits++
			}
		}
		r, err := ChunkLossIndependent(p, q)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := r.Float64()
		checkEstimate(t, p.String()+" independent", hits, trials, want)
	}
}

// TestDataSetLossMonteCarlo checks that chunks on random node sets are lost
// independently given the failed set, the assumption behind DataSetLoss.
func TestDataSetLossMonteCarlo(t *testing.T) {
	const trials, chunks = 5_000, 100
	p := Params{Data: 10, Parity: 10}
	sim := newSimulator(99, 48)
	hits := 0
	for range trials {
		sim.fail(16)
		for range chunks {
			if sim.lost(p) {
				hits++
				break
			}
		}
	}
	want, _ := DataSetLoss(mustChunkLoss(t, p, 48, 16), chunks).Float64()
	checkEstimate(t, "100 chunks of 10+10", hits, trials, want)
}

func TestChunkLossSpread(t *testing.T) {
	// With no more shards than nodes, the spread is one shard per node
	// on n of them, as ChunkLoss assumes.
	for _, p := range []Params{{Data: 16, Parity: 16}, {Data: 8, Parity: 4}} {
		spread, err := ChunkLossSpread(p, 48, 16)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ChunkLoss(p, 48, 16)
		if err != nil {
			t.Fatal(err)
		}
		if spread.Cmp(want) != 0 {
			t.Errorf("ChunkLossSpread(%v, 48, 16) = %v, want ChunkLoss's %v", p, spread.RatString(), want.RatString())
		}
	}

	// 48 shards on 32 nodes: 16 nodes hold two. Any 8 failing lose at
	// most 16 shards, so 32+16 survives and 33+15 is lost exactly when
	// all 8 failed nodes hold two: C(16,8)/C(32,8).
	tests := []struct {
		p    Params
		want *big.Rat
	}{
		{Params{Data: 32, Parity: 16}, new(big.Rat)},
		{Params{Data: 33, Parity: 15}, big.NewRat(12870, 10518300)},
		{Params{Data: 24, Parity: 16}, new(big.Rat)},
	}
	for _, tt := range tests {
		got, err := ChunkLossSpread(tt.p, 32, 8)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cmp(tt.want) != 0 {
			t.Errorf("ChunkLossSpread(%v, 32, 8) = %v, want %v", tt.p, got.RatString(), tt.want.RatString())
		}
	}
	if _, err := ChunkLossSpread(Params{Data: 2, Parity: 1}, 4, 5); err == nil {
		t.Error("ChunkLossSpread with more failed nodes than nodes returned no error")
	}
}
