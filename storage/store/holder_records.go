package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/seal"
)

// Record pages: the default number of records, and the bytes a page may
// fill so that it fits one wire message.
const (
	defaultPageLimit = 256
	pageBudget       = wire.MaxMessageSize - 256<<10
)

// descriptor returns the parsed descriptor of ns held here, or nil.
func (h *Holder) descriptor(ns string) *Descriptor {
	h.mu.Lock()
	d := h.descriptors[ns]
	h.mu.Unlock()
	if d != nil {
		return d
	}
	raw, err := h.meta.getDescriptor(ns)
	if err != nil {
		if !isNotFound(err) {
			h.log.Error("read descriptor failed", "namespace", ns, "err", err)
		}
		return nil
	}
	// The copy was verified when it was stored; parsing it again as a
	// first descriptor checks it was not damaged since.
	d, err = ParseDescriptor(raw, nil)
	if err != nil {
		h.log.Error("stored descriptor does not verify", "namespace", ns, "err", err)
		return nil
	}
	h.mu.Lock()
	h.descriptors[ns] = d
	h.mu.Unlock()
	return d
}

func (h *Holder) putNamespace(m *wire.PutNamespace) wire.Message {
	if h.Tier() < Upper {
		return h.reject(RejectNotHolder, wire.CodeNotHolder, "node is in the %v tier and holds no descriptors", h.Tier())
	}
	unlock := h.lockKey(descriptorKey(m.Namespace))
	defer unlock()

	current := h.descriptor(m.Namespace)
	d, err := ParseDescriptor(m.Descriptor, current)
	switch {
	case errors.Is(err, seal.ErrStale):
		// An older or concurrent version: acknowledged and ignored, so
		// that retries and lagging repairs are harmless.
		return &wire.Ack{}
	case errors.Is(err, ErrForbidden):
		return h.reject(RejectForbidden, wire.CodeForbidden, "%v", err)
	case err != nil:
		return h.reject(RejectInvalid, wire.CodeBadRequest, "%v", err)
	}
	if d.Namespace() != m.Namespace {
		return h.reject(RejectInvalid, wire.CodeBadRequest, "descriptor of %q sent as %q", d.Namespace(), m.Namespace)
	}
	if d == current {
		return &wire.Ack{}
	}
	if e := h.checkSpace(len(m.Descriptor)); e != nil {
		return e
	}
	if err := h.meta.putDescriptor(m.Namespace, d.Bytes()); err != nil {
		return h.internalError("put descriptor", err)
	}
	h.mu.Lock()
	h.descriptors[m.Namespace] = d
	h.mu.Unlock()
	return &wire.Ack{}
}

func (h *Holder) getNamespace(m *wire.GetNamespace) wire.Message {
	d := h.descriptor(m.Namespace)
	if d == nil {
		return wireError(wire.CodeNotFound, fmt.Sprintf("namespace %q is not held here", m.Namespace))
	}
	return &wire.Namespace{Descriptor: d.Bytes()}
}

func (h *Holder) putRecord(m *wire.PutRecord) wire.Message {
	if h.Tier() < Upper {
		return h.reject(RejectNotHolder, wire.CodeNotHolder, "node is in the %v tier and holds no directories", h.Tier())
	}
	d := h.descriptor(m.Namespace)
	if d == nil {
		return wireError(wire.CodeNotFound, fmt.Sprintf("namespace %q is unknown here; send its descriptor first", m.Namespace))
	}
	return h.putOne(d, m.Namespace, m.Dir, &m.Record, nil)
}

