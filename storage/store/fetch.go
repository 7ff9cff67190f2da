package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/erasure"
)

// shardSet collects the valid shards of one chunk fetched so far, with
// the holder each came from. A chunk written twice may be coded two ways
// under one ID, so shards are keyed by code and index.
type shardSet struct {
	guess  erasure.Params          // the code the first-choice holders were picked for
	slotOf map[identity.NodeID]int // first-choice position of each candidate; read-only once fetching starts

	mu      sync.Mutex // guards the fields below
	shards  []erasure.Shard
	from    []wire.Contact // from[i] served shards[i]
	have    map[codedIndex]bool
	served  map[servedShard]bool // indexes each holder served a valid shard of
	missing []wire.Contact       // first-choice holders that lacked their shard
}

// codedIndex is shard index of a chunk coded with code.
type codedIndex struct {
	code  erasure.Params
	index int
}

// servedShard is the shard a holder keeps at one index, whatever its code.
type servedShard struct {
	holder identity.NodeID
	index  int
}

func newShardSet(guess erasure.Params, cands []wire.Contact) *shardSet {
	ss := &shardSet{guess: guess, slotOf: make(map[identity.NodeID]int),
		have: make(map[codedIndex]bool), served: make(map[servedShard]bool)}
	for i, c := range cands {
		ss.slotOf[c.ID] = i
	}
	return ss
}

// add keeps an encoded shard that verifies and whose code and index the
// set lacks, and returns it and whether it did.
func (ss *shardSet) add(b []byte, from wire.Contact) (erasure.Shard, bool) {
	sh, err := erasure.UnmarshalShard(b)
	if err == nil {
		err = sh.Verify()
	}
	if err != nil {
		return erasure.Shard{}, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.served[servedShard{from.ID, sh.Index}] = true
	k := codedIndex{sh.Params, sh.Index}
	if ss.have[k] {
		return sh, false
	}
	ss.have[k] = true
	ss.shards = append(ss.shards, sh)
	ss.from = append(ss.from, from)
	return sh, true
}

// has reports whether the set holds a shard for listed: one of its code
// and index, or, when the listing did not name the code, any shard of
// its index.
func (ss *shardSet) has(l listedShard) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if l.code != (erasure.Params{}) {
		return ss.have[codedIndex{l.code, int(l.index)}]
	}
	for k := range ss.have {
		if k.index == int(l.index) {
			return true
		}
	}
	return false
}

// hasServed reports whether holder already served its shard at index.
func (ss *shardSet) hasServed(holder identity.NodeID, index uint16) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.served[servedShard{holder, int(index)}]
}

// count returns how many shards of code the set holds.
func (ss *shardSet) count(code erasure.Params) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for k := range ss.have {
		if k.code == code {
			n++
		}
	}
	return n
}

// snapshot returns copies of the shards and their holders.
func (ss *shardSet) snapshot() ([]erasure.Shard, []wire.Contact) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return append([]erasure.Shard(nil), ss.shards...), append([]wire.Contact(nil), ss.from...)
}

// needed returns how many more shards a decode needs: none when the
// shards of one code number its Data, else the fewest any code held
// lacks, or the guessed code's Data while no shard is held.
func (ss *shardSet) needed() int {
	shards, _ := ss.snapshot()
	groups := codeGroups(shards)
	if len(groups) == 0 {
		return ss.guess.Data
	}
	return max(0, shards[groups[0][0]].Params.Data-len(groups[0]))
}

// target returns the code a fetch from the listed shards gathers, and how
// many more shards of it the set needs. Of the codes the listings name or
// the set holds, it is the one whose shards, held and listed, exceed its
// Data the most. Without a code named in a listing, target returns the
// zero Params and needed.
func (ss *shardSet) target(held [][]listedShard) (erasure.Params, int) {
	avail := make(map[erasure.Params]map[int]bool)
	mark := func(code erasure.Params, index int) {
		if avail[code] == nil {
			avail[code] = make(map[int]bool)
		}
		avail[code][index] = true
	}
	named := false
	for _, list := range held {
		for _, l := range list {
			if l.code != (erasure.Params{}) {
				named = true
				mark(l.code, int(l.index))
			}
		}
	}
	if !named {
		return erasure.Params{}, ss.needed()
	}
	ss.mu.Lock()
	for k := range ss.have {
		mark(k.code, k.index)
	}
	ss.mu.Unlock()
	var best erasure.Params
	for code, indexes := range avail {
		if best == (erasure.Params{}) || betterCode(code, len(indexes), best, len(avail[best])) {
			best = code
		}
	}
	return best, max(0, best.Data-ss.count(best))
}

