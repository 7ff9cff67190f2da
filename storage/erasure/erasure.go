// Package erasure turns a chunk into redundant shards and back.
//
// A chunk is an encrypted piece of a record's value, or a segment into
// which small records were packed. Encode splits it into Params.Data data
// shards and adds Params.Parity parity shards with Reed–Solomon coding
// (github.com/klauspost/reedsolomon), or makes Params.Total() full copies
// when Params.Data is 1. Any Data of the shards rebuild the chunk.
//
// Reed–Solomon alone cannot tell a damaged shard from a good one, and
// decoding from a damaged shard silently yields wrong bytes. So every
// shard carries a header with its index, the params, the chunk's length and
// a SHA-256 hash over all of these and the payload. Decode and Reconstruct
// verify each shard first and treat a bad one as missing.
//
// The hash detects damage, not forgery, because a peer that can write a
// shard can also recompute its hash. Callers that fetch shards from
// untrusted peers must check the decoded chunk against its content address
// as well.
//
// The choice of DefaultParams, with the loss probabilities of the
// alternatives, is explained in docs/redundancy.md; loss.go holds the
// computation.
package erasure

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// ErrTooFewShards reports that fewer than Params.Data valid shards were
// given. The error is a *TooFewShardsError that names the shards.
var ErrTooFewShards = errors.New("erasure: too few valid shards")

// BadShard is a shard that Decode or Reconstruct skipped.
type BadShard struct {
	// Index is the index in the shard's header. If the header itself is
	// damaged, the index may be wrong.
	Index int
	// Err is the reason the shard was skipped. It wraps ErrMalformed or
	// ErrCorrupt.
	Err error
}

// TooFewShardsError lists what was missing when a chunk could not be
// decoded, so the caller can fetch the named shards from elsewhere.
type TooFewShardsError struct {
	Params Params // zero when no valid shard was given to read it from
	Have   int    // valid shards with distinct indexes
	// Missing lists the indexes with no valid shard, in ascending order.
	// It is nil when Params is unknown.
	Missing []int
	Bad     []BadShard
}

