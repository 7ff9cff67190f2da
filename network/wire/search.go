package wire

import "fmt"

// Message types of the search protocol, served by upper-tier nodes that
// hold blind-index postings. Codes are part of the protocol: never reuse
// or renumber one.
const (
	TypeIndexAdd     Type = 40
	TypeIndexLookup  Type = 41
	TypeIndexEntries Type = 42
)

// Search limits. MaxMessageSize bounds every message as a whole.
const (
	// MaxIndexPostings is the most postings one IndexAdd may carry.
	MaxIndexPostings = 1024
	// MaxIndexEntry is the largest sealed posting entry, in bytes.
	MaxIndexEntry = 512
	// MaxIndexEntries is the most entries one IndexEntries may carry.
	MaxIndexEntries = 1024
	// MaxIndexCursor is the longest cursor of an IndexLookup, in bytes.
	MaxIndexCursor = 64
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

func (*IndexAdd) Type() Type     { return TypeIndexAdd }
func (*IndexLookup) Type() Type  { return TypeIndexLookup }
func (*IndexEntries) Type() Type { return TypeIndexEntries }

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
	}
	return nil
}
