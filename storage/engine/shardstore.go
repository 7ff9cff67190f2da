package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/yuinet/yui/storage/erasure"
)

// Limits on metadata entries, far above a signed header or a tombstone.
const (
	MaxMetaKeySize   = 512
	MaxMetaValueSize = 64 << 10
)

// ErrInvalid reports an argument that ShardStore cannot store, such as an
// oversized value or a shard that fails its own checks.
var ErrInvalid = errors.New("engine: invalid argument")

// Usage counts what a ShardStore holds. Byte counts are of stored values
// only. Keys and Pebble's own overhead are not counted; DiskUsage reports
// the size of the files.
type Usage struct {
	Shards      int64 // shards stored
	ShardBytes  int64 // bytes of encoded shards, headers included
	MetaEntries int64 // headers and tombstones
	MetaBytes   int64 // bytes of metadata values
}

// ShardStore keeps a node's shards, keyed by chunk ID and shard index, and
// a small metadata keyspace for records' signed headers and tombstones
// (see keys.go for the key layout). Every write is committed with Sync, so
// a nil error means the write is durable. Every shard read is checked
// against the shard's hash. All methods are safe for concurrent use.
//
// The usage counters are updated in the same batch as the writes they
// count, so they stay exact across crashes.
type ShardStore struct {
	eng Engine

	// keyLocks serialize writes to one key, because a write reads the old
	// value's size to update the counters. Writes to different keys take
	// different locks (unless their hashes collide) and share fsyncs.
	keyLocks [64]sync.Mutex
	seed     maphash.Seed

	// Cached copies of the persisted counters, updated after each commit.
	shards, shardBytes, metaEntries, metaBytes atomic.Int64
}

// NewShardStore returns a ShardStore on e, which it does not own: the
// caller closes e after it stops using the store. An empty engine is
// initialized. An engine written with another key layout is rejected.
//
// NOTE: if the format key or a usage counter sits in a damaged block,
// NewShardStore fails with ErrCorrupt, even though most shards may still be
// readable. Nothing rebuilds the counters yet.
func NewShardStore(e Engine) (*ShardStore, error) {
	s := &ShardStore{eng: e, seed: maphash.MakeSeed()}
	if err := s.checkFormat(); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		key []byte
		v   *atomic.Int64
	}{
		{counterShards, &s.shards},
		{counterShardBytes, &s.shardBytes},
		{counterMetaEntries, &s.metaEntries},
		{counterMetaBytes, &s.metaBytes},
	} {
		v, err := s.readCounter(c.key)
		if err != nil {
			return nil, err
		}
		c.v.Store(v)
	}
	return s, nil
}

func (s *ShardStore) checkFormat() error {
	value, err := s.eng.Get(formatKey)
	if errors.Is(err, ErrNotFound) {
		return s.initFormat()
	}
	if err != nil {
		return fmt.Errorf("engine: read store format: %w", err)
	}
	if len(value) != 8 {
		return fmt.Errorf("%w: store format value is %d bytes, want 8", ErrCorrupt, len(value))
	}
	v := binary.BigEndian.Uint64(value)
	if v == oldStoreFormat {
		// Format 1 keys stay readable, so marking the store is all the
		// upgrade takes. A build that reads only format 1 then refuses it,
		// since it could not parse the new keys.
		b := s.eng.NewBatch()
		defer b.Close()
		b.Set(formatKey, binary.BigEndian.AppendUint64(nil, storeFormat))
		if err := b.Commit(Sync); err != nil {
			return fmt.Errorf("engine: upgrade store format: %w", err)
		}
		return nil
	}
	if v != storeFormat {
		return fmt.Errorf("engine: store has format %d, this build of yui reads formats %d and %d; "+
			"open it with the build that wrote it", v, oldStoreFormat, storeFormat)
	}
	return nil
}

// initFormat marks a new store. A store with keys but no format key was
// not written by ShardStore.
func (s *ShardStore) initFormat() error {
	empty := true
	err := s.eng.Scan(nil, nil, func(key, _ []byte) error {
		empty = false
		return StopScan
	})
	if err != nil {
		return fmt.Errorf("engine: check for an empty store: %w", err)
	}
	if !empty {
		return fmt.Errorf("engine: store has data but no format version; it was not written by a ShardStore")
	}

	b := s.eng.NewBatch()
	defer b.Close()
	b.Set(formatKey, binary.BigEndian.AppendUint64(nil, storeFormat))
	if err := b.Commit(Sync); err != nil {
		return fmt.Errorf("engine: initialize store: %w", err)
	}
	return nil
}

func (s *ShardStore) readCounter(key []byte) (int64, error) {
	value, err := s.eng.Get(key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("engine: read usage counter %q: %w", key, err)
	}
	return ParseInt64(value)
}

