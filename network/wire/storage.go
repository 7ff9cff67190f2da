package wire

import (
	"fmt"
	"unicode/utf8"
)

// Message types of the storage protocol, served by every node that holds
// data. Codes are part of the protocol: never reuse or renumber one.
const (
	TypePutShard     Type = 20
	TypeAck          Type = 21
	TypeGetShard     Type = 22
	TypeShardData    Type = 23
	TypeListShards   Type = 24
	TypeShardIndexes Type = 25
	TypePutRecord    Type = 26
	TypeGetRecord    Type = 27
	TypeRecordData   Type = 28
	TypeListRecords  Type = 29
	TypeRecordPage   Type = 30
	TypePutNamespace Type = 31
	TypeGetNamespace Type = 32
	TypeNamespace    Type = 33
)

// Error codes of the storage protocol.
const (
	// CodeNotFound answers a get for data the node does not hold.
	CodeNotFound ErrorCode = 5
	// CodeForbidden rejects a write whose signature does not verify or
	// whose signer may not write the namespace.
	CodeForbidden ErrorCode = 6
	// CodeNotHolder rejects data a node does not hold by its tier, such
	// as any data at a lower-tier node.
	CodeNotHolder ErrorCode = 7
	// CodeFull rejects a write that would exceed the node's quota.
	CodeFull ErrorCode = 8
)

// Storage limits. MaxMessageSize bounds every message as a whole.
const (
	// MaxShardBatch is the most chunks one ListShards may name.
	MaxShardBatch = 256
	// MaxNamespaceName is the longest namespace name in bytes.
	MaxNamespaceName = 64
	// MaxRecordPage is the most records one RecordPage may carry.
	MaxRecordPage = 512
	// MaxBlob bounds a signed envelope, sealed header, access list or
	// inline value inside a storage message.
	MaxBlob = 1 << 20
	// MaxGroups is the most sealed field groups and wrapped keys one
	// record version may carry.
	MaxGroups = 64
)

// Hash is a 32-byte content hash or keyed hash, such as a chunk ID or a
// record's key hash.
type Hash [32]byte

// MarshalBinary implements encoding.BinaryMarshaler.
func (h Hash) MarshalBinary() ([]byte, error) { return h[:], nil }

