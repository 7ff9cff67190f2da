package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
)

// Layout of the holder's entries in the shard store's metadata keyspaces.
// engine.MetaHeader holds, by first byte:
//
//	'N' name                                  namespace descriptor (blobRef)
//	'R' len(name) name dir(4) keyhash(32)     newest record version (recordHead)
//	'P' sha256(32) part(2)                    a part of a blob too large to inline
//	'S' tablekey(8)                           a version segment and writer (tableEntry)
//	'C' chunk(32)                             the cell a chunk is placed in (cell name)
//
// engine.MetaTombstone holds one empty entry per stored tombstone, keyed
// by expiry(8, Unix ms) and the record's 'R' key, so a sweep finds the
// expired ones in order.
const (
	metaDescriptor = 'N'
	metaRecord     = 'R'
	metaPart       = 'P'
	metaTable      = 'S'
	metaChunkCell  = 'C'
)

// Blob parts. engine.MaxMetaValueSize (64 KiB) bounds every metadata
// value, so larger blobs (descriptors with many members, headers of
// values of about 1 GiB and more) are split into parts stored under
// their content hash.
const (
	blobInlineMax = 48 << 10
	blobPartSize  = 60 << 10
)

func chunkCellKey(id wire.Hash) []byte { return append([]byte{metaChunkCell}, id[:]...) }

func descriptorKey(ns string) []byte { return append([]byte{metaDescriptor}, ns...) }

func dirPrefix(ns string, dir uint32) []byte {
	k := make([]byte, 0, 2+len(ns)+4+32)
	k = append(k, metaRecord, byte(len(ns)))
	k = append(k, ns...)
	return binary.BigEndian.AppendUint32(k, dir)
}

func recordKey(ns string, dir uint32, keyHash wire.Hash) []byte {
	return append(dirPrefix(ns, dir), keyHash[:]...)
}

// parseRecordKey splits a 'R' key into its namespace, directory shard and
// key hash.
func parseRecordKey(k []byte) (string, uint32, wire.Hash, error) {
	var h wire.Hash
	if len(k) < 2 || k[0] != metaRecord || len(k) != 2+int(k[1])+4+32 {
		return "", 0, h, fmt.Errorf("%w: %x is not a record key", engine.ErrCorrupt, k)
	}
	n := int(k[1])
	ns := string(k[2 : 2+n])
	dir := binary.BigEndian.Uint32(k[2+n:])
	copy(h[:], k[2+n+4:])
	return ns, dir, h, nil
}

func partKey(sum wire.Hash, i int) []byte {
	k := append([]byte{metaPart}, sum[:]...)
	return binary.BigEndian.AppendUint16(k, uint16(i))
}

func tombstoneKey(expiry int64, rkey []byte) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(max(expiry, 0)))
	return append(k, rkey...)
}

// blobRef is a stored blob: inline, or the hash and part count of parts.
type blobRef struct {
	_      struct{} `cbor:",toarray"`
	Inline []byte
	Sum    wire.Hash
	Parts  uint16
}

// recordHead describes the record version a holder keeps: what
// comparisons need, and either the encoded wire.Record in Blob or, for a
// version packed into a version segment, only its location in Packed.
// It is stored as a storedHead.
type recordHead struct {
	Version   uint64
	Writer    []byte
	Tombstone bool
	// Expiry is when a tombstone may be dropped, in Unix milliseconds.
	Expiry int64
	// Blob is nil in a packed head, so that it costs one byte.
	Blob   *blobRef
	Packed *wire.PackedRef
	// Wraps are wrapped keys a packed head received after the write, by a
	// grant, which the version in the segment lacks.
	Wraps []wire.Wrap
}

// errPacked reports a head whose version is stored in a version segment,
// not here.
var errPacked = errors.New("store: record version is packed in a version segment")

// newer reports whether version v by writer w supersedes h. Equal
// versions break ties on the writer key, so every holder picks the same
// winner.
func (h *recordHead) newer(v uint64, w []byte) bool {
	if v != h.Version {
		return v > h.Version
	}
	return bytes.Compare(w, h.Writer) > 0
}

// metaStore keeps blobs and heads in a ShardStore's metadata keyspaces.
// Ranged scans go to the engine below it: a MetaKind's value is its
// keyspace's prefix byte in the engine, as package engine documents.
type metaStore struct {
	s   *engine.ShardStore
	eng engine.Engine
	// tables caches the segment table entries read or written, by
	// tableKey. Entries never change once written.
	tables *sync.Map
}

// storedHead is the encoding of a recordHead. A packed head keeps its
// writer and version segment in a segment table entry, which every record
// of the segment by that writer shares, and only the entry's 8-byte key
// itself. So a packed head costs 19 bytes in the compact form below, not
// the 100 more that the writer key and segment ID would add, on each of
// its R holders.
type storedHead struct {
	_         struct{} `cbor:",toarray"`
	Version   uint64
	Writer    []byte // nil in a packed head
	Tombstone bool
	Expiry    int64
	Blob      *blobRef
	Table     []byte // the segment table entry's key; nil in a full head
	Index     uint16
	Wraps     []wire.Wrap
}

