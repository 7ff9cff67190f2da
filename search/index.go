package search

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/store"
)

// Key layout of postings in the node's engine, in a keyspace of its own
// next to the ShardStore's:
//
//	'x' len(ns) ns token (32) entry ID (16)   sealed entry
//
// The entry ID is the first 16 bytes of the SHA-256 of the sealed entry,
// so adding an entry twice stores it once, and a token's entries sort by
// ID, which is the cursor of a lookup.
const (
	postingPrefix = 'x'
	entryIDLen    = 16
)

// IndexConfig configures an Index. Engine is required.
type IndexConfig struct {
	// Self is the node's ID, for logs.
	Self identity.NodeID
	// Engine stores the postings. The index does not close it.
	Engine engine.Engine
	// Tier returns the node's current storage tier: the index accepts
	// postings only in the upper tier. Nil means always upper.
	Tier func() store.Tier
	// Disk, if set, reports free disk space. Adds are rejected with
	// CodeFull when less than MinFree bytes would remain.
	Disk    func() (engine.DiskUsage, error)
	MinFree uint64
	Logger  *slog.Logger
}

// Index is an index holder: it stores the posting lists of the tokens
// placed on this node and serves them to lookups. It receives tokens and
// sealed entries only. All methods are safe for concurrent use.
type Index struct {
	cfg IndexConfig
	log *slog.Logger

	added    atomic.Int64 // postings stored, counting repeats
	lookups  atomic.Int64
	rejected atomic.Int64
}

// NewIndex returns an index holder on cfg.Engine.
func NewIndex(cfg IndexConfig) (*Index, error) {
	if cfg.Engine == nil {
		return nil, errors.New("search: index holder needs an engine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Index{cfg: cfg, log: cfg.Logger.With("node", cfg.Self.Short())}, nil
}

// IsSearchType reports whether t is a message of the search protocol.
func IsSearchType(t wire.Type) bool {
	return t >= wire.TypeIndexAdd && t <= wire.TypeIndexKeys
}

// HandleMessage serves an IndexAdd, IndexLookup, IndexSync or IndexList
// from a peer, and returns nil for any other message.
func (x *Index) HandleMessage(_ context.Context, from transport.Peer, msg wire.Message) wire.Message {
	switch m := msg.(type) {
	case *wire.IndexAdd:
		return x.add(from, m)
	case *wire.IndexLookup:
		return x.lookup(from, m)
	case *wire.IndexSync:
		return x.sync(from, m)
	case *wire.IndexList:
		return x.list(from, m)
	}
	return nil
}

func (x *Index) holds() bool { return x.cfg.Tier == nil || x.cfg.Tier() == store.Upper }

func (x *Index) reject(from transport.Peer, code wire.ErrorCode, format string, args ...any) *wire.Error {
	x.rejected.Add(1)
	msg := fmt.Sprintf(format, args...)
	x.log.Debug("index request rejected", "peer", from.ID.Short(), "code", code, "reason", msg)
	return &wire.Error{Code: code, Message: msg}
}

func (x *Index) add(from transport.Peer, m *wire.IndexAdd) wire.Message {
	if !x.holds() {
		return x.reject(from, wire.CodeNotHolder, "this node is not in the upper tier and holds no index")
	}
	var size uint64
	for _, p := range m.Postings {
		size += uint64(len(p.Entry)) + 64
	}
	if err := x.checkSpace(size); err != nil {
		return x.reject(from, wire.CodeFull, "%v", err)
	}

	b := x.cfg.Engine.NewBatch()
	defer b.Close()
	for _, p := range m.Postings {
		id := sha256.Sum256(p.Entry)
		b.Set(postingKey(m.Namespace, p.Token, id[:entryIDLen]), p.Entry)
	}
	// Sync, because an Ack reports to the writer that the postings are
	// durable.
	if err := b.Commit(engine.Sync); err != nil {
		x.log.Error("storing postings failed", "peer", from.ID.Short(), "namespace", m.Namespace, "err", err)
		return &wire.Error{Code: wire.CodeInternal, Message: "storing postings failed"}
	}
	x.added.Add(int64(len(m.Postings)))
	return &wire.Ack{}
}

func (x *Index) checkSpace(n uint64) error {
	if x.cfg.Disk == nil {
		return nil
	}
	u, err := x.cfg.Disk()
	if err != nil {
		return fmt.Errorf("disk usage unknown: %v", err)
	}
	if u.Available < x.cfg.MinFree+n {
		return fmt.Errorf("%d bytes free, the node keeps %d", u.Available, x.cfg.MinFree)
	}
	return nil
}

func (x *Index) lookup(from transport.Peer, m *wire.IndexLookup) wire.Message {
	if !x.holds() {
		return x.reject(from, wire.CodeNotHolder, "this node is not in the upper tier and holds no index")
	}
	if len(m.After) != 0 && len(m.After) != entryIDLen {
		return x.reject(from, wire.CodeBadRequest, "cursor is %d bytes, want %d", len(m.After), entryIDLen)
	}
	x.lookups.Add(1)
	limit := int(m.Limit)
	if limit == 0 {
		limit = wire.MaxIndexEntries
	}

	prefix := postingKey(m.Namespace, m.Token, nil)
	lower := prefix
	if len(m.After) > 0 {
		// A key one byte longer than the cursor's sorts right after it.
		lower = append(postingKey(m.Namespace, m.Token, m.After), 0)
	}
	resp := &wire.IndexEntries{Entries: [][]byte{}}
	var lastID [entryIDLen]byte
	err := x.cfg.Engine.Scan(lower, engine.PrefixEnd(prefix), func(key, value []byte) error {
		if len(resp.Entries) == limit {
			resp.Next = bytes.Clone(lastID[:])
			return engine.StopScan
		}
		resp.Entries = append(resp.Entries, bytes.Clone(value))
		copy(lastID[:], key[len(key)-entryIDLen:])
		return nil
	})
	if err != nil {
		x.log.Error("reading postings failed", "peer", from.ID.Short(), "namespace", m.Namespace, "err", err)
		return &wire.Error{Code: wire.CodeInternal, Message: "reading postings failed"}
	}
	return resp
}

func postingKey(ns string, token wire.Hash, id []byte) []byte {
	key := make([]byte, 0, 2+len(ns)+len(token)+entryIDLen)
	key = append(key, postingPrefix, byte(len(ns)))
	key = append(key, ns...)
	key = append(key, token[:]...)
	return append(key, id...)
}

// IndexStats are an index holder's counters since it started.
type IndexStats struct {
	Added    int64 `json:"added"`
	Lookups  int64 `json:"lookups"`
	Rejected int64 `json:"rejected"`
}

// Stats returns the holder's counters.
func (x *Index) Stats() IndexStats {
	return IndexStats{Added: x.added.Load(), Lookups: x.lookups.Load(), Rejected: x.rejected.Load()}
}
