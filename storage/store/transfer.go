package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/erasure"
)

// spareCandidates is how many nodes beyond the ones needed a lookup
// returns, as substitutes for holders that fail or refuse.
const spareCandidates = 8

// terminal reports whether a holder's refusal would be repeated by every
// other holder, so that substituting is pointless.
func terminal(err error) bool {
	code := errorCode(err)
	return code == wire.CodeForbidden || code == wire.CodeBadRequest
}

// replicate runs put on the n closest holders of target, each failure
// replaced by the next closest candidate. With fewer candidates than n it
// needs all of them (ScaledReplicas). It returns the holders that stored.
func (s *Store) replicate(ctx context.Context, target identity.NodeID, n int, put func(c wire.Contact) error) ([]wire.Contact, error) {
	cands, err := s.closest(ctx, target, n+spareCandidates)
	if err != nil {
		return nil, err
	}
	want := ScaledReplicas(n, len(cands))
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no holder found for %s", ErrUnavailable, target.Short())
	}
	return placeEach(ctx, cands, want, func(_ int, c wire.Contact) error { return put(c) })
}

// placeEach runs put for slots 0..want-1. Slot i first tries cands[i],
// or cands[i mod len(cands)] when there are fewer candidates than slots.
// A slot whose candidate fails takes the next unused candidate after the
// first want. It returns the holder of each slot, in slot order.
func placeEach(ctx context.Context, cands []wire.Contact, want int, put func(slot int, c wire.Contact) error) ([]wire.Contact, error) {
	var (
		mu       sync.Mutex
		next     = min(want, len(cands))
		firstErr error
		fatal    error
	)
	takeNext := func() (wire.Contact, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(cands) || fatal != nil {
			return wire.Contact{}, false
		}
		next++
		return cands[next-1], true
	}
	placed := make([]wire.Contact, want)
	ok := make([]bool, want)
	var wg sync.WaitGroup
	for slot := range want {
		wg.Go(func() {
			c := cands[slot%len(cands)]
			for {
				err := put(slot, c)
				if err == nil {
					placed[slot], ok[slot] = c, true
					return
				}
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				if terminal(err) && fatal == nil {
					fatal = err
				}
				mu.Unlock()
				var more bool
				if c, more = takeNext(); !more || ctx.Err() != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	for slot := range want {
		if !ok[slot] {
			return nil, fmt.Errorf("%w: stored %d of %d copies; first failure: %w", ErrUnavailable, countTrue(ok), want, firstErr)
		}
	}
	return placed, nil
}

func countTrue(b []bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}

// writeChunk codes a sealed chunk and stores shard i on the i-th closest
// holder, substituting the next closest for failures. It returns once
// every shard is stored durably.
func (s *Store) writeChunk(ctx context.Context, id chunk.ID, sealed []byte, nominal erasure.Params) error {
	cands, err := s.closest(ctx, ChunkKey(id), nominal.Total()+spareCandidates)
	if err != nil {
		return err
	}
	if len(cands) == 0 {
		return fmt.Errorf("%w: no holder found for chunk %s", ErrUnavailable, id)
	}
	p := codeFor(nominal, len(cands), len(sealed))
	shards, err := erasure.Encode(p, sealed)
	if err != nil {
		return fmt.Errorf("store: code chunk %s: %w", id, err)
	}
	encoded := make([][]byte, len(shards))
	for i, sh := range shards {
		if encoded[i], err = erasure.MarshalShard(sh); err != nil {
			return err
		}
	}
	_, err = placeEach(ctx, cands, len(shards), func(slot int, c wire.Contact) error {
		_, err := s.request(ctx, c, &wire.PutShard{Chunk: wire.Hash(id), Shard: encoded[slot]})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: write chunk %s: %w", id, err)
	}
	return nil
}

// shardSet collects the valid shards of one chunk fetched so far.
type shardSet struct {
	mu      sync.Mutex
	shards  []erasure.Shard
	have    map[int]bool
	params  erasure.Params
	missing []wire.Contact // first-choice holders that lacked their shard
	guess   erasure.Params // the code the first-choice holders were picked for
	slotOf  map[identity.NodeID]int
}

func (ss *shardSet) add(b []byte) {
	sh, err := erasure.UnmarshalShard(b)
	if err == nil {
		err = sh.Verify()
	}
	if err != nil {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.have[sh.Index] {
		return
	}
	ss.have[sh.Index] = true
	ss.shards = append(ss.shards, sh)
	if ss.params == (erasure.Params{}) {
		ss.params = sh.Params
	}
}

func (ss *shardSet) enough() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.params != (erasure.Params{}) && len(ss.shards) >= ss.params.Data
}

// readChunk fetches a chunk's shards from its closest holders, decodes it
// and checks it against its ID. It first requests the data shards from
// the holders where a writer with the same view of the network placed
// them. Then it requests the list of shards every candidate holds and
// fetches the rest from them.
// Holders found missing their shard are repaired.
func (s *Store) readChunk(ctx context.Context, id chunk.ID, nominal erasure.Params) ([]byte, error) {
	cands, err := s.closest(ctx, ChunkKey(id), nominal.Total()+spareCandidates)
	if err != nil {
		return nil, err
	}
	ss := &shardSet{have: make(map[int]bool), slotOf: make(map[identity.NodeID]int)}
	ss.guess = ScaledParams(nominal, len(cands))
	s.fetchFirstChoice(ctx, id, cands, ss.guess, ss)
	if !ss.enough() {
		s.fetchListed(ctx, id, cands, ss)
	}
	data, err := s.decodeChunk(id, ss)
	if err != nil {
		return nil, err
	}
	s.repairMissing(ctx, id, ss)
	return data, nil
}

func (s *Store) fetchFirstChoice(ctx context.Context, id chunk.ID, cands []wire.Contact, guess erasure.Params, ss *shardSet) {
	var wg sync.WaitGroup
	for i := range min(guess.Data, len(cands)) {
		ss.slotOf[cands[i].ID] = i
		wg.Go(func() {
			resp, err := s.request(ctx, cands[i], &wire.GetShard{Chunk: wire.Hash(id), Index: uint16(i)})
			if d, ok := resp.(*wire.ShardData); ok && err == nil {
				ss.add(d.Shard)
				return
			}
			if errorCode(err) == wire.CodeNotFound {
				ss.mu.Lock()
				ss.missing = append(ss.missing, cands[i])
				ss.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// fetchListed requests the list of shards each candidate holds, then fetches
// shards the set lacks until it has enough.
func (s *Store) fetchListed(ctx context.Context, id chunk.ID, cands []wire.Contact, ss *shardSet) {
	held := make([][]uint16, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Go(func() {
			resp, err := s.request(ctx, c, &wire.ListShards{Chunks: []wire.Hash{wire.Hash(id)}})
			if r, ok := resp.(*wire.ShardIndexes); ok && err == nil && len(r.Held) == 1 {
				held[i] = r.Held[0]
			}
		})
	}
	wg.Wait()

	// Fetch in rounds: one request per distinct index not yet held, as
	// many in parallel as are still needed.
	for !ss.enough() {
		batch := s.pickShards(cands, held, ss)
		if len(batch) == 0 {
			return
		}
		for _, p := range batch {
			wg.Go(func() {
				resp, err := s.request(ctx, p.c, &wire.GetShard{Chunk: wire.Hash(id), Index: p.index})
				if d, ok := resp.(*wire.ShardData); ok && err == nil {
					ss.add(d.Shard)
				}
			})
		}
		wg.Wait()
	}
}

type shardPick struct {
	c     wire.Contact
	index uint16
}

// pickShards chooses holders for indexes the set lacks, at most as many
// as it still needs (all it can, while the code is unknown). Each chosen
// index is removed from held so that it is asked for only once.
func (s *Store) pickShards(cands []wire.Contact, held [][]uint16, ss *shardSet) []shardPick {
	ss.mu.Lock()
	need := len(cands)
	if ss.params != (erasure.Params{}) {
		need = ss.params.Data - len(ss.shards)
	}
	have := make(map[int]bool, len(ss.have))
	for k := range ss.have {
		have[k] = true
	}
	ss.mu.Unlock()

	var picks []shardPick
	for i := range cands {
		for len(held[i]) > 0 && len(picks) < need {
			x := held[i][0]
			held[i] = held[i][1:]
			if !have[int(x)] {
				have[int(x)] = true
				picks = append(picks, shardPick{cands[i], x})
				break
			}
		}
	}
	return picks
}

func (s *Store) decodeChunk(id chunk.ID, ss *shardSet) ([]byte, error) {
	if !ss.enough() {
		return nil, fmt.Errorf("%w: chunk %s: found %d shards, need %d", ErrUnavailable, id, len(ss.shards), max(ss.params.Data, 1))
	}
	data, _, err := erasure.Decode(ss.shards)
	if err == nil {
		err = chunk.VerifyID(id, data)
	}
	if err != nil {
		// NOTE: a holder that serves a forged shard with a matching hash
		// is caught here; the read fails instead of trying other subsets.
		return nil, fmt.Errorf("%w: chunk %s: %w", ErrCorrupt, id, err)
	}
	return data, nil
}

// repairMissing rebuilds the shards first-choice holders lacked and
// stores them there. Failures are logged, since the read succeeded.
func (s *Store) repairMissing(ctx context.Context, id chunk.ID, ss *shardSet) {
	if ss.params != ss.guess {
		// The network changed since the write, so the first-choice
		// holders are not where the writer placed the shards. Repair
		// passes move data to the new holders instead.
		return
	}
	for _, c := range ss.missing {
		index := ss.slotOf[c.ID]
		if index >= ss.params.Total() || ss.have[index] {
			continue
		}
		rebuilt, _, err := erasure.Reconstruct(ss.shards, []int{index})
		if err != nil {
			s.log.Debug("read repair: rebuild failed", "chunk", id, "index", index, "err", err)
			continue
		}
		b, err := erasure.MarshalShard(rebuilt[0])
		if err == nil {
			_, err = s.request(ctx, c, &wire.PutShard{Chunk: wire.Hash(id), Shard: b})
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Debug("read repair: store shard failed", "chunk", id, "peer", c.ID.Short(), "err", err)
		}
	}
}