// betterCode reports whether code a with n shards is closer to decoding,
// or further beyond it, than code b with m shards, ties broken by the
// larger code so that every caller picks the same.
func betterCode(a erasure.Params, n int, b erasure.Params, m int) bool {
	if sa, sb := n-a.Data, m-b.Data; sa != sb {
		return sa > sb
	}
	if a.Data != b.Data {
		return a.Data > b.Data
	}
	return a.Parity > b.Parity
}

// readChunk fetches a chunk's shards from its closest holders, decodes it
// and checks it against its ID. It first requests the data shards from
// the holders where a writer with the same view of the network placed
// them, hedged with the parity shards' holders. If that does not give
// enough shards, it requests the list of shards every candidate holds and
// fetches from them, the shards of the code closest to decoding first,
// since a chunk written twice may be coded two ways under one ID. When
// the shards fetched still do not decode, or the decoded chunk does not
// match its ID, it fetches every shard listed and decodes with whichever
// code has enough, trying other subsets. Holders found missing their
// shard, or serving a wrong one, are repaired.
//
// A chunk placed in a cell is read from the cell's registered holders.
func (s *Store) readChunk(ctx context.Context, cell string, id chunk.ID, nominal erasure.Params) ([]byte, error) {
	cands, err := s.closestIn(ctx, cell, ChunkKey(id), nominal.Total()+lateSpare(nominal.Total()))
	if err != nil {
		return nil, err
	}
	ss := newShardSet(ScaledParams(nominal, len(cands)), cands)
	s.fetchFirstChoice(ctx, id, cands, ss)
	var listed [][]listedShard
	if ss.needed() > 0 {
		listed = s.listShards(ctx, id, cands)
		s.fetchListed(ctx, id, cands, listed, ss, false)
	}
	if ss.needed() > 0 && listed != nil {
		s.fetchPatiently(ctx, cell, id, cands, listed, ss)
	}
	res, err := s.decodeSet(id, ss)
	if errors.Is(err, ErrCorrupt) || (errors.Is(err, ErrUnavailable) && listed != nil) {
		if errors.Is(err, ErrCorrupt) {
			s.log.Warn("chunk does not match its ID; fetching every shard to find the wrong ones", "chunk", id)
		}
		if listed == nil {
			listed = s.listShards(ctx, id, cands)
		}
		s.fetchListed(ctx, id, cands, listed, ss, true)
		res, err = s.decodeSet(id, ss)
	}
	if err != nil {
		return nil, err
	}
	s.repairMissing(ctx, cell, id, ss, res)
	s.repairLiars(ctx, cell, id, ss, res)
	return res.data, nil
}

// fetchFirstChoice requests shard i from the i-th closest candidate until
// it has the guessed code's Data shards. A candidate that fails or is
// slower than the hedge delay is backed by the next one, which holds a
// parity shard. It gives up once more candidates lacked their shard than
// the code has parity, since the chunk was then placed for another code
// or another set of holders.
func (s *Store) fetchFirstChoice(ctx context.Context, id chunk.ID, cands []wire.Contact, ss *shardSet) {
	misses := 0
	var mu sync.Mutex
	n := min(ss.guess.Total(), len(cands))
	f := fanout{
		n:       n,
		want:    min(ss.guess.Data, n),
		delay:   s.rtt.hedgeDelay(wire.TypeGetShard),
		timeout: s.rtt.attemptTimeout(wire.TypeGetShard, s.cfg.RequestTimeout),
		more: func() bool {
			mu.Lock()
			defer mu.Unlock()
			return misses <= ss.guess.Parity
		},
	}
	hedge(ctx, f, func(ctx context.Context, i int) bool {
		resp, err := s.request(ctx, cands[i], &wire.GetShard{Chunk: wire.Hash(id), Index: uint16(i)})
		if d, ok := resp.(*wire.ShardData); ok && err == nil {
			sh, added := ss.add(d.Shard, cands[i])
			return added && sh.Params == ss.guess
		}
		if errorCode(err) == wire.CodeNotFound {
			mu.Lock()
			misses++
			mu.Unlock()
			ss.mu.Lock()
			ss.missing = append(ss.missing, cands[i])
			ss.mu.Unlock()
		}
		return false
	})
}