func (e *TooFewShardsError) Error() string {
	var b strings.Builder
	if e.Params == (Params{}) {
		b.WriteString("erasure: too few valid shards: no valid shard to read the params from")
	} else {
		fmt.Fprintf(&b, "erasure: too few valid shards for %v: have %d, need %d more",
			e.Params, e.Have, e.Params.Data-e.Have)
		fmt.Fprintf(&b, "; missing %s", formatIndexes(e.Missing))
	}
	for i, bad := range e.Bad {
		if i == 0 {
			b.WriteString("; bad: ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(bad.Err.Error())
	}
	return b.String()
}

func (e *TooFewShardsError) Unwrap() error { return ErrTooFewShards }

func formatIndexes(indexes []int) string {
	parts := make([]string, len(indexes))
	for i, index := range indexes {
		parts[i] = fmt.Sprint(index)
	}
	return strings.Join(parts, " ")
}

// coders caches one reedsolomon.Encoder per Params, because building one
// inverts matrices. Goroutines share the encoders, which
// TestCodersConcurrent exercises under the race detector.
var coders sync.Map // Params -> reedsolomon.Encoder

func coderFor(p Params) (reedsolomon.Encoder, error) {
	if c, ok := coders.Load(p); ok {
		return c.(reedsolomon.Encoder), nil
	}
	c, err := reedsolomon.New(p.Data, p.Parity)
	if err != nil {
		return nil, fmt.Errorf("erasure: build %v coder: %w", p, err)
	}
	actual, _ := coders.LoadOrStore(p, c)
	return actual.(reedsolomon.Encoder), nil
}

// Encode splits data into p.Total() shards, each with its header and hash.
// The shards do not share memory with data. data may be empty, and may be
// at most p.MaxChunkSize() bytes long.
func Encode(p Params, data []byte) ([]Shard, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(data) > p.MaxChunkSize() {
		return nil, fmt.Errorf("erasure: chunk of %d bytes is too large for %v: the maximum is %d, so split it first",
			len(data), p, p.MaxChunkSize())
	}

	payloads, err := encodePayloads(p, data)
	if err != nil {
		return nil, err
	}
	shards := make([]Shard, p.Total())
	for i, payload := range payloads {
		shards[i] = newShard(p, i, len(data), payload)
	}
	return shards, nil
}

// encodePayloads returns the payloads of all p.Total() shards of data.
func encodePayloads(p Params, data []byte) ([][]byte, error) {
	size := p.ShardSize(len(data))
	buf := make([]byte, size*p.Total())
	payloads := make([][]byte, p.Total())
	for i := range payloads {
		payloads[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}

	if p.IsReplication() {
		for _, payload := range payloads {
			copy(payload, data)
		}
		return payloads, nil
	}

	// The data shards are data cut in order; the last is zero-padded.
	copy(buf, data)
	if size == 0 || p.Parity == 0 {
		return payloads, nil
	}
	c, err := coderFor(p)
	if err != nil {
		return nil, err
	}
	if err := c.Encode(payloads); err != nil {
		return nil, fmt.Errorf("erasure: encode %d bytes as %v: %w", len(data), p, err)
	}
	return payloads, nil
}

func newShard(p Params, index, size int, payload []byte) Shard {
	s := Shard{Index: index, Params: p, Size: size, Payload: payload}
	s.Hash = s.computeHash()
	return s
}

// Decode rebuilds the chunk from any Params.Data valid shards of it, given
// in any order. Shards that fail Verify, that disagree with the others
// about the params or chunk size, or that repeat an index with different
// contents are skipped and returned in bad, so the caller can repair them
// even when decoding succeeds. With too few valid shards the error is a
// *TooFewShardsError. Every given shard is hashed, so a caller that only
// wants the bytes should pass Params.Data shards and add more on failure.
func Decode(shards []Shard) (data []byte, bad []BadShard, err error) {
	st := collect(shards)
	if err := st.enough(); err != nil {
		return nil, st.bad, err
	}
	data, err = st.decode()
	return data, st.bad, err
}

// Reconstruct rebuilds the shards with the given indexes from any
// Params.Data valid shards of the same chunk, to repair a holder that lost
// its shards. The rebuilt shards are identical, hash included, to the ones
// Encode made, and are returned in the order of indexes. Bad shards are
// skipped as in Decode.
func Reconstruct(shards []Shard, indexes []int) ([]Shard, []BadShard, error) {
	st := collect(shards)
	if err := st.enough(); err != nil {
		return nil, st.bad, err
	}
	if err := st.checkIndexes(indexes); err != nil {
		return nil, st.bad, err
	}
	rebuilt, err := st.reconstruct(indexes)
	return rebuilt, st.bad, err
}

// stripe is the set of valid shards of one chunk, by index.
type stripe struct {
	params Params
	size   int
	// payloads has params.Total() entries, nil where no valid shard was
	// given. An empty chunk has empty payloads, so present marks the
	// entries that hold a valid shard.
	payloads [][]byte
	present  []bool
	have     int
	bad      []BadShard
}

// collect verifies shards and keeps the largest group that agrees on
// params and chunk size, so that a stray shard of another chunk cannot
// outvote the rest.
func collect(shards []Shard) *stripe {
	st := &stripe{}
	valid := make([]*Shard, 0, len(shards))
	for i := range shards {
		s := &shards[i]
		if err := s.Verify(); err != nil {
			st.bad = append(st.bad, BadShard{Index: s.Index, Err: err})
			continue
		}
		valid = append(valid, s)
	}
	if len(valid) == 0 {
		return st
	}

	st.params, st.size = majorityHeader(valid)
	st.payloads = make([][]byte, st.params.Total())
	st.present = make([]bool, st.params.Total())
	for _, s := range valid {
		st.add(s)
	}
	return st
}

// majorityHeader returns the params and size most of the shards share,
// preferring the first seen on a tie.
func majorityHeader(valid []*Shard) (Params, int) {
	type header struct {
		params Params
		size   int
	}
	counts := make(map[header]int)
	var best header
	for _, s := range valid {
		h := header{s.Params, s.Size}
		counts[h]++
		if counts[h] > counts[best] {
			best = h
		}
	}
	return best.params, best.size
}

func (st *stripe) add(s *Shard) {
	if s.Params != st.params || s.Size != st.size {
		st.bad = append(st.bad, BadShard{Index: s.Index, Err: fmt.Errorf(
			"%w %d: params %v and chunk size %d disagree with the majority of shards (%v, %d bytes)",
			ErrMalformed, s.Index, s.Params, s.Size, st.params, st.size)})
		return
	}
	if !st.present[s.Index] {
		st.payloads[s.Index] = s.Payload
		st.present[s.Index] = true
		st.have++
		return
	}
	if !slices.Equal(st.payloads[s.Index], s.Payload) {
		st.bad = append(st.bad, BadShard{Index: s.Index, Err: fmt.Errorf(
			"%w %d: two valid shards with this index differ", ErrMalformed, s.Index)})
	}
}

func (st *stripe) enough() error {
	if st.params != (Params{}) && st.have >= st.params.Data {
		return nil
	}
	e := &TooFewShardsError{Params: st.params, Have: st.have, Bad: st.bad}
	for i, ok := range st.present {
		if !ok {
			e.Missing = append(e.Missing, i)
		}
	}
	return e
}

func (st *stripe) checkIndexes(indexes []int) error {
	seen := make(map[int]bool, len(indexes))
	for _, i := range indexes {
		if i < 0 || i >= st.params.Total() {
			return fmt.Errorf("erasure: cannot reconstruct shard %d: %v has indexes 0..%d",
				i, st.params, st.params.Total()-1)
		}
		if seen[i] {
			return fmt.Errorf("erasure: shard %d is requested twice", i)
		}
		seen[i] = true
	}
	return nil
}

// decode joins the data shards, rebuilding missing ones first.
func (st *stripe) decode() ([]byte, error) {
	if st.size == 0 {
		return []byte{}, nil
	}
	if st.params.IsReplication() {
		return slices.Clone(st.payloads[st.first()]), nil
	}

	payloads := slices.Clone(st.payloads)
	c, err := coderFor(st.params)
	if err != nil {
		return nil, err
	}
	if err := c.ReconstructData(payloads); err != nil {
		return nil, fmt.Errorf("erasure: decode %v from %d shards: %w", st.params, st.have, err)
	}
	data := make([]byte, 0, st.params.Data*len(payloads[0]))
	for _, payload := range payloads[:st.params.Data] {
		data = append(data, payload...)
	}
	return data[:st.size], nil
}

// first returns the index of a present shard; enough has checked that
// there is one.
func (st *stripe) first() int {
	return slices.Index(st.present, true)
}

// reconstruct returns fresh shards for indexes.
func (st *stripe) reconstruct(indexes []int) ([]Shard, error) {
	payloads := slices.Clone(st.payloads)
	if err := st.fill(payloads, indexes); err != nil {
		return nil, err
	}
	rebuilt := make([]Shard, len(indexes))
	for i, index := range indexes {
		payload := append(make([]byte, 0, len(payloads[index])), payloads[index]...)
		rebuilt[i] = newShard(st.params, index, st.size, payload)
	}
	return rebuilt, nil
}

// fill sets payloads[i] for every i in indexes.
func (st *stripe) fill(payloads [][]byte, indexes []int) error {
	if st.params.IsReplication() || st.size == 0 {
		for _, i := range indexes {
			payloads[i] = payloads[st.first()]
		}
		return nil
	}

	required := make([]bool, st.params.Total())
	for _, i := range indexes {
		required[i] = true
	}
	c, err := coderFor(st.params)
	if err != nil {
		return err
	}
	if err := c.ReconstructSome(payloads, required); err != nil {
		return fmt.Errorf("erasure: reconstruct %v shards %s: %w", st.params, formatIndexes(indexes), err)
	}
	return nil
}