// A packed head with no wrapped keys of its own, the head of every record
// written in a batch until a grant reaches it, is stored as compactHeadLen
// bytes: compactHeadTag, the version (8 bytes, big-endian), the segment
// table key without its keyspace byte (8) and the index (2, big-endian).
// Its storedHead encoding takes about 28 bytes, and the head is kept on
// each of a record's R directory holders. The tag cannot start a
// storedHead, whose encoding starts with the CBOR array header 0x88.
const (
	compactHeadTag = 0x01
	compactHeadLen = 1 + 8 + 8 + 2
)

// encodeCompactHead returns the compact form of a packed head, or nil
// when sh has fields the form does not keep.
func encodeCompactHead(sh *storedHead) []byte {
	if sh.Writer != nil || sh.Tombstone || sh.Expiry != 0 || sh.Blob != nil || len(sh.Wraps) != 0 ||
		len(sh.Table) != 1+8 || sh.Table[0] != metaTable {
		return nil
	}
	b := make([]byte, 0, compactHeadLen)
	b = append(b, compactHeadTag)
	b = binary.BigEndian.AppendUint64(b, sh.Version)
	b = append(b, sh.Table[1:]...)
	return binary.BigEndian.AppendUint16(b, sh.Index)
}

// parseCompactHead decodes the compact form of a packed head. It reports
// false for bytes of another length or tag, which are a storedHead.
func parseCompactHead(b []byte) (storedHead, bool) {
	if len(b) != compactHeadLen || b[0] != compactHeadTag {
		return storedHead{}, false
	}
	return storedHead{
		Version: binary.BigEndian.Uint64(b[1:9]),
		Table:   append([]byte{metaTable}, b[9:17]...),
		Index:   binary.BigEndian.Uint16(b[17:19]),
	}, true
}

// tableEntry is a segment table entry: a version segment and the writer
// of the versions in it.
type tableEntry struct {
	_       struct{} `cbor:",toarray"`
	Segment wire.Hash
	Writer  []byte
}

// tableKey returns the key of the segment table entry for a segment and
// writer: the first 8 bytes of their SHA-256.
func tableKey(segment wire.Hash, writer []byte) []byte {
	h := sha256.New()
	h.Write(segment[:])
	h.Write(writer)
	return append([]byte{metaTable}, h.Sum(nil)[:8]...)
}

// scan calls fn for the entries of kind with keys in [lower, upper),
// without the keyspace byte; a nil upper scans to the keyspace's end.
func (m metaStore) scan(kind engine.MetaKind, lower, upper []byte, fn func(key, value []byte) error) error {
	lo := append([]byte{byte(kind)}, lower...)
	hi := engine.PrefixEnd([]byte{byte(kind)})
	if upper != nil {
		hi = append([]byte{byte(kind)}, upper...)
	}
	return m.eng.Scan(lo, hi, func(key, value []byte) error { return fn(key[1:], value) })
}

func (m metaStore) putBlob(value []byte) (blobRef, error) {
	if len(value) <= blobInlineMax {
		return blobRef{Inline: bytes.Clone(value)}, nil
	}
	ref := blobRef{Sum: sha256.Sum256(value)}
	for i := 0; len(value) > 0; i++ {
		n := min(len(value), blobPartSize)
		if err := m.s.PutMeta(engine.MetaHeader, partKey(ref.Sum, i), value[:n]); err != nil {
			return blobRef{}, err
		}
		value = value[n:]
		ref.Parts++
	}
	return ref, nil
}

func (m metaStore) getBlob(ref blobRef) ([]byte, error) {
	if ref.Parts == 0 {
		return ref.Inline, nil
	}
	var value []byte
	for i := range int(ref.Parts) {
		part, err := m.s.GetMeta(engine.MetaHeader, partKey(ref.Sum, i))
		if err != nil {
			return nil, fmt.Errorf("%w: blob %x part %d: %w", ErrCorrupt, ref.Sum[:8], i, err)
		}
		value = append(value, part...)
	}
	if sha256.Sum256(value) != ref.Sum {
		return nil, fmt.Errorf("%w: blob %x does not match its hash", ErrCorrupt, ref.Sum[:8])
	}
	return value, nil
}

// deleteBlob removes the parts of ref. Two blobs with equal contents share
// parts, so callers delete only blobs no other head refers to: a record
// or descriptor's previous version, whose contents differ from the new.
func (m metaStore) deleteBlob(ref blobRef) error {
	for i := range int(ref.Parts) {
		if err := m.s.DeleteMeta(engine.MetaHeader, partKey(ref.Sum, i)); err != nil {
			return err
		}
	}
	return nil
}

func (m metaStore) getHead(key []byte) (*recordHead, error) {
	b, err := m.s.GetMeta(engine.MetaHeader, key)
	if err != nil {
		return nil, err
	}
	return m.decodeHead(b)
}