// listShards requests from every candidate the list of the chunk's shards
// it holds. A candidate that does not answer within the attempt timeout
// counts as holding none.
func (s *Store) listShards(ctx context.Context, id chunk.ID, cands []wire.Contact) [][]listedShard {
	held := make([][]listedShard, len(cands))
	msg := &wire.ListShards{Chunks: []wire.Hash{wire.Hash(id)}}
	f := fanout{n: len(cands), want: len(cands), timeout: s.rtt.attemptTimeout(msg.Type(), s.cfg.RequestTimeout)}
	hedge(ctx, f, func(ctx context.Context, i int) bool {
		resp, err := s.request(ctx, cands[i], msg)
		r, ok := resp.(*wire.ShardIndexes)
		if err != nil || !ok || len(r.Held) != 1 {
			return false
		}
		held[i] = listedOf(r, 0)
		return true
	})
	return held
}

// fetchListed fetches shards the set lacks from the candidates that listed
// them, hedged, until the code the listings show closest to decoding has
// enough, or every listed shard not yet served when all is set.
func (s *Store) fetchListed(ctx context.Context, id chunk.ID, cands []wire.Contact, held [][]listedShard, ss *shardSet, all bool) {
	for {
		code, need := ss.target(held)
		picks, distinct := listedPicks(cands, held, ss, code, all)
		want := min(need, distinct)
		if all {
			want = distinct
		}
		if want == 0 {
			return
		}
		f := fanout{
			n:       len(picks),
			want:    want,
			delay:   s.rtt.hedgeDelay(wire.TypeGetShard),
			timeout: s.rtt.attemptTimeout(wire.TypeGetShard, s.cfg.RequestTimeout),
		}
		got := hedge(ctx, f, func(ctx context.Context, i int) bool {
			p := picks[i]
			if ss.skips(p.c, p.listed, all) {
				return false
			}
			resp, err := s.request(ctx, p.c, &wire.GetShard{Chunk: wire.Hash(id), Index: p.listed.index})
			d, ok := resp.(*wire.ShardData)
			if !ok || err != nil {
				return false
			}
			sh, added := ss.add(d.Shard, p.c)
			return added && (all || code == (erasure.Params{}) || sh.Params == code)
		})
		// Another round only helps when this one added shards and the
		// code read from them asks for more than was wanted.
		if got == 0 || all || ss.needed() == 0 || ctx.Err() != nil {
			return
		}
	}
}

// fetchPatiently is the last attempt of a read that has too few shards,
// as after a third of the holders failed at once, when a chunk of the
// default code has exactly Data shards left and every one is needed. It
// asks the candidates that did not list their shards in time again, and
// fetches every listed shard the set lacks, each request with the whole
// request timeout instead of the attempt timeout, since a busy holder is
// slow but not gone.
//
// It runs under WithDownProbe, so holders the Network took for down are
// asked too, and a lookup adds the candidates such holders left out.
func (s *Store) fetchPatiently(ctx context.Context, cell string, id chunk.ID, cands []wire.Contact, held [][]listedShard, ss *shardSet) {
	ctx = WithDownProbe(ctx)
	if more, err := s.closestIn(ctx, cell, ChunkKey(id), len(cands)); err == nil {
		for _, c := range more {
			if !slices.ContainsFunc(cands, func(x wire.Contact) bool { return x.ID == c.ID }) {
				cands = append(cands, c)
				held = append(held, nil)
			}
		}
	}

	// Each candidate lists its shards, if it did not in time before, and
	// serves the ones the set lacks. The fan-out ends once the set has
	// enough, so the holders that really died do not hold it up.
	msg := &wire.ListShards{Chunks: []wire.Hash{wire.Hash(id)}}
	f := fanout{n: len(cands), want: len(cands), timeout: s.cfg.RequestTimeout, done: func() bool { return ss.needed() == 0 }}
	hedge(ctx, f, func(ctx context.Context, i int) bool {
		listed := held[i]
		if listed == nil {
			resp, err := s.request(ctx, cands[i], msg)
			r, ok := resp.(*wire.ShardIndexes)
			if err != nil || !ok || len(r.Held) != 1 {
				return false
			}
			listed = listedOf(r, 0)
		}
		for _, l := range listed {
			if ss.needed() == 0 {
				return true
			}
			if ss.skips(cands[i], l, false) {
				continue
			}
			resp, err := s.request(ctx, cands[i], &wire.GetShard{Chunk: wire.Hash(id), Index: l.index})
			if d, ok := resp.(*wire.ShardData); ok && err == nil {
				ss.add(d.Shard, cands[i])
			}
		}
		return true
	})
}

type shardPick struct {
	c      wire.Contact
	listed listedShard
}

// skips reports whether a fetch passes over shard l that holder c listed.
// It does for a shard c served already and for one whose code and index
// the set holds. Unless all is set, it also does for one whose listing
// names no code when the set holds a shard of its index.
func (ss *shardSet) skips(c wire.Contact, l listedShard, all bool) bool {
	if ss.hasServed(c.ID, l.index) {
		return true
	}
	if all && l.code == (erasure.Params{}) {
		return false
	}
	return ss.has(l)
}

