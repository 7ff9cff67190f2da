package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/erasure"
)

// DefaultTombstoneGrace is how long holders keep a tombstone, counted from
// its version's time.
const DefaultTombstoneGrace = 7 * 24 * time.Hour

// HolderConfig configures a Holder. Shards is required.
type HolderConfig struct {
	// Self is the node's ID, for logs.
	Self identity.NodeID
	// Shards is the node's local store and Engine the engine below it,
	// for ranged scans. The holder closes neither.
	Shards *engine.ShardStore
	Engine engine.Engine
	// Disk, if set, reports free disk space; writes are rejected with
	// CodeFull when less than MinFree bytes would remain.
	Disk    func() (engine.DiskUsage, error)
	MinFree uint64
	// Quota, if positive, bounds the bytes of shards and metadata held.
	Quota int64
	// Tier is the initial tier; Lower holds nothing. With FixedTier set
	// the holder keeps it, as for a node started with --tier lower, and
	// PlaceTier changes nothing.
	Tier      Tier
	FixedTier bool
	// TombstoneGrace defaults to DefaultTombstoneGrace.
	TombstoneGrace time.Duration
	// Now defaults to time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Holder serves the storage protocol's messages from a node's local
// shard store: shards of chunks, record versions of the directory shards
// it holds, and namespace descriptors. It checks everything it can
// without keys: shard hashes, envelope signatures against the namespace's
// access list, and sealed parts against the envelope. All methods are
// safe for concurrent use.
type Holder struct {
	cfg  HolderConfig
	meta metaStore
	log  *slog.Logger
	tier atomic.Uint32
	stat counters

	// keyLocks serialize the read-compare-write of one record or
	// descriptor key.
	keyLocks [64]sync.Mutex
	seed     maphash.Seed

	// mu guards descriptors, a cache of the parsed descriptors stored
	// here, and lost, the shards deleted as corrupt and not yet rebuilt.
	mu          sync.Mutex
	descriptors map[string]*Descriptor
	lost        map[wire.Hash][]int

	// members are the cluster registrations this holder keeps as one of
	// a cell's directory holders.
	members memberBook
}

// NewHolder returns a holder on cfg.Shards.
func NewHolder(cfg HolderConfig) (*Holder, error) {
	if cfg.Shards == nil || cfg.Engine == nil {
		return nil, errors.New("store: holder needs a shard store and its engine")
	}
	if cfg.TombstoneGrace <= 0 {
		cfg.TombstoneGrace = DefaultTombstoneGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Holder{
		cfg:         cfg,
		meta:        metaStore{s: cfg.Shards, eng: cfg.Engine, tables: new(sync.Map)},
		log:         cfg.Logger.With("node", cfg.Self.Short()),
		seed:        maphash.MakeSeed(),
		descriptors: make(map[string]*Descriptor),
		lost:        make(map[wire.Hash][]int),
	}
	h.tier.Store(uint32(cfg.Tier))
	return h, nil
}

// Tier returns the holder's current tier.
func (h *Holder) Tier() Tier { return Tier(h.tier.Load()) }

// SetTier changes the holder's tier. Data held stays; repair hands it
// over to holders of the right tier.
func (h *Holder) SetTier(t Tier) {
	if old := Tier(h.tier.Swap(uint32(t))); old != t {
		h.log.Info("storage tier changed", "from", old, "to", t)
	}
}

// PlaceTier moves the holder to the tier p gives for its uptime and the
// free disk that cfg.Disk reports, and returns the tier. It keeps the tier
// when FixedTier is set or the free space cannot be read.
func (h *Holder) PlaceTier(p TierPolicy, uptime time.Duration) Tier {
	if h.cfg.FixedTier || h.cfg.Disk == nil {
		return h.Tier()
	}
	d, err := h.cfg.Disk()
	if err != nil {
		h.log.Warn("read free disk space failed; keeping the storage tier", "err", err)
		return h.Tier()
	}
	t := p.Next(h.Tier(), uptime, d.Available)
	h.SetTier(t)
	return t
}

// Stats returns a snapshot of the holder's counters.
func (h *Holder) Stats() Stats {
	u := h.cfg.Shards.Usage()
	return Stats{
		Tier:           h.Tier(),
		ShardsHeld:     u.Shards,
		ShardBytes:     u.ShardBytes,
		MetaEntries:    u.MetaEntries,
		MetaBytes:      u.MetaBytes,
		ShardsWritten:  h.stat.shardsWritten.Load(),
		RecordsWritten: h.stat.recordsWritten.Load(),
		CorruptShards:  h.stat.corrupt.Load(),
		RepairsDone:    h.stat.repairs.Load(),
		RepairBytes:    h.stat.repairBytes.Load(),
		Rejected:       h.stat.rejectedSnapshot(),
	}
}

func (h *Holder) lockKey(key []byte) func() {
	mu := &h.keyLocks[maphash.Bytes(h.seed, key)%uint64(len(h.keyLocks))]
	mu.Lock()
	return mu.Unlock
}

// HandleMessage serves one storage request and returns the response: an
// Ack, the requested data, or a *wire.Error. It returns nil for message
// types that are not part of the storage protocol.
func (h *Holder) HandleMessage(ctx context.Context, from transport.Peer, msg wire.Message) wire.Message {
	switch m := msg.(type) {
	case *wire.PutShard:
		return h.putShard(m)
	case *wire.GetShard:
		return h.getShard(m)
	case *wire.ListShards:
		return h.listShards(m)
	case *wire.PutRecord:
		return h.putRecord(m)
	case *wire.GetRecord:
		return h.getRecord(m)
	case *wire.GetRecords:
		return h.getRecords(m)
	case *wire.PutRecords:
		return h.putRecords(m)
	case *wire.ListRecords:
		return h.listRecords(m)
	case *wire.PutNamespace:
		return h.putNamespace(m)
	case *wire.GetNamespace:
		return h.getNamespace(m)
	case *wire.JoinCluster:
		return h.joinCluster(from, m)
	case *wire.GetCluster:
		return h.getCluster(m)
	}
	return nil
}

// reject counts a rejected write and returns its error response.
func (h *Holder) reject(reason string, code wire.ErrorCode, format string, args ...any) *wire.Error {
	h.stat.reject(reason)
	return wireError(code, fmt.Sprintf(format, args...))
}

func wireError(code wire.ErrorCode, msg string) *wire.Error {
	if len(msg) > wire.MaxErrorMessage {
		msg = msg[:wire.MaxErrorMessage]
	}
	return &wire.Error{Code: code, Message: msg}
}

// internalError logs a local failure and reports it without details.
func (h *Holder) internalError(op string, err error) *wire.Error {
	h.log.Error("storage request failed", "op", op, "err", err)
	return wireError(wire.CodeInternal, op+" failed on the holder")
}

// checkSpace returns a CodeFull error when storing n more bytes would
// pass the quota or leave less than MinFree bytes of disk.
func (h *Holder) checkSpace(n int) *wire.Error {
	if q := h.cfg.Quota; q > 0 {
		u := h.cfg.Shards.Usage()
		if used := u.ShardBytes + u.MetaBytes; used+int64(n) > q {
			return h.reject(RejectFull, wire.CodeFull, "holder quota of %d bytes is used up (%d held)", q, used)
		}
	}
	if h.cfg.Disk != nil {
		d, err := h.cfg.Disk()
		if err == nil && d.Available < h.cfg.MinFree+uint64(n) {
			return h.reject(RejectFull, wire.CodeFull, "holder disk has %d bytes free, keeps %d", d.Available, h.cfg.MinFree)
		}
	}
	return nil
}

func (h *Holder) putShard(m *wire.PutShard) wire.Message {
	if h.Tier() < Middle {
		return h.reject(RejectNotHolder, wire.CodeNotHolder, "node is in the %v tier and holds no shards", h.Tier())
	}
	shard, err := erasure.UnmarshalShard(m.Shard)
	if err == nil {
		err = shard.Verify()
	}
	if err != nil {
		return h.reject(RejectInvalid, wire.CodeBadRequest, "shard of chunk %x: %v", m.Chunk[:8], err)
	}
	// NOTE: a holder cannot tie a shard to its chunk ID without the other
	// shards, so a peer can store a valid shard under the wrong ID. Readers
	// catch it, since the decoded chunk fails its ID check.
	id := engine.ChunkID(m.Chunk)

	if m.Cell != "" {
		if err := checkCell(m.Cell); err != nil {
			return h.reject(RejectInvalid, wire.CodeBadRequest, "shard of chunk %x: %v", m.Chunk[:8], err)
		}
	}

	// A shard already held with the same hash is acknowledged without a
	// write, which makes retries and deduplicated chunks cheap.
	if held, err := h.cfg.Shards.Get(id, shard.Index); err == nil && held.Hash == shard.Hash {
		if err := h.keepCell(m.Chunk, m.Cell); err != nil {
			return h.internalError("put chunk cell", err)
		}
		return &wire.Ack{}
	}
	if e := h.checkSpace(len(m.Shard)); e != nil {
		return e
	}
	// The cell goes first, so that a shard is never held without the cell
	// that repair must place it in.
	if err := h.keepCell(m.Chunk, m.Cell); err != nil {
		return h.internalError("put chunk cell", err)
	}
	if err := h.cfg.Shards.Put(id, shard); err != nil {
		return h.internalError("put shard", err)
	}
	h.stat.shardsWritten.Add(1)
	h.found(m.Chunk, shard.Index)
	return &wire.Ack{}
}

func (h *Holder) getShard(m *wire.GetShard) wire.Message {
	shard, err := h.cfg.Shards.Get(engine.ChunkID(m.Chunk), int(m.Index))
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return wireError(wire.CodeNotFound, fmt.Sprintf("shard %d of chunk %x is not held here", m.Index, m.Chunk[:8]))
	case errors.Is(err, engine.ErrCorrupt):
		h.dropCorrupt(m.Chunk, int(m.Index), err)
		return wireError(wire.CodeNotFound, fmt.Sprintf("shard %d of chunk %x was corrupt here", m.Index, m.Chunk[:8]))
	case err != nil:
		return h.internalError("get shard", err)
	}
	b, err := erasure.MarshalShard(shard)
	if err != nil {
		return h.internalError("encode shard", err)
	}
	return &wire.ShardData{Shard: b}
}

// dropCorrupt deletes a shard that failed its hash and remembers it, so
// that the next repair pass rebuilds it.
func (h *Holder) dropCorrupt(chunk wire.Hash, index int, cause error) {
	h.stat.corrupt.Add(1)
	h.log.Warn("deleting corrupt shard; repair will rebuild it", "chunk", fmt.Sprintf("%x", chunk[:8]), "index", index, "err", cause)
	if err := h.cfg.Shards.Delete(engine.ChunkID(chunk), index); err != nil {
		h.log.Error("delete corrupt shard failed", "chunk", fmt.Sprintf("%x", chunk[:8]), "index", index, "err", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lost[chunk] = append(h.lost[chunk], index)
}

// found removes a shard from the lost set once it is stored again.
func (h *Holder) found(chunk wire.Hash, index int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lost := h.lost[chunk]
	for i, x := range lost {
		if x == index {
			lost = append(lost[:i], lost[i+1:]...)
			break
		}
	}
	if len(lost) == 0 {
		delete(h.lost, chunk)
	} else {
		h.lost[chunk] = lost
	}
}

// lostChunks returns the chunks with shards deleted as corrupt.
func (h *Holder) lostChunks() []wire.Hash {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]wire.Hash, 0, len(h.lost))
	for id := range h.lost {
		ids = append(ids, id)
	}
	return ids
}

func (h *Holder) listShards(m *wire.ListShards) wire.Message {
	resp := &wire.ShardIndexes{Held: make([][]uint16, len(m.Chunks)), Codes: make([][]wire.ShardCode, len(m.Chunks))}
	for i, c := range m.Chunks {
		refs, err := h.cfg.Shards.ListCodes(engine.ChunkID(c))
		if err != nil {
			return h.internalError("list shards", err)
		}
		held := make([]uint16, len(refs))
		codes := make([]wire.ShardCode, len(refs))
		for j, r := range refs {
			held[j] = uint16(r.Index)
			codes[j] = wire.ShardCode{Data: uint16(r.Params.Data), Parity: uint16(r.Params.Parity)}
		}
		resp.Held[i], resp.Codes[i] = held, codes
	}
	return resp
}

// Scrub reads every shard held and deletes those that fail their hash, so
// that repair rebuilds them. It returns the number deleted.
func (h *Holder) Scrub(ctx context.Context) (int, error) {
	type ref struct {
		id    engine.ChunkID
		index int
	}
	var refs []ref
	err := h.cfg.Shards.ScanShards(func(id engine.ChunkID, index int) error {
		refs = append(refs, ref{id, index})
		return ctx.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("store: scrub: %w", err)
	}
	dropped := 0
	for _, r := range refs {
		if _, err := h.cfg.Shards.Get(r.id, r.index); errors.Is(err, engine.ErrCorrupt) {
			h.dropCorrupt(wire.Hash(r.id), r.index, err)
			dropped++
		}
	}
	return dropped, nil
}