// storeRecord keeps rec if it is newer than the version held: in full,
// or only as a reference when packed is set. An older or equal version is
// acknowledged and ignored, except that an equal full one adds the
// wrapped keys the held copy lacks.
func (h *Holder) storeRecord(ns string, dir uint32, env *seal.Envelope, rec *wire.Record, packed *wire.PackedRef) *wire.Error {
	key := recordKey(ns, dir, wire.Hash(env.Record.KeyHash))
	unlock := h.lockKey(key)
	defer unlock()

	head, err := h.meta.getHead(key)
	switch {
	case isNotFound(err):
		head = nil
	case errors.Is(err, engine.ErrCorrupt):
		h.log.Warn("replacing damaged record entry", "record", env.Record, "err", err)
		head = nil
	case err != nil:
		return h.internalError("read record", err)
	}
	if head != nil && !head.newer(env.Record.Version, env.Writer) {
		same := head.Version == env.Record.Version && bytes.Equal(head.Writer, env.Writer) && !head.Tombstone
		switch {
		case !same || packed != nil:
			// A packed copy carries the wrapped keys of the version in
			// its segment, which the held head refers to already.
			return nil
		case head.Packed != nil:
			return h.addPackedWraps(key, head, env, rec.Wraps)
		}
		return h.addWraps(key, head, rec.Wraps)
	}

	next := &recordHead{Version: env.Record.Version, Writer: env.Writer, Tombstone: env.Tombstone}
	if env.Tombstone {
		next.Expiry = versionTime(env.Record.Version).Add(h.cfg.TombstoneGrace).UnixMilli()
		if next.Expiry <= h.cfg.Now().UnixMilli() {
			// Past its grace period: the record is gone everywhere.
			return h.dropHead(key, head)
		}
	}
	if packed != nil && !env.Tombstone {
		next.Packed = packed
		return h.writeHead(key, head, next)
	}
	return h.replaceHead(key, head, next, rec)
}

// writeHead stores a packed head and removes what the head it replaces
// left behind.
func (h *Holder) writeHead(key []byte, old, next *recordHead) *wire.Error {
	if e := h.checkSpace(64 + len(next.Writer)); e != nil {
		return e
	}
	if err := h.meta.putHead(key, next); err != nil {
		return h.internalError("put record", err)
	}
	h.stat.recordsWritten.Add(1)
	if old != nil {
		h.forgetHead(key, old, wire.Hash{})
	}
	return nil
}

// addPackedWraps keeps, with a packed head, the wrapped keys of an equal
// full version that a grant sent. Those the version in the segment
// carries already are merged again by readers, which drop duplicates.
func (h *Holder) addPackedWraps(key []byte, head *recordHead, env *seal.Envelope, wraps []wire.Wrap) *wire.Error {
	held := &wire.Record{Wraps: head.Wraps}
	if !mergeWraps(held, wraps) {
		return nil
	}
	next := *head
	next.Wraps = held.Wraps
	if err := h.meta.putHead(key, &next); err != nil {
		return h.internalError("put record", err)
	}
	return nil
}

func (h *Holder) replaceHead(key []byte, old, next *recordHead, rec *wire.Record) *wire.Error {
	b, err := encodeRecord(rec)
	if err != nil {
		return h.reject(RejectInvalid, wire.CodeBadRequest, "%v", err)
	}
	if e := h.checkSpace(len(b)); e != nil {
		return e
	}
	ref, err := h.meta.putBlob(b)
	if err != nil {
		return h.internalError("put record", err)
	}
	next.Blob = &ref
	if err := h.meta.putHead(key, next); err != nil {
		return h.internalError("put record", err)
	}
	if next.Tombstone {
		if err := h.cfg.Shards.PutMeta(engine.MetaTombstone, tombstoneKey(next.Expiry, key), nil); err != nil {
			return h.internalError("put tombstone", err)
		}
	}
	h.stat.recordsWritten.Add(1)
	if old != nil {
		h.forgetHead(key, old, ref.Sum)
	}
	return nil
}

// forgetHead removes what a replaced head left behind: its blob parts
// and its tombstone index entry. Failures leave only garbage, so they
// are logged.
func (h *Holder) forgetHead(key []byte, old *recordHead, keep wire.Hash) {
	if old.Blob != nil && old.Blob.Parts > 0 && old.Blob.Sum != keep {
		if err := h.meta.deleteBlob(*old.Blob); err != nil {
			h.log.Warn("delete replaced record parts failed", "err", err)
		}
	}
	if old.Tombstone {
		if err := h.cfg.Shards.DeleteMeta(engine.MetaTombstone, tombstoneKey(old.Expiry, key)); err != nil {
			h.log.Warn("delete tombstone index entry failed", "err", err)
		}
	}
}