// listedPicks returns the requests that can fetch shards the set lacks:
// first one holder per index of code, in XOR order of the holders, then
// one per code and index of the other codes, then the other holders of
// each as substitutes. A shard listed without its code counts as code,
// or with all set as a shard of its own, because only its header shows
// the code. It also returns the number of first requests: those of code, or
// with all set those of every code.
func listedPicks(cands []wire.Contact, held [][]listedShard, ss *shardSet, code erasure.Params, all bool) ([]shardPick, int) {
	var first, other, rest []shardPick
	picked := make(map[codedIndex]bool)
	for i, c := range cands {
		for _, l := range held[i] {
			if ss.skips(c, l, all) {
				continue
			}
			lc := l.code
			if lc == (erasure.Params{}) && !all {
				lc = code
			}
			k := codedIndex{lc, int(l.index)}
			switch {
			case picked[k] && lc != (erasure.Params{}):
				rest = append(rest, shardPick{c, l})
			case lc == code && !all:
				first = append(first, shardPick{c, l})
			default:
				other = append(other, shardPick{c, l})
			}
			picked[k] = true
		}
	}
	n := len(first)
	if all {
		n = len(other)
	}
	return append(append(first, other...), rest...), n
}

// decodeSet decodes the chunk from the shards fetched and checks its ID.
func (s *Store) decodeSet(id chunk.ID, ss *shardSet) (*decoded, error) {
	shards, _ := ss.snapshot()
	res, err := decodeVerified(id, shards)
	var few *erasure.TooFewShardsError
	switch {
	case errors.As(err, &few) && len(codeGroups(shards)) > 1:
		return nil, fmt.Errorf("%w: chunk %s: found %d shards in %d codes, at most %d of code %v, which needs %d",
			ErrUnavailable, id, len(shards), len(codeGroups(shards)), few.Have, few.Params, few.Params.Data)
	case errors.As(err, &few):
		return nil, fmt.Errorf("%w: chunk %s: found %d shards, need %d", ErrUnavailable, id, len(shards), max(few.Params.Data, 1))
	case err != nil:
		return nil, fmt.Errorf("%w: chunk %s: %w", ErrCorrupt, id, err)
	}
	return res, nil
}

// repairMissing rebuilds the shards first-choice holders lacked and
// stores them there. Failures are logged, since the read succeeded.
func (s *Store) repairMissing(ctx context.Context, cell string, id chunk.ID, ss *shardSet, res *decoded) {
	if res.used[0].Params != ss.guess {
		// The network changed since the write, so the first-choice
		// holders are not where the writer placed the shards. Repair
		// passes move data to the new holders instead.
		return
	}
	ss.mu.Lock()
	missing := append([]wire.Contact(nil), ss.missing...)
	ss.mu.Unlock()
	for _, c := range missing {
		index := ss.slotOf[c.ID]
		if index >= ss.guess.Total() || ss.has(listedShard{uint16(index), ss.guess}) {
			continue
		}
		s.storeRebuilt(ctx, cell, id, res, index, c, "read repair")
	}
}

// repairLiars stores the right shard on each holder that served a shard
// with a valid hash but the wrong contents. A holder that stored a shard
// under the wrong chunk ID is fixed by this; one that lies on purpose is
// only logged.
func (s *Store) repairLiars(ctx context.Context, cell string, id chunk.ID, ss *shardSet, res *decoded) {
	if len(res.liars) == 0 {
		return
	}
	shards, from := ss.snapshot()
	for _, j := range res.liars {
		s.log.Warn("holder served a shard that does not belong to its chunk", "chunk", id,
			"index", shards[j].Index, "peer", from[j].ID.Short())
		s.storeRebuilt(ctx, cell, id, res, shards[j].Index, from[j], "replace wrong shard")
	}
}

// storeRebuilt rebuilds shard index from res and stores it on c. Failures
// are logged.
func (s *Store) storeRebuilt(ctx context.Context, cell string, id chunk.ID, res *decoded, index int, c wire.Contact, why string) {
	rebuilt, _, err := erasure.Reconstruct(res.used, []int{index})
	if err != nil {
		s.log.Debug(why+": rebuild failed", "chunk", id, "index", index, "err", err)
		return
	}
	b, err := erasure.MarshalShard(rebuilt[0])
	if err == nil {
		_, err = s.request(ctx, c, &wire.PutShard{Chunk: wire.Hash(id), Shard: b, Cell: cell})
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Debug(why+": store shard failed", "chunk", id, "peer", c.ID.Short(), "err", err)
	}
}