// Usage returns the counts of stored shards and metadata.
func (s *ShardStore) Usage() Usage {
	return Usage{
		Shards:      s.shards.Load(),
		ShardBytes:  s.shardBytes.Load(),
		MetaEntries: s.metaEntries.Load(),
		MetaBytes:   s.metaBytes.Load(),
	}
}

func (s *ShardStore) lockKey(key []byte) func() {
	mu := &s.keyLocks[maphash.Bytes(s.seed, key)%uint64(len(s.keyLocks))]
	mu.Lock()
	return mu.Unlock
}

// oldSize returns the length of the value at key, and whether there is one.
func (s *ShardStore) oldSize(key []byte) (int64, bool, error) {
	value, err := s.eng.Get(key)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if errors.Is(err, ErrCorrupt) {
		// The value is overwritten or deleted anyway, so let the write go on.
		// NOTE: the old size is unknown here, so the counters drift by it.
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	return int64(len(value)), true, nil
}

// counted describes how one write changes the usage counters.
type counted struct {
	entries, bytes []byte        // counter keys
	entryCount     *atomic.Int64 // cached copies
	byteCount      *atomic.Int64
}

func (s *ShardStore) shardCounters() counted {
	return counted{counterShards, counterShardBytes, &s.shards, &s.shardBytes}
}

func (s *ShardStore) metaCounters() counted {
	return counted{counterMetaEntries, counterMetaBytes, &s.metaEntries, &s.metaBytes}
}

// write stores value at key, or deletes key when value is nil, together
// with the counter updates, and commits with Sync.
func (s *ShardStore) write(key, value []byte, c counted) error {
	unlock := s.lockKey(key)
	defer unlock()

	oldBytes, existed, err := s.oldSize(key)
	if err != nil {
		return err
	}
	if value == nil && !existed {
		return nil
	}

	var entryDelta, byteDelta int64
	b := s.eng.NewBatch()
	defer b.Close()
	if value == nil {
		b.Delete(key)
		entryDelta, byteDelta = -1, -oldBytes
	} else {
		b.Set(key, value)
		byteDelta = int64(len(value)) - oldBytes
		if !existed {
			entryDelta = 1
		}
	}
	if entryDelta != 0 {
		b.AddInt64(c.entries, entryDelta)
	}
	if byteDelta != 0 {
		b.AddInt64(c.bytes, byteDelta)
	}
	if err := b.Commit(Sync); err != nil {
		return err
	}

	c.entryCount.Add(entryDelta)
	c.byteCount.Add(byteDelta)
	return nil
}

// Put stores shard as shard shard.Index of chunk id, replacing any shard
// stored at that index, whatever its code: a holder keeps one shard per
// index of a chunk. It rejects a shard that fails erasure.Shard.Verify,
// so a damaged shard received from a peer is never stored.
func (s *ShardStore) Put(id ChunkID, shard erasure.Shard) error {
	if err := shard.Verify(); err != nil {
		return fmt.Errorf("%w: put shard %d of chunk %v: %w", ErrInvalid, shard.Index, id, err)
	}
	value, err := erasure.MarshalShard(shard)
	if err != nil {
		return fmt.Errorf("%w: put shard %d of chunk %v: %w", ErrInvalid, shard.Index, id, err)
	}
	if err := s.replaceShard(id, shard.Index, shardKey(id, shard.Index, shard.Params), value, erasure.Params{}); err != nil {
		return fmt.Errorf("engine: put shard %d of chunk %v: %w", shard.Index, id, err)
	}
	return nil
}

// replaceShard stores value at key, or nothing when key is nil, and
// deletes every other key of shard index of chunk id, or only that of
// code only when it is set, the counters updated in the same batch.
func (s *ShardStore) replaceShard(id ChunkID, index int, key, value []byte, only erasure.Params) error {
	prefix := indexPrefix(id, index)
	unlock := s.lockKey(prefix)
	defer unlock()

	type entry struct {
		key  []byte
		size int64
	}
	var old []entry
	err := ScanPrefix(s.eng, prefix, func(k, v []byte) error {
		if only != (erasure.Params{}) && !bytes.Equal(k, shardKey(id, index, only)) {
			if sh, err := erasure.UnmarshalShard(v); len(k) != oldShardKeyLen || err != nil || sh.Params != only {
				return nil
			}
		}
		old = append(old, entry{append([]byte(nil), k...), int64(len(v))})
		return nil
	})
	if err != nil {
		return err
	}
	if key == nil && len(old) == 0 {
		return nil
	}

	var entryDelta, byteDelta int64
	b := s.eng.NewBatch()
	defer b.Close()
	for _, e := range old {
		entryDelta--
		byteDelta -= e.size
		if !bytes.Equal(e.key, key) {
			b.Delete(e.key)
		}
	}
	if key != nil {
		b.Set(key, value)
		entryDelta++
		byteDelta += int64(len(value))
	}
	if entryDelta != 0 {
		b.AddInt64(counterShards, entryDelta)
	}
	if byteDelta != 0 {
		b.AddInt64(counterShardBytes, byteDelta)
	}
	if err := b.Commit(Sync); err != nil {
		return err
	}
	s.shards.Add(entryDelta)
	s.shardBytes.Add(byteDelta)
	return nil
}

// Get returns shard index of chunk id. A missing shard gives an error
// wrapping ErrNotFound. A stored shard that fails to decode, fails its
// hash, or carries another index or code than its key gives an error
// wrapping ErrCorrupt. In both cases the caller should fetch the shard
// from another node and Put it here again.
func (s *ShardStore) Get(id ChunkID, index int) (erasure.Shard, error) {
	if err := checkIndex(index); err != nil {
		return erasure.Shard{}, err
	}
	var key, value []byte
	err := ScanPrefix(s.eng, indexPrefix(id, index), func(k, v []byte) error {
		key, value = append([]byte(nil), k...), append([]byte(nil), v...)
		return StopScan
	})
	if err == nil && key == nil {
		return erasure.Shard{}, fmt.Errorf("%w: shard %d of chunk %v", ErrNotFound, index, id)
	}
	if err != nil {
		return erasure.Shard{}, fmt.Errorf("engine: get shard %d of chunk %v: %w", index, id, err)
	}
	_, ref, err := parseShardKey(key)
	if err != nil {
		return erasure.Shard{}, fmt.Errorf("engine: get shard %d of chunk %v: %w", index, id, err)
	}

	shard, err := erasure.UnmarshalShard(value)
	if err == nil {
		err = shard.Verify()
	}
	if err == nil && shard.Index != index {
		err = fmt.Errorf("stored under index %d, but its header has index %d", index, shard.Index)
	}
	if err == nil && ref.Params != (erasure.Params{}) && shard.Params != ref.Params {
		err = fmt.Errorf("stored under code %v, but its header has code %v", ref.Params, shard.Params)
	}
	if err != nil {
		return erasure.Shard{}, fmt.Errorf("%w: shard %d of chunk %v: %v", ErrCorrupt, index, id, err)
	}
	return shard, nil
}

// Delete removes shard index of chunk id. Deleting a missing shard is not
// an error.
func (s *ShardStore) Delete(id ChunkID, index int) error {
	if err := checkIndex(index); err != nil {
		return err
	}
	if err := s.replaceShard(id, index, nil, nil, erasure.Params{}); err != nil {
		return fmt.Errorf("engine: delete shard %d of chunk %v: %w", index, id, err)
	}
	return nil
}

func checkIndex(index int) error {
	if index < 0 || index >= erasure.MaxShards {
		return fmt.Errorf("%w: shard index %d is outside 0..%d", ErrInvalid, index, erasure.MaxShards-1)
	}
	return nil
}

// List returns the indexes of the shards of chunk id held here, in
// ascending order. It does not check the shards.
func (s *ShardStore) List(id ChunkID) ([]int, error) {
	refs, err := s.ListCodes(id)
	if err != nil {
		return nil, err
	}
	indexes := make([]int, 0, len(refs))
	for _, r := range refs {
		if len(indexes) == 0 || indexes[len(indexes)-1] != r.Index {
			indexes = append(indexes, r.Index)
		}
	}
	return indexes, nil
}

// ListCodes returns the index and code of each shard of chunk id held
// here, by ascending index, read from the keys. A shard that format 1
// stored under a key without its code is read once to learn the code,
// and stored again under a key with it. A shard that does not read is
// listed with the zero Params, and Get reports it corrupt.
func (s *ShardStore) ListCodes(id ChunkID) ([]ShardRef, error) {
	var refs []ShardRef
	err := ScanPrefix(s.eng, chunkPrefix(id), func(key, _ []byte) error {
		_, ref, err := parseShardKey(key)
		if err != nil {
			return err
		}
		if n := len(refs); n > 0 && refs[n-1].Index == ref.Index {
			return nil // Put keeps one key per index; Get reads the first
		}
		refs = append(refs, ref)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: list shards of chunk %v: %w", id, err)
	}
	for i := range refs {
		if refs[i].Params == (erasure.Params{}) {
			refs[i].Params, err = s.upgradeKey(id, refs[i].Index)
			if err != nil {
				return nil, fmt.Errorf("engine: list shards of chunk %v: %w", id, err)
			}
		}
	}
	return refs, nil
}

// upgradeKey moves shard index of chunk id from its format 1 key to a key
// with its code, and returns the code. A shard that does not read stays
// where it is, and the zero Params is returned.
func (s *ShardStore) upgradeKey(id ChunkID, index int) (erasure.Params, error) {
	unlock := s.lockKey(indexPrefix(id, index))
	defer unlock()
	old := indexPrefix(id, index)
	value, err := s.eng.Get(old)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		return erasure.Params{}, nil // replaced meanwhile, or the scrub's to find
	}
	if err != nil {
		return erasure.Params{}, err
	}
	shard, err := erasure.UnmarshalShard(value)
	if err != nil || shard.Index != index {
		return erasure.Params{}, nil
	}
	b := s.eng.NewBatch()
	defer b.Close()
	b.Delete(old)
	b.Set(shardKey(id, index, shard.Params), value)
	if err := b.Commit(Sync); err != nil {
		return erasure.Params{}, err
	}
	return shard.Params, nil
}

// DeleteCode removes shard index of chunk id if it is coded with p, and
// leaves a shard of another code that replaced it. Deleting a missing
// shard is not an error.
func (s *ShardStore) DeleteCode(id ChunkID, index int, p erasure.Params) error {
	if err := checkIndex(index); err != nil {
		return err
	}
	if err := s.replaceShard(id, index, nil, nil, p); err != nil {
		return fmt.Errorf("engine: delete shard %d of chunk %v: %w", index, id, err)
	}
	return nil
}

// ScanShards calls fn for every shard held here, ordered by chunk ID and
// index, without checking the shards. fn may return StopScan to stop early.
func (s *ShardStore) ScanShards(fn func(id ChunkID, index int) error) error {
	return ScanPrefix(s.eng, shardKeyspacePrefix, func(key, _ []byte) error {
		id, ref, err := parseShardKey(key)
		if err != nil {
			return err
		}
		return fn(id, ref.Index)
	})
}

func checkMeta(kind MetaKind, key, value []byte) error {
	if !kind.valid() {
		return fmt.Errorf("%w: unknown metadata kind %v", ErrInvalid, kind)
	}
	if len(key) == 0 || len(key) > MaxMetaKeySize {
		return fmt.Errorf("%w: %v key is %d bytes, want 1..%d", ErrInvalid, kind, len(key), MaxMetaKeySize)
	}
	if len(value) > MaxMetaValueSize {
		return fmt.Errorf("%w: %v value is %d bytes, the maximum is %d", ErrInvalid, kind, len(value), MaxMetaValueSize)
	}
	return nil
}

// PutMeta stores value under key in the kind keyspace, replacing any
// value there. The store does not interpret the value.
func (s *ShardStore) PutMeta(kind MetaKind, key, value []byte) error {
	if err := checkMeta(kind, key, value); err != nil {
		return err
	}
	if value == nil {
		value = []byte{} // nil would mean delete to write
	}
	if err := s.write(metaKey(kind, key), value, s.metaCounters()); err != nil {
		return fmt.Errorf("engine: put %v %x: %w", kind, key, err)
	}
	return nil
}

// GetMeta returns the value under key in the kind keyspace, or an error
// wrapping ErrNotFound.
func (s *ShardStore) GetMeta(kind MetaKind, key []byte) ([]byte, error) {
	if err := checkMeta(kind, key, nil); err != nil {
		return nil, err
	}
	value, err := s.eng.Get(metaKey(kind, key))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %v %x", ErrNotFound, kind, key)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: get %v %x: %w", kind, key, err)
	}
	return value, nil
}

// DeleteMeta removes key from the kind keyspace. Deleting a missing key is
// not an error.
func (s *ShardStore) DeleteMeta(kind MetaKind, key []byte) error {
	if err := checkMeta(kind, key, nil); err != nil {
		return err
	}
	if err := s.write(metaKey(kind, key), nil, s.metaCounters()); err != nil {
		return fmt.Errorf("engine: delete %v %x: %w", kind, key, err)
	}
	return nil
}

// ScanMeta calls fn for every entry of the kind keyspace in key order, with
// the key's prefix byte removed. key and value are valid only during the
// call. fn may return StopScan to stop early.
func (s *ShardStore) ScanMeta(kind MetaKind, fn func(key, value []byte) error) error {
	if !kind.valid() {
		return fmt.Errorf("%w: unknown metadata kind %v", ErrInvalid, kind)
	}
	return ScanPrefix(s.eng, []byte{byte(kind)}, func(key, value []byte) error {
		return fn(key[1:], value)
	})
}