func (h *Holder) dropHead(key []byte, head *recordHead) *wire.Error {
	if head == nil {
		return nil
	}
	if err := h.cfg.Shards.DeleteMeta(engine.MetaHeader, key); err != nil {
		return h.internalError("delete record", err)
	}
	h.forgetHead(key, head, wire.Hash{})
	return nil
}

func (h *Holder) addWraps(key []byte, head *recordHead, wraps []wire.Wrap) *wire.Error {
	held, err := h.meta.getRecord(head)
	if err != nil {
		return h.internalError("read record", err)
	}
	if !mergeWraps(held, wraps) {
		return nil
	}
	next := *head
	return h.replaceHead(key, head, &next, held)
}

func (h *Holder) getRecord(m *wire.GetRecord) wire.Message {
	d := h.descriptor(m.Namespace)
	if d == nil {
		return wireError(wire.CodeNotFound, fmt.Sprintf("namespace %q is not held here", m.Namespace))
	}
	key := recordKey(m.Namespace, DirectoryOf(m.KeyHash, d.Params().DirBits), m.KeyHash)
	head, err := h.meta.getHead(key)
	if isNotFound(err) {
		return wireError(wire.CodeNotFound, fmt.Sprintf("record %x of %q is not held here", m.KeyHash[:8], m.Namespace))
	}
	var rec *wire.Record
	if err == nil {
		rec, err = h.meta.getRecord(head)
	}
	if errors.Is(err, errPacked) {
		return wireError(wire.CodeNotFound, fmt.Sprintf("record %x of %q is packed; request it with GetRecords", m.KeyHash[:8], m.Namespace))
	}
	if err != nil {
		return h.damagedRecord(key, head, err)
	}
	return &wire.RecordData{Record: *rec}
}

// damagedRecord drops a record entry that no longer reads, so that
// anti-entropy fetches it again from the other directory holders.
func (h *Holder) damagedRecord(key []byte, head *recordHead, cause error) wire.Message {
	h.log.Warn("dropping damaged record entry; repair will fetch it again", "err", cause)
	unlock := h.lockKey(key)
	defer unlock()
	if err := h.cfg.Shards.DeleteMeta(engine.MetaHeader, key); err != nil {
		h.log.Error("delete damaged record entry failed", "err", err)
	}
	if head != nil {
		h.forgetHead(key, head, wire.Hash{})
	}
	return wireError(wire.CodeNotFound, "record entry was damaged here")
}

func (h *Holder) listRecords(m *wire.ListRecords) wire.Message {
	limit := int(m.Limit)
	if limit == 0 {
		limit = defaultPageLimit
	}
	limit = min(limit, wire.MaxRecordPage)

	page := &wire.RecordPage{}
	used := 0
	err := h.scanDir(m.Namespace, m.Dir, m.After, func(k wire.Hash, head *recordHead, rec *wire.Record) error {
		size := packedEntrySize
		if rec != nil {
			if m.Digest {
				*rec = wire.Record{Envelope: rec.Envelope}
			}
			size = recordSize(rec)
		}
		n := len(page.Records) + len(page.Packed)
		if n == limit || (n > 0 && used+size > pageBudget) {
			page.More = true
			return engine.StopScan
		}
		used += size
		if rec == nil {
			page.Packed = append(page.Packed, packedEntry(k, head))
			return nil
		}
		page.Records = append(page.Records, *rec)
		return nil
	})
	if err != nil {
		return h.internalError("list records", err)
	}
	return page
}

