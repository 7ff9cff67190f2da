package wire

import "fmt"

// Message types of the search protocol, served by upper-tier nodes that
// hold blind-index postings. Codes are part of the protocol: never reuse
// or renumber one.
const (
	TypeIndexAdd     Type = 40
	TypeIndexLookup  Type = 41
	TypeIndexEntries Type = 42
	TypeIndexSync    Type = 43
	TypeIndexBuckets Type = 44
	TypeIndexList    Type = 45
	TypeIndexKeys    Type = 46
)

// Search limits. MaxMessageSize bounds every message as a whole.
const (
	// MaxIndexPostings is the most postings one IndexAdd may carry.
	MaxIndexPostings = 1024
	// MaxIndexEntry is the largest sealed posting entry, in bytes.
	MaxIndexEntry = 512
	// MaxIndexEntries is the most entries one IndexEntries may carry.
	MaxIndexEntries = 1024
	// MaxIndexCursor is the longest cursor of an IndexLookup or
	// IndexList, in bytes.
	MaxIndexCursor = 64
	// IndexBucketCount is the number of buckets of an index partition:
	// bucket b holds the tokens whose second byte is b.
	IndexBucketCount = 256
	// IndexKeySize is the size of a posting key in an IndexKeys: the
	// token (32 bytes) then the entry ID (16 bytes).
	IndexKeySize = 48
	// MaxIndexKeys is the most keys one IndexKeys may carry.
	MaxIndexKeys = 2048
)

// IndexPosting is one entry of a token's posting list. Token is a keyed
// hash and Entry a sealed reference, so the node that stores it learns
// neither the value the token stands for nor what the entry points at.
type IndexPosting struct {
	_     struct{} `cbor:",toarray"`
	Token Hash
	Entry []byte
}

// IndexAdd asks an index holder to add postings to a namespace's index.
// It answers with an Ack once they are durable.
type IndexAdd struct {
	Namespace string         `cbor:"1,keyasint"`
	Postings  []IndexPosting `cbor:"2,keyasint"`
}

// IndexLookup asks an index holder for the entries of one token, in the
// holder's order, starting after the cursor After (empty for the first
// page). Limit caps the entries returned; 0 means MaxIndexEntries.
type IndexLookup struct {
	Namespace string `cbor:"1,keyasint"`
	Token     Hash   `cbor:"2,keyasint"`
	After     []byte `cbor:"3,keyasint,omitempty"`
	Limit     uint16 `cbor:"4,keyasint,omitempty"`
}

// IndexEntries answers an IndexLookup. Next is the cursor of the next
// page, empty on the last.
type IndexEntries struct {
	Entries [][]byte `cbor:"1,keyasint"`
	Next    []byte   `cbor:"2,keyasint,omitempty"`
}

// IndexSync starts the repair of one index partition between two
// holders: the sender states the count and digest of the postings it
// holds in partition Partition (the tokens whose first byte it is). The
// receiver responds with an IndexBuckets.
type IndexSync struct {
	Namespace string `cbor:"1,keyasint"`
	Partition uint8  `cbor:"2,keyasint"`
	Count     uint64 `cbor:"3,keyasint"`
	Digest    Hash   `cbor:"4,keyasint"`
}

// IndexBuckets responds to an IndexSync. It is empty when the receiver
// holds the same count and digest, and otherwise carries the count and
// digest of each of the receiver's IndexBucketCount buckets of the
// partition, so that the sender lists only the buckets that differ.
type IndexBuckets struct {
	Buckets []IndexBucket `cbor:"1,keyasint"`
}

// IndexBucket is the count of postings in one bucket of a partition and
// the SHA-256 of their keys in key order.
type IndexBucket struct {
	_      struct{} `cbor:",toarray"`
	Count  uint64
	Digest Hash
}

// IndexList requests from an index holder the keys of the postings it
// stores in one bucket of a partition, in key order, starting after the
// key After (empty for the first page). Limit caps the keys returned; 0
// means MaxIndexKeys.
type IndexList struct {
	Namespace string `cbor:"1,keyasint"`
	Partition uint8  `cbor:"2,keyasint"`
	Bucket    uint8  `cbor:"3,keyasint"`
	After     []byte `cbor:"4,keyasint,omitempty"`
	Limit     uint16 `cbor:"5,keyasint,omitempty"`
}

// IndexKeys responds to an IndexList with posting keys of IndexKeySize
// bytes. Next is the cursor of the next page, empty on the last.
type IndexKeys struct {
	Keys [][]byte `cbor:"1,keyasint"`
	Next []byte   `cbor:"2,keyasint,omitempty"`
}