// decodeHead decodes a stored head and, for a packed one, fills in its
// writer and version segment from the segment table.
func (m metaStore) decodeHead(b []byte) (*recordHead, error) {
	sh, compact := parseCompactHead(b)
	if !compact {
		if err := unmarshal("record head", b, engine.MaxMetaValueSize, &sh); err != nil {
			return nil, fmt.Errorf("%w: %w", engine.ErrCorrupt, err)
		}
	}
	h := &recordHead{Version: sh.Version, Writer: sh.Writer, Tombstone: sh.Tombstone, Expiry: sh.Expiry, Blob: sh.Blob, Wraps: sh.Wraps}
	if sh.Table == nil {
		return h, nil
	}
	entry, err := m.getTable(sh.Table)
	if err != nil {
		return nil, fmt.Errorf("%w: segment table entry %x: %w", engine.ErrCorrupt, sh.Table, err)
	}
	h.Writer = entry.Writer
	h.Packed = &wire.PackedRef{Segment: entry.Segment, Index: sh.Index}
	return h, nil
}

func (m metaStore) getTable(key []byte) (*tableEntry, error) {
	if e, ok := m.tables.Load(string(key)); ok {
		return e.(*tableEntry), nil
	}
	b, err := m.s.GetMeta(engine.MetaHeader, key)
	if err != nil {
		return nil, err
	}
	var e tableEntry
	if err := unmarshal("segment table entry", b, engine.MaxMetaValueSize, &e); err != nil {
		return nil, err
	}
	m.tables.Store(string(key), &e)
	return &e, nil
}

// putHead stores h. A packed head's writer and segment go to the segment
// table, and the head takes the compact form unless it has wrapped keys
// of its own.
func (m metaStore) putHead(key []byte, h *recordHead) error {
	sh := storedHead{Version: h.Version, Writer: h.Writer, Tombstone: h.Tombstone, Expiry: h.Expiry, Blob: h.Blob, Wraps: h.Wraps}
	if h.Packed != nil {
		tk, err := m.ensureTable(h.Packed.Segment, h.Writer)
		if err != nil {
			return err
		}
		sh.Writer, sh.Table, sh.Index = nil, tk, h.Packed.Index
		if b := encodeCompactHead(&sh); b != nil {
			return m.s.PutMeta(engine.MetaHeader, key, b)
		}
	}
	b, err := marshal("record head", &sh)
	if err != nil {
		return err
	}
	return m.s.PutMeta(engine.MetaHeader, key, b)
}

// ensureTable returns the key of the segment table entry for a segment
// and writer, storing the entry if it is missing.
//
// NOTE: two segment and writer pairs whose keys collide (one in 2^64 per
// pair) make putHead fail for the second pair's records.
func (m metaStore) ensureTable(segment wire.Hash, writer []byte) ([]byte, error) {
	tk := tableKey(segment, writer)
	e, err := m.getTable(tk)
	switch {
	case err == nil && e.Segment == segment && bytes.Equal(e.Writer, writer):
		return tk, nil
	case err == nil:
		return nil, fmt.Errorf("%w: segment table key %x is taken by another segment", ErrInvalid, tk)
	case !isNotFound(err):
		return nil, err
	}
	entry := &tableEntry{Segment: segment, Writer: writer}
	b, err := marshal("segment table entry", entry)
	if err != nil {
		return nil, err
	}
	if err := m.s.PutMeta(engine.MetaHeader, tk, b); err != nil {
		return nil, err
	}
	m.tables.Store(string(tk), entry)
	return tk, nil
}

// getRecord returns the record stored under head h, or errPacked.
func (m metaStore) getRecord(h *recordHead) (*wire.Record, error) {
	if h.Packed != nil || h.Blob == nil {
		return nil, errPacked
	}
	b, err := m.getBlob(*h.Blob)
	if err != nil {
		return nil, err
	}
	var r wire.Record
	if err := unmarshal("stored record", b, wire.MaxMessageSize, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &r, nil
}

func (m metaStore) getDescriptor(ns string) ([]byte, error) {
	b, err := m.s.GetMeta(engine.MetaHeader, descriptorKey(ns))
	if err != nil {
		return nil, err
	}
	var ref blobRef
	if err := unmarshal("descriptor ref", b, engine.MaxMetaValueSize, &ref); err != nil {
		return nil, fmt.Errorf("%w: %w", engine.ErrCorrupt, err)
	}
	return m.getBlob(ref)
}

// putDescriptor stores raw as the descriptor of ns and removes the parts
// of the one it replaces.
func (m metaStore) putDescriptor(ns string, raw []byte) error {
	var old blobRef
	if b, err := m.s.GetMeta(engine.MetaHeader, descriptorKey(ns)); err == nil {
		_ = unmarshal("descriptor ref", b, engine.MaxMetaValueSize, &old)
	}
	ref, err := m.putBlob(raw)
	if err != nil {
		return err
	}
	b, err := marshal("descriptor ref", ref)
	if err != nil {
		return err
	}
	if err := m.s.PutMeta(engine.MetaHeader, descriptorKey(ns), b); err != nil {
		return err
	}
	if old.Sum != ref.Sum {
		return m.deleteBlob(old)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, engine.ErrNotFound) }
