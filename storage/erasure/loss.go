package erasure

import (
	"fmt"
	"math"
	"math/big"
)

// This file computes how likely a failure is to destroy data, which is how
// DefaultParams was chosen (docs/redundancy.md shows the numbers).
//
// A chunk coded with Params p has n = p.Total() shards on n distinct
// nodes and is lost when more than p.Parity of them fail. Per-chunk
// probabilities are computed exactly with big.Rat. The sums have at most
// n+1 terms of binomial coefficients with a few hundred digits, which is
// cheap. An exact sum also keeps the far tail, which a float64 sum of
// small and large terms would round away.

// ChunkLoss returns the exact probability that a chunk coded with p is
// lost when failed nodes of a cluster of nodes fail at once, the failed set
// being uniformly random and the chunk's p.Total() shards on distinct
// nodes. The number of its shards on failed nodes is hypergeometric:
//
//	P(lost) = Σ_{k=Parity+1}^{min(n,f)} C(f,k)·C(N−f,n−k) / C(N,n)
//
// with N = nodes, f = failed and n = p.Total().
func ChunkLoss(p Params, nodes, failed int) (*big.Rat, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	n := p.Total()
	if nodes < n {
		return nil, fmt.Errorf("erasure: %v needs %d distinct nodes, the cluster has %d", p, n, nodes)
	}
	if failed < 0 || failed > nodes {
		return nil, fmt.Errorf("erasure: %d failed nodes is outside 0..%d", failed, nodes)
	}

	lost := new(big.Int)
	for k := p.Parity + 1; k <= min(n, failed); k++ {
		term := binomial(failed, k)
		term.Mul(term, binomial(nodes-failed, n-k))
		lost.Add(lost, term)
	}
	return new(big.Rat).SetFrac(lost, binomial(nodes, n)), nil
}

// ChunkLossSpread returns the exact probability that a chunk coded with p
// is lost when failed nodes of a cluster of nodes fail at once, its
// p.Total() shards being spread over all nodes as evenly as possible:
// r = n mod N nodes hold s+1 shards and the others s = floor(n/N). This is
// where repair leaves a chunk once fewer nodes than shards survive. If j
// failed nodes hold s+1 shards, the chunk loses j·(s+1) + (f−j)·s, so
//
//	P(lost) = Σ_j C(r,j)·C(N−r,f−j) / C(N,f) over j with j·(s+1)+(f−j)·s > Parity
//
// with N = nodes, f = failed and n = p.Total(). With n ≤ N it equals
// ChunkLoss.
func ChunkLossSpread(p Params, nodes, failed int) (*big.Rat, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if nodes < 1 || failed < 0 || failed > nodes {
		return nil, fmt.Errorf("erasure: %d failed nodes is outside 0..%d", failed, nodes)
	}
	n := p.Total()
	s, r := n/nodes, n%nodes
	lost := new(big.Int)
	for j := max(0, failed-(nodes-r)); j <= min(r, failed); j++ {
		if j*(s+1)+(failed-j)*s <= p.Parity {
			continue
		}
		term := binomial(r, j)
		term.Mul(term, binomial(nodes-r, failed-j))
		lost.Add(lost, term)
	}
	return new(big.Rat).SetFrac(lost, binomial(nodes, failed)), nil
}

// ChunkLossIndependent returns the exact probability that a chunk coded
// with p is lost when each node fails independently with probability q,
// the model for a large network in which a fraction q of nodes fails. The
// number of its shards on failed nodes is binomial:
//
//	P(lost) = Σ_{k=Parity+1}^{n} C(n,k)·q^k·(1−q)^(n−k)
func ChunkLossIndependent(p Params, q *big.Rat) (*big.Rat, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	one := big.NewRat(1, 1)
	if q.Sign() < 0 || q.Cmp(one) > 0 {
		return nil, fmt.Errorf("erasure: failure probability %v is outside [0, 1]", q.RatString())
	}

	n := p.Total()
	survive := new(big.Rat).Sub(one, q)
	lost := new(big.Rat)
	for k := p.Parity + 1; k <= n; k++ {
		term := new(big.Rat).SetInt(binomial(n, k))
		term.Mul(term, ratPow(q, k))
		term.Mul(term, ratPow(survive, n-k))
		lost.Add(lost, term)
	}
	return lost, nil
}

// DataSetLoss returns the probability that at least one of chunks chunks
// is lost when each is lost with probability chunk, independently:
// 1−(1−chunk)^chunks. Chunks placed on uniformly random node sets are
// independent given the failed set, so this is exact for that placement.
// For any other placement UnionBound still bounds the probability.
//
// The result is a big.Float because it can be far below the smallest
// float64 (about 1e-308). When chunks·chunk < 1e-6 it returns the first two
// terms of the binomial expansion, chunks·chunk − C(chunks,2)·chunk², whose
// relative error is below 1e-12. Otherwise it computes
// −expm1(chunks·log1p(−chunk)) in float64, whose relative error is near
// float64 precision because log1p and expm1 avoid the cancellation in 1−x.
func DataSetLoss(chunk *big.Rat, chunks int64) *big.Float {
	if chunk.Sign() <= 0 || chunks <= 0 {
		return new(big.Float)
	}
	c := new(big.Rat).SetInt64(chunks)
	expected := new(big.Rat).Mul(c, chunk)
	if expected.Cmp(big.NewRat(1, 1_000_000)) < 0 {
		pairs := new(big.Rat).Mul(c, new(big.Rat).SetInt64(chunks-1))
		pairs.Quo(pairs, big.NewRat(2, 1))
		second := new(big.Rat).Mul(pairs, new(big.Rat).Mul(chunk, chunk))
		return new(big.Float).SetPrec(64).SetRat(new(big.Rat).Sub(expected, second))
	}

	p, _ := chunk.Float64()
	return big.NewFloat(-math.Expm1(float64(chunks) * math.Log1p(-p)))
}

// UnionBound returns chunks·chunk, capped at 1: an upper bound on the
// probability that at least one of chunks chunks is lost, for any
// placement, because it is the expected number of lost chunks.
func UnionBound(chunk *big.Rat, chunks int64) *big.Rat {
	bound := new(big.Rat).Mul(chunk, new(big.Rat).SetInt64(chunks))
	if one := big.NewRat(1, 1); bound.Cmp(one) > 0 {
		return one
	}
	return bound
}

// binomial returns C(n, k) as a new big.Int, 0 when k is outside 0..n.
func binomial(n, k int) *big.Int {
	if k < 0 || k > n {
		return new(big.Int)
	}
	return new(big.Int).Binomial(int64(n), int64(k))
}

func ratPow(x *big.Rat, e int) *big.Rat {
	num := new(big.Int).Exp(x.Num(), big.NewInt(int64(e)), nil)
	den := new(big.Int).Exp(x.Denom(), big.NewInt(int64(e)), nil)
	return new(big.Rat).SetFrac(num, den)
}
