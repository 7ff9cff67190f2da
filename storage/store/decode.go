package store

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/erasure"
)

// maxDecodeAttempts bounds the subsets of shards tried when decoded
// chunks fail their ID check. Every attempt hashes and decodes one chunk's
// worth of bytes. With one lying holder the leave-one-out subsets find a
// clean subset within Data+1 attempts. Against more liars the remaining
// attempts draw random subsets. For 16+16 with all 32 shards fetched, 47
// random subsets remain. A random subset is clean with probability 0.24
// with 2 liars and 0.11 with 3, so all 47 fail with probability 2·10⁻⁶
// and 4·10⁻³.
const maxDecodeAttempts = 64

// errIDMismatch reports that no subset of shards tried decoded to the
// chunk's ID: some holder serves a shard whose hash is valid but whose
// contents are not the chunk's.
var errIDMismatch = errors.New("decoded chunk does not match its ID")

// decoded is the result of decodeVerified.
type decoded struct {
	data []byte
	// used are Data shards that decode to the chunk, a basis for
	// rebuilding others.
	used []erasure.Shard
	// liars are the positions in the given shards of those whose
	// contents differ from the chunk's, found only when the first
	// subset failed.
	liars []int
}

// decodeVerified decodes a chunk from shards, which carry valid hashes
// and distinct indexes within each code, and checks the result against
// the chunk's ID. A chunk written twice may be coded two ways under one
// ID, so it decodes from the shards of each code that has Data of them,
// the code with the most shards first. Within a code, when the first
// Data shards decode to something else, it tries other subsets, up to
// maxDecodeAttempts, and reports the shards of that code that disagree
// with the chunk it then finds. It fails with a *erasure.TooFewShardsError
// for the code closest to Data shards when no code has enough, and with
// errIDMismatch when no subset tried matches.
func decodeVerified(id chunk.ID, shards []erasure.Shard) (*decoded, error) {
	groups := codeGroups(shards)
	if len(groups) == 0 {
		return nil, &erasure.TooFewShardsError{}
	}
	tried := 0
	for _, pool := range groups {
		p := shards[pool[0]].Params
		if len(pool) < p.Data {
			break // groups with enough shards come first
		}
		subsets := decodeSubsets(id, len(pool), p.Data)
		tried += len(subsets)
		for attempt, subset := range subsets {
			picked := make([]erasure.Shard, len(subset))
			for i, j := range subset {
				picked[i] = shards[pool[j]]
			}
			data, _, err := erasure.Decode(picked)
			if err != nil || chunk.VerifyID(id, data) != nil {
				continue
			}
			d := &decoded{data: data, used: picked}
			if attempt > 0 {
				d.liars = disagreeing(p, data, shards)
			}
			return d, nil
		}
	}
	if tried == 0 {
		p := shards[groups[0][0]].Params
		return nil, &erasure.TooFewShardsError{Params: p, Have: len(groups[0])}
	}
	return nil, fmt.Errorf("%w: tried %d subsets of %d shards", errIDMismatch, tried, len(shards))
}

// shardHeader is the code and chunk size that the shards of one code of a
// chunk share.
type shardHeader struct {
	params erasure.Params
	size   int
}

// codeGroups returns the positions of the shards grouped by code and
// chunk size, so that no subset mixes codes. Groups with at least Data
// shards come first, each ordered by how many shards it has beyond its
// Data, most first, and ties by the larger code. The caller has verified
// every shard's hash.
func codeGroups(shards []erasure.Shard) [][]int {
	byHeader := make(map[shardHeader][]int)
	var headers []shardHeader
	for i := range shards {
		h := shardHeader{shards[i].Params, shards[i].Size}
		if _, ok := byHeader[h]; !ok {
			headers = append(headers, h)
		}
		byHeader[h] = append(byHeader[h], i)
	}
	surplus := func(h shardHeader) int { return len(byHeader[h]) - h.params.Data }
	slices.SortStableFunc(headers, func(a, b shardHeader) int {
		if c := cmp.Compare(surplus(b), surplus(a)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.params.Data, a.params.Data); c != 0 {
			return c
		}
		return cmp.Compare(b.params.Parity, a.params.Parity)
	})
	groups := make([][]int, len(headers))
	for i, h := range headers {
		groups[i] = byHeader[h]
	}
	return groups
}

// decodeSubsets returns the subsets of k of n shards to try, as positions:
// the first k, then each leaving one of the first k+1 out, then random
// ones drawn with a seed taken from the chunk ID, up to
// maxDecodeAttempts in all.
func decodeSubsets(id chunk.ID, n, k int) [][]int {
	first := make([]int, k)
	for i := range first {
		first[i] = i
	}
	subsets := [][]int{first}
	if n == k {
		return subsets
	}
	for out := k - 1; out >= 0 && len(subsets) < maxDecodeAttempts; out-- {
		s := make([]int, 0, k)
		for i := range k + 1 {
			if i != out {
				s = append(s, i)
			}
		}
		subsets = append(subsets, s)
	}
	seed := uint64(id[0]) | uint64(id[1])<<8 | uint64(id[2])<<16 | uint64(id[3])<<24
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	for len(subsets) < maxDecodeAttempts {
		s := rng.Perm(n)[:k]
		slices.Sort(s)
		subsets = append(subsets, s)
	}
	return subsets
}

// disagreeing returns the positions of the shards of code p whose
// contents differ from those the chunk data encodes to with p. Shards of
// another code are left out: the chunk may be coded two ways.
func disagreeing(p erasure.Params, data []byte, shards []erasure.Shard) []int {
	good, err := erasure.Encode(p, data)
	if err != nil {
		return nil
	}
	var liars []int
	for i, sh := range shards {
		if sh.Params != p {
			continue
		}
		if sh.Index >= len(good) || sh.Hash != good[sh.Index].Hash {
			liars = append(liars, i)
		}
	}
	return liars
}
