package wire

import "fmt"

// Message types of the batched record requests. A reader that wants many
// records of one directory shard sends one GetRecords per holder instead
// of a GetRecord per record, and repair pushes the versions a holder lacks
// in PutRecords instead of one PutRecord each. Codes are part of the
// protocol: never reuse or renumber one.
const (
	TypeGetRecords Type = 34
	TypeRecordList Type = 35
	TypePutRecords Type = 36
)

// MaxRecordBatch is the most key hashes one GetRecords may name and the
// most records one PutRecords or RecordList may carry. Every message also
// stays under MaxMessageSize as a whole.
const MaxRecordBatch = 512

func init() {
	for t, name := range map[Type]string{
		TypeGetRecords: "get-records",
		TypeRecordList: "record-list",
		TypePutRecords: "put-records",
	} {
		typeNames[t] = name
	}
}

// GetRecords asks for the newest version held of each named record of a
// namespace.
type GetRecords struct {
	Namespace string `cbor:"1,keyasint"`
	KeyHashes []Hash `cbor:"2,keyasint"`
}

// PackedRef locates one signed record version inside a version segment,
// a chunk that packs the versions of a batch write. Directory holders
// keep only this reference, the version and the writer of such a
// record, so that the version's bytes cost the code's overhead rather
// than one copy per directory holder.
type PackedRef struct {
	_ struct{} `cbor:",toarray"`
	// Segment is the version segment's chunk ID.
	Segment Hash
	// Index is the version's position in the segment.
	Index uint16
}

// PackedEntry is a directory holder's compact entry for a record whose
// signed version lies in a version segment. Readers fetch the segment and
// check that the version found there has this key hash, version and
// writer. Wraps are wrapped keys the holder received after the write,
// from a grant, which the version in the segment lacks.
type PackedEntry struct {
	_       struct{} `cbor:",toarray"`
	KeyHash Hash
	Version uint64
	Writer  []byte
	Ref     PackedRef
	Wraps   []Wrap
}

// MaxWriterKey bounds the writer key of a PackedEntry; an Ed25519 public
// key has 32 bytes.
const MaxWriterKey = 64

func (e *PackedEntry) validate() error {
	if len(e.Writer) == 0 || len(e.Writer) > MaxWriterKey {
		return fmt.Errorf("packed entry writer key is %d bytes, want 1 to %d", len(e.Writer), MaxWriterKey)
	}
	if len(e.Wraps) > MaxGroups {
		return fmt.Errorf("packed entry has %d wrapped keys, limit %d", len(e.Wraps), MaxGroups)
	}
	for i, w := range e.Wraps {
		if err := blob(fmt.Sprintf("wraps[%d]", i), w.Key, true); err != nil {
			return err
		}
	}
	return nil
}

func validatePacked(entries []PackedEntry) error {
	if len(entries) > MaxRecordBatch {
		return fmt.Errorf("%d packed entries, limit %d", len(entries), MaxRecordBatch)
	}
	for i := range entries {
		if err := entries[i].validate(); err != nil {
			return fmt.Errorf("packed[%d]: %v", i, err)
		}
	}
	return nil
}

// RecordList is the response to a GetRecords. Records holds the versions found, in
// no particular order; readers match them to key hashes by their verified
// envelopes. NotFound lists the key hashes the node holds no version of.
// A key hash in neither list was left out to keep the message within
// MaxMessageSize, and the reader asks for it again.
type RecordList struct {
	Records  []Record      `cbor:"1,keyasint,omitempty"`
	NotFound []Hash        `cbor:"2,keyasint,omitempty"`
	Packed   []PackedEntry `cbor:"3,keyasint,omitempty"`
}

// PutRecords asks a directory holder to store several record versions of
// one directory shard. The holder stores each version that verifies and
// responds with Ack when it stored or already held all of them, or the error of
// the first one it rejected. When Packed is set, it has one reference per
// record, and the holder checks each full version but keeps only a
// compact entry that points at Packed[i].
type PutRecords struct {
	Namespace string      `cbor:"1,keyasint"`
	Dir       uint32      `cbor:"2,keyasint"`
	Records   []Record    `cbor:"3,keyasint"`
	Packed    []PackedRef `cbor:"4,keyasint,omitempty"`
}

func (*GetRecords) Type() Type { return TypeGetRecords }
func (*RecordList) Type() Type { return TypeRecordList }
func (*PutRecords) Type() Type { return TypePutRecords }

func (m *GetRecords) Validate() error {
	if err := validateNamespace(m.Namespace); err != nil {
		return err
	}
	if len(m.KeyHashes) == 0 || len(m.KeyHashes) > MaxRecordBatch {
		return fmt.Errorf("request names %d records, want 1 to %d", len(m.KeyHashes), MaxRecordBatch)
	}
	return nil
}

func (m *RecordList) Validate() error {
	if len(m.Records) > MaxRecordBatch || len(m.NotFound) > MaxRecordBatch {
		return fmt.Errorf("response has %d records and %d not found, limit %d each",
			len(m.Records), len(m.NotFound), MaxRecordBatch)
	}
	if err := validatePacked(m.Packed); err != nil {
		return err
	}
	return validateRecords(m.Records)
}

func (m *PutRecords) Validate() error {
	if err := validateNamespace(m.Namespace); err != nil {
		return err
	}
	if len(m.Records) == 0 || len(m.Records) > MaxRecordBatch {
		return fmt.Errorf("request carries %d records, want 1 to %d", len(m.Records), MaxRecordBatch)
	}
	if len(m.Packed) > 0 && len(m.Packed) != len(m.Records) {
		return fmt.Errorf("request carries %d records and %d packed references, want as many", len(m.Records), len(m.Packed))
	}
	return validateRecords(m.Records)
}

func validateRecords(records []Record) error {
	for i := range records {
		if err := records[i].validate(); err != nil {
			return fmt.Errorf("records[%d]: %v", i, err)
		}
	}
	return nil
}

func newStorageBatchMessage(t Type) Message {
	switch t {
	case TypeGetRecords:
		return new(GetRecords)
	case TypeRecordList:
		return new(RecordList)
	case TypePutRecords:
		return new(PutRecords)
	}
	return newClusterMessage(t)
}