func (*IndexAdd) Type() Type     { return TypeIndexAdd }
func (*IndexLookup) Type() Type  { return TypeIndexLookup }
func (*IndexEntries) Type() Type { return TypeIndexEntries }
func (*IndexSync) Type() Type    { return TypeIndexSync }
func (*IndexBuckets) Type() Type { return TypeIndexBuckets }
func (*IndexList) Type() Type    { return TypeIndexList }
func (*IndexKeys) Type() Type    { return TypeIndexKeys }

func (m *IndexSync) Validate() error { return validateNamespace(m.Namespace) }

func (m *IndexBuckets) Validate() error {
	if len(m.Buckets) != 0 && len(m.Buckets) != IndexBucketCount {
		return fmt.Errorf("response carries %d buckets, want 0 or %d", len(m.Buckets), IndexBucketCount)
	}
	return nil
}

func (m *IndexList) Validate() error {
	if err := validateNamespace(m.Namespace); err != nil {
		return err
	}
	if len(m.After) != 0 && len(m.After) != IndexKeySize {
		return fmt.Errorf("cursor is %d bytes, want 0 or %d", len(m.After), IndexKeySize)
	}
	if m.Limit > MaxIndexKeys {
		return fmt.Errorf("limit %d is above %d", m.Limit, MaxIndexKeys)
	}
	return nil
}

func (m *IndexKeys) Validate() error {
	if len(m.Keys) > MaxIndexKeys {
		return fmt.Errorf("response carries %d keys, limit %d", len(m.Keys), MaxIndexKeys)
	}
	for i, k := range m.Keys {
		if len(k) != IndexKeySize {
			return fmt.Errorf("keys[%d] is %d bytes, want %d", i, len(k), IndexKeySize)
		}
	}
	if len(m.Next) != 0 && len(m.Next) != IndexKeySize {
		return fmt.Errorf("cursor is %d bytes, want 0 or %d", len(m.Next), IndexKeySize)
	}
	return nil
}

func (m *IndexAdd) Validate() error {
	if err := validateNamespace(m.Namespace); err != nil {
		return err
	}
	if len(m.Postings) == 0 || len(m.Postings) > MaxIndexPostings {
		return fmt.Errorf("add carries %d postings, want 1 to %d", len(m.Postings), MaxIndexPostings)
	}
	for i, p := range m.Postings {
		if err := indexEntry(fmt.Sprintf("postings[%d].entry", i), p.Entry); err != nil {
			return err
		}
	}
	return nil
}

func (m *IndexLookup) Validate() error {
	if err := validateNamespace(m.Namespace); err != nil {
		return err
	}
	if len(m.After) > MaxIndexCursor {
		return fmt.Errorf("cursor is %d bytes, limit %d", len(m.After), MaxIndexCursor)
	}
	if m.Limit > MaxIndexEntries {
		return fmt.Errorf("limit %d is above %d", m.Limit, MaxIndexEntries)
	}
	return nil
}

func (m *IndexEntries) Validate() error {
	if len(m.Entries) > MaxIndexEntries {
		return fmt.Errorf("answer carries %d entries, limit %d", len(m.Entries), MaxIndexEntries)
	}
	for i, e := range m.Entries {
		if err := indexEntry(fmt.Sprintf("entries[%d]", i), e); err != nil {
			return err
		}
	}
	if len(m.Next) > MaxIndexCursor {
		return fmt.Errorf("cursor is %d bytes, limit %d", len(m.Next), MaxIndexCursor)
	}
	return nil
}

func indexEntry(field string, e []byte) error {
	if len(e) == 0 {
		return fmt.Errorf("%s is empty", field)
	}
	if len(e) > MaxIndexEntry {
		return fmt.Errorf("%s is %d bytes, limit %d", field, len(e), MaxIndexEntry)
	}
	return nil
}

func newSearchMessage(t Type) Message {
	switch t {
	case TypeIndexAdd:
		return new(IndexAdd)
	case TypeIndexLookup:
		return new(IndexLookup)
	case TypeIndexEntries:
		return new(IndexEntries)
	case TypeIndexSync:
		return new(IndexSync)
	case TypeIndexBuckets:
		return new(IndexBuckets)
	case TypeIndexList:
		return new(IndexList)
	case TypeIndexKeys:
		return new(IndexKeys)
	}
	return nil
}