// UnmarshalBinary rejects any length but 32, which a plain array decode
// would pad or cut silently.
func (h *Hash) UnmarshalBinary(b []byte) error {
	if len(b) != len(h) {
		return fmt.Errorf("hash is %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return nil
}

// PutShard asks a node to store one erasure-coded shard of a chunk. Shard
// is the encoded shard, which carries its own index, code parameters and
// hash.
type PutShard struct {
	Chunk Hash   `cbor:"1,keyasint"`
	Shard []byte `cbor:"2,keyasint"`
	// Cell names the geographic cluster the chunk is placed in, such as
	// "50.5,4.0", for a namespace placed by cluster; empty when the
	// chunk is placed on the closest holders of the whole network. The
	// holder keeps it, so that repair finds the chunk's holders without
	// the namespace's keys.
	Cell string `cbor:"3,keyasint,omitempty"`
}

// Ack answers a write that the node stored durably.
type Ack struct{}

// GetShard asks for shard Index of a chunk.
type GetShard struct {
	Chunk Hash   `cbor:"1,keyasint"`
	Index uint16 `cbor:"2,keyasint"`
}

// ShardData answers a GetShard with the encoded shard.
type ShardData struct {
	Shard []byte `cbor:"1,keyasint"`
}

// ListShards asks which shards of the given chunks a node holds.
type ListShards struct {
	Chunks []Hash `cbor:"1,keyasint"`
}

// ShardIndexes answers a ListShards: Held[i] lists the shard indexes held
// of Chunks[i], and Codes[i][j] is the erasure code of shard Held[i][j].
// A chunk written twice may be coded two ways under one ID, and only the
// code distinguishes its shards at one index. A zero ShardCode marks a
// shard whose code the holder could not read. Holders that list indexes
// only leave Codes out.
type ShardIndexes struct {
	Held  [][]uint16    `cbor:"1,keyasint"`
	Codes [][]ShardCode `cbor:"2,keyasint,omitempty"`
}

// ShardCode is the erasure code of one shard: Data data shards and Parity
// parity shards.
type ShardCode struct {
	_      struct{} `cbor:",toarray"`
	Data   uint16
	Parity uint16
}

// Record is one signed record version as storage nodes keep it: nothing
// in it is readable without the namespace's keys.
type Record struct {
	_ struct{} `cbor:",toarray"`
	// Envelope is the writer's signed envelope (seal.SignEnvelope).
	Envelope []byte
	// Header is the sealed header; empty in a tombstone.
	Header []byte
	// Groups are the sealed field groups by name.
	Groups map[string][]byte
	// Wraps are data keys wrapped for readers (seal.WrapKey).
	Wraps []Wrap
	// Inline is the sealed value of a record too small to chunk.
	Inline []byte
	// Segment locates the sealed value of a small record that a batch
	// write packed into a segment; nil otherwise. The envelope lists the
	// sealed value's chunk ID, so readers check the bytes it points to.
	Segment *SegmentRef
}

// SegmentRef is the byte range of one sealed value inside a segment, a
// chunk that packs the values of many small records.
type SegmentRef struct {
	_ struct{} `cbor:",toarray"`
	// Chunk is the segment's chunk ID.
	Chunk  Hash
	Offset uint32
	Length uint32
}

// Wrap is a data key wrapped for one reader.
type Wrap struct {
	_ struct{} `cbor:",toarray"`
	// Reader is the SHA-256 of the reader's public key encoding.
	Reader Hash
	// Group names the field group the key opens; empty for the header.
	Group string
	Key   []byte
}

// PutRecord asks a directory holder to store a record version of a
// namespace. Dir is the directory shard the record's key hash falls in.
type PutRecord struct {
	Namespace string `cbor:"1,keyasint"`
	Dir       uint32 `cbor:"2,keyasint"`
	Record    Record `cbor:"3,keyasint"`
}

// GetRecord asks for the newest version of a record that a node holds.
type GetRecord struct {
	Namespace string `cbor:"1,keyasint"`
	KeyHash   Hash   `cbor:"2,keyasint"`
}

// RecordData answers a GetRecord.
type RecordData struct {
	Record Record `cbor:"1,keyasint"`
}

// ListRecords asks for the newest versions in directory shard Dir of a
// namespace whose key hash sorts after After, at most Limit of them.
type ListRecords struct {
	Namespace string `cbor:"1,keyasint"`
	Dir       uint32 `cbor:"2,keyasint"`
	After     Hash   `cbor:"3,keyasint,omitempty"`
	Limit     uint16 `cbor:"4,keyasint,omitempty"`
	// Digest asks for envelopes only, without headers, groups, wraps or
	// inline values, for anti-entropy between holders.
	Digest bool `cbor:"5,keyasint,omitempty"`
}

// RecordPage answers a ListRecords in key-hash order, full versions in
// Records and compact entries of packed versions in Packed. More is set
// when records after the last one remain.
type RecordPage struct {
	Records []Record      `cbor:"1,keyasint,omitempty"`
	More    bool          `cbor:"2,keyasint,omitempty"`
	Packed  []PackedEntry `cbor:"3,keyasint,omitempty"`
}

// PutNamespace asks a node to store a namespace's signed descriptor: its
// access list and the parameters writers use.
type PutNamespace struct {
	Namespace  string `cbor:"1,keyasint"`
	Descriptor []byte `cbor:"2,keyasint"`
}

// GetNamespace asks for a namespace's newest descriptor.
type GetNamespace struct {
	Namespace string `cbor:"1,keyasint"`
}

// Namespace answers a GetNamespace.
type Namespace struct {
	Descriptor []byte `cbor:"1,keyasint"`
}

func (*PutShard) Type() Type     { return TypePutShard }
func (*Ack) Type() Type          { return TypeAck }
func (*GetShard) Type() Type     { return TypeGetShard }
func (*ShardData) Type() Type    { return TypeShardData }
func (*ListShards) Type() Type   { return TypeListShards }
func (*ShardIndexes) Type() Type { return TypeShardIndexes }
func (*PutRecord) Type() Type    { return TypePutRecord }
func (*GetRecord) Type() Type    { return TypeGetRecord }
func (*RecordData) Type() Type   { return TypeRecordData }
func (*ListRecords) Type() Type  { return TypeListRecords }
func (*RecordPage) Type() Type   { return TypeRecordPage }
func (*PutNamespace) Type() Type { return TypePutNamespace }
func (*GetNamespace) Type() Type { return TypeGetNamespace }
func (*Namespace) Type() Type    { return TypeNamespace }

func (*Ack) Validate() error      { return nil }
func (*GetShard) Validate() error { return nil }

func (m *PutShard) Validate() error {
	if err := validateCell(m.Cell, false); err != nil {
		return err
	}
	return nonEmpty("shard", m.Shard)
}
func (m *ShardData) Validate() error { return nonEmpty("shard", m.Shard) }

func (m *ListShards) Validate() error {
	if len(m.Chunks) == 0 || len(m.Chunks) > MaxShardBatch {
		return fmt.Errorf("list names %d chunks, want 1 to %d", len(m.Chunks), MaxShardBatch)
	}
	return nil
}

func (m *ShardIndexes) Validate() error {
	if len(m.Held) > MaxShardBatch {
		return fmt.Errorf("answer covers %d chunks, limit %d", len(m.Held), MaxShardBatch)
	}
	if m.Codes == nil {
		return nil
	}
	// An empty Codes is rejected too, since it would encode as absent.
	if len(m.Codes) != len(m.Held) || len(m.Held) == 0 {
		return fmt.Errorf("response has codes for %d chunks and indexes for %d", len(m.Codes), len(m.Held))
	}
	for i := range m.Held {
		if len(m.Codes[i]) != len(m.Held[i]) {
			return fmt.Errorf("chunk %d has %d codes for %d indexes", i, len(m.Codes[i]), len(m.Held[i]))
		}
	}
	return nil
}

func (m *PutRecord) Validate() error {
	if err := validateNamespace(m.Namespace); err != nil {
		return err
	}
	return m.Record.validate()
}

func (m *GetRecord) Validate() error   { return validateNamespace(m.Namespace) }
func (m *RecordData) Validate() error  { return m.Record.validate() }
func (m *ListRecords) Validate() error { return validateNamespace(m.Namespace) }

func (m *RecordPage) Validate() error {
	if len(m.Records)+len(m.Packed) > MaxRecordPage {
		return fmt.Errorf("page has %d records, limit %d", len(m.Records)+len(m.Packed), MaxRecordPage)
	}
	if err := validatePacked(m.Packed); err != nil {
		return err
	}
	for i := range m.Records {
		if err := m.Records[i].validate(); err != nil {
			return fmt.Errorf("records[%d]: %v", i, err)
		}
	}
	return nil
}

func (m *PutNamespace) Validate() error {
	if err := validateNamespace(m.Namespace); err != nil {
		return err
	}
	return blob("descriptor", m.Descriptor, true)
}

func (m *GetNamespace) Validate() error { return validateNamespace(m.Namespace) }
func (m *Namespace) Validate() error    { return blob("descriptor", m.Descriptor, true) }

// validate checks sizes only; the storage layer verifies signatures and
// contents.
func (r *Record) validate() error {
	if err := blob("envelope", r.Envelope, true); err != nil {
		return err
	}
	if err := blob("header", r.Header, false); err != nil {
		return err
	}
	if err := blob("inline value", r.Inline, false); err != nil {
		return err
	}
	if r.Segment != nil {
		if len(r.Inline) > 0 {
			return fmt.Errorf("record has both an inline value and a segment")
		}
		if r.Segment.Length == 0 || r.Segment.Length > MaxBlob || r.Segment.Offset > MaxBlob {
			return fmt.Errorf("segment range %d+%d is outside the %d-byte limit",
				r.Segment.Offset, r.Segment.Length, MaxBlob)
		}
	}
	if len(r.Groups) > MaxGroups || len(r.Wraps) > MaxGroups {
		return fmt.Errorf("record has %d groups and %d wrapped keys, limit %d each", len(r.Groups), len(r.Wraps), MaxGroups)
	}
	for name, g := range r.Groups {
		if err := blob("group "+name, g, true); err != nil {
			return err
		}
	}
	for i, w := range r.Wraps {
		if err := blob(fmt.Sprintf("wraps[%d]", i), w.Key, true); err != nil {
			return err
		}
	}
	return nil
}

// validateNamespace checks only what the wire layer must: a bounded,
// non-empty UTF-8 name. The storage layer applies the full naming rules.
func validateNamespace(name string) error {
	if name == "" || len(name) > MaxNamespaceName || !utf8.ValidString(name) {
		return fmt.Errorf("invalid namespace name %q: want 1 to %d bytes of UTF-8", name, MaxNamespaceName)
	}
	return nil
}

func nonEmpty(field string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%s is empty", field)
	}
	return nil
}

func blob(field string, b []byte, required bool) error {
	if required && len(b) == 0 {
		return fmt.Errorf("%s is empty", field)
	}
	if len(b) > MaxBlob {
		return fmt.Errorf("%s is %d bytes, limit %d", field, len(b), MaxBlob)
	}
	return nil
}

func newStorageMessage(t Type) Message {
	switch t {
	case TypePutShard:
		return new(PutShard)
	case TypeAck:
		return new(Ack)
	case TypeGetShard:
		return new(GetShard)
	case TypeShardData:
		return new(ShardData)
	case TypeListShards:
		return new(ListShards)
	case TypeShardIndexes:
		return new(ShardIndexes)
	case TypePutRecord:
		return new(PutRecord)
	case TypeGetRecord:
		return new(GetRecord)
	case TypeRecordData:
		return new(RecordData)
	case TypeListRecords:
		return new(ListRecords)
	case TypeRecordPage:
		return new(RecordPage)
	case TypePutNamespace:
		return new(PutNamespace)
	case TypeGetNamespace:
		return new(GetNamespace)
	case TypeNamespace:
		return new(Namespace)
	}
	return newStorageBatchMessage(t)
}
