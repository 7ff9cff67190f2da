package seal

import (
	"fmt"

	"github.com/yuinet/yui/storage/chunk"
)

// Record limits.
const (
	// MaxChunks is the most chunks one record version lists: 8 GiB at the
	// default 1 MiB chunk size.
	// TODO: larger values need a chunk list that is itself chunked.
	MaxChunks = 8192
	// MaxHeaderSize is the limit on a sealed header. A header at MaxChunks
	// with a MaxKeyLen key encodes to about 610 KB.
	MaxHeaderSize = 1 << 20
	// MaxContentTypeLen is the longest content type, in bytes.
	MaxContentTypeLen = 255
)

// RecordID names one version of one record. Headers and groups are sealed
// with it as additional data, so they open only as the record they were
// sealed for.
type RecordID struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	KeyHash   Hash
	// Version counts from 1; 0 is reserved for a WrapContext that spans
	// versions.
	Version uint64
}

// Validate checks the namespace name and the version.
func (id RecordID) Validate() error {
	if err := ValidateNamespace(id.Namespace); err != nil {
		return err
	}
	if id.Version == 0 {
		return fmt.Errorf("%w: record %s/%s: version 0 is reserved; versions start at 1",
			ErrInvalid, id.Namespace, id.KeyHash)
	}
	return nil
}

// String returns "namespace/keyhash@version" for messages.
func (id RecordID) String() string {
	return fmt.Sprintf("%s/%s@%d", id.Namespace, id.KeyHash, id.Version)
}

// Header is a record version's metadata, encrypted under its DataKey.
type Header struct {
	_           struct{} `cbor:",toarray"`
	Key         string   // the plaintext record key
	ContentType string   // a media type such as "text/csv"; may be empty
	Size        uint64   // value size in bytes: the sum of the chunk sizes
	Chunks      []chunk.Ref
}

// Validate checks h against the limits and checks that Size is the sum of
// the chunk sizes.
func (h *Header) Validate() error {
	if err := ValidateKey(h.Key); err != nil {
		return err
	}
	if len(h.ContentType) > MaxContentTypeLen {
		return fmt.Errorf("%w: content type is %d bytes, limit %d", ErrInvalid, len(h.ContentType), MaxContentTypeLen)
	}
	if len(h.Chunks) > MaxChunks {
		return fmt.Errorf("%w: %d chunks, limit %d", ErrTooLarge, len(h.Chunks), MaxChunks)
	}

	var sum uint64
	for i, ref := range h.Chunks {
		if ref.Size == 0 || ref.Size > chunk.MaxChunkSize {
			return fmt.Errorf("%w: chunk %d (%s) has size %d; want 1 to %d",
				ErrInvalid, i, ref.ID, ref.Size, chunk.MaxChunkSize)
		}
		sum += uint64(ref.Size)
	}
	if sum != h.Size {
		return fmt.Errorf("%w: header size %d differs from the chunk sizes' sum %d", ErrInvalid, h.Size, sum)
	}
	return nil
}

// ChunkIDs returns the IDs of h's chunks in order, for the Envelope.
func (h *Header) ChunkIDs() []chunk.ID {
	ids := make([]chunk.ID, len(h.Chunks))
	for i, ref := range h.Chunks {
		ids[i] = ref.ID
	}
	return ids
}

// headerAAD binds a sealed header to its record.
type headerAAD struct {
	_      struct{} `cbor:",toarray"`
	Domain string
	Record RecordID
}

const headerDomain = "yui seal v1 header"

// SealHeader encrypts h under dk for record id.
func SealHeader(dk DataKey, id RecordID, h *Header) ([]byte, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	plaintext, err := marshal("header", h)
	if err != nil {
		return nil, err
	}
	aad, err := marshal("header additional data", headerAAD{Domain: headerDomain, Record: id})
	if err != nil {
		return nil, err
	}
	sealed := sealAEAD(dk, aad, plaintext)
	if len(sealed) > MaxHeaderSize {
		return nil, fmt.Errorf("%w: sealed header of %s is %d bytes, limit %d", ErrTooLarge, id, len(sealed), MaxHeaderSize)
	}
	return sealed, nil
}

// OpenHeader decrypts a header that SealHeader sealed under dk for record
// id, and validates it. Before trusting the result, check sealed against
// the signed Envelope with Envelope.CheckHeader.
func OpenHeader(dk DataKey, id RecordID, sealed []byte) (*Header, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if len(sealed) > MaxHeaderSize {
		return nil, fmt.Errorf("%w: sealed header of %s is %d bytes, limit %d", ErrTooLarge, id, len(sealed), MaxHeaderSize)
	}
	aad, err := marshal("header additional data", headerAAD{Domain: headerDomain, Record: id})
	if err != nil {
		return nil, err
	}
	plaintext, err := openAEAD(dk, aad, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: header of %s: wrong data key, altered bytes, or a header of another record",
			ErrDecrypt, id)
	}
	return decodeHeader(plaintext)
}

func decodeHeader(b []byte) (*Header, error) {
	var h Header
	if err := unmarshal("header", b, MaxHeaderSize, &h); err != nil {
		return nil, err
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return &h, nil
}