// scanDir calls fn for each record held in directory shard dir of ns
// whose key hash sorts after after, in key-hash order, with a nil record
// for a packed head. Damaged entries are skipped.
func (h *Holder) scanDir(ns string, dir uint32, after wire.Hash, fn func(keyHash wire.Hash, head *recordHead, rec *wire.Record) error) error {
	prefix := dirPrefix(ns, dir)
	lower := prefix
	if after != (wire.Hash{}) {
		lower = append(recordKey(ns, dir, after), 0)
	}
	return h.meta.scan(engine.MetaHeader, lower, engine.PrefixEnd(prefix), func(key, value []byte) error {
		_, _, keyHash, err := parseRecordKey(key)
		if err != nil {
			return nil
		}
		head, err := h.meta.decodeHead(value)
		if err != nil {
			h.log.Warn("skipping damaged record entry", "err", err)
			return nil
		}
		if head.Packed != nil {
			return fn(keyHash, head, nil)
		}
		rec, err := h.meta.getRecord(head)
		if err != nil {
			h.log.Warn("skipping damaged record entry", "err", err)
			return nil
		}
		return fn(keyHash, head, rec)
	})
}

// Sweep drops tombstones whose grace period ended before now and returns
// how many it dropped.
func (h *Holder) Sweep(now time.Time) (int, error) {
	var expired [][]byte
	err := h.meta.scan(engine.MetaTombstone, nil, tombstoneKey(now.UnixMilli(), nil), func(key, _ []byte) error {
		expired = append(expired, bytes.Clone(key))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: sweep tombstones: %w", err)
	}
	dropped := 0
	for _, k := range expired {
		if len(k) < 8 {
			continue
		}
		if h.sweepOne(k[8:], now) {
			dropped++
		}
		if err := h.cfg.Shards.DeleteMeta(engine.MetaTombstone, k); err != nil {
			return dropped, fmt.Errorf("store: sweep tombstones: %w", err)
		}
	}
	return dropped, nil
}

func (h *Holder) sweepOne(key []byte, now time.Time) bool {
	unlock := h.lockKey(key)
	defer unlock()
	head, err := h.meta.getHead(key)
	if err != nil || !head.Tombstone || head.Expiry > now.UnixMilli() {
		return false
	}
	return h.dropHead(key, head) == nil
}

// dirRef names one directory shard of a namespace.
type dirRef struct {
	Namespace string
	Dir       uint32
}

// heldDirs returns the directory shards with records held here, in key
// order.
func (h *Holder) heldDirs() ([]dirRef, error) {
	var dirs []dirRef
	err := h.meta.scan(engine.MetaHeader, []byte{metaRecord}, []byte{metaRecord + 1}, func(key, _ []byte) error {
		ns, dir, _, err := parseRecordKey(key)
		if err != nil {
			return nil
		}
		if n := len(dirs); n == 0 || dirs[n-1] != (dirRef{ns, dir}) {
			dirs = append(dirs, dirRef{ns, dir})
		}
		return nil
	})
	return dirs, err
}

// heldNamespaces returns the names of the descriptors held here.
func (h *Holder) heldNamespaces() ([]string, error) {
	var names []string
	err := h.meta.scan(engine.MetaHeader, []byte{metaDescriptor}, []byte{metaDescriptor + 1}, func(key, _ []byte) error {
		names = append(names, string(key[1:]))
		return nil
	})
	return names, err
}

// dropDir deletes every record of a directory shard held here, after a
// handover to the shard's current holders.
func (h *Holder) dropDir(ref dirRef) error {
	var keys [][]byte
	prefix := dirPrefix(ref.Namespace, ref.Dir)
	err := h.meta.scan(engine.MetaHeader, prefix, engine.PrefixEnd(prefix), func(key, _ []byte) error {
		keys = append(keys, bytes.Clone(key))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		unlock := h.lockKey(k)
		head, err := h.meta.getHead(k)
		if err == nil {
			if e := h.dropHead(k, head); e != nil {
				err = fmt.Errorf("store: drop record: %s", e.Message)
			}
		}
		unlock()
		if err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

// dropNamespace deletes a descriptor held here after a handover.
func (h *Holder) dropNamespace(ns string) error {
	unlock := h.lockKey(descriptorKey(ns))
	defer unlock()
	h.mu.Lock()
	delete(h.descriptors, ns)
	h.mu.Unlock()
	return h.cfg.Shards.DeleteMeta(engine.MetaHeader, descriptorKey(ns))
}
