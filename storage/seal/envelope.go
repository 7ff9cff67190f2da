package seal

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/yuinet/yui/storage/chunk"
)

// Envelope limits.
const (
	// MaxGroups is the most field groups one record version has.
	MaxGroups = 64
	// MaxEnvelopeSize is the limit on an encoded envelope body. One at
	// MaxChunks and MaxGroups encodes to about 290 KB.
	MaxEnvelopeSize = 512 << 10
)

// Envelope is the signed summary of one record version. It carries no
// secret and no plaintext, so storage nodes can verify it, check the
// writer against the namespace's AccessList and check every sealed part
// they hold against it, all without keys.
type Envelope struct {
	_      struct{} `cbor:",toarray"`
	Record RecordID
	// Tombstone marks a deletion: a signed record version with no header,
	// chunks or groups.
	Tombstone bool
	// HeaderHash is the SHA-256 of the sealed header; zero in a tombstone.
	HeaderHash Hash
	// Chunks are the IDs of the value's chunks, in order.
	Chunks []chunk.ID
	// Groups are the hashes of the sealed field groups, sorted by name.
	Groups []GroupHash
	// Writer is the Ed25519 key that signed the envelope; SignEnvelope
	// sets it.
	Writer ed25519.PublicKey
}

// GroupHash is the SHA-256 of one sealed field group.
type GroupHash struct {
	_    struct{} `cbor:",toarray"`
	Name string
	Hash Hash
}

const envelopeDomain = "yui seal v1 envelope"

// NewEnvelope returns the unsigned envelope of a record version from its
// sealed header, its chunk IDs (Header.ChunkIDs) and its sealed groups by
// name.
func NewEnvelope(id RecordID, sealedHeader []byte, chunks []chunk.ID, sealedGroups map[string][]byte) *Envelope {
	e := &Envelope{Record: id, HeaderHash: sha256.Sum256(sealedHeader), Chunks: chunks}
	for name, sealed := range sealedGroups {
		e.Groups = append(e.Groups, GroupHash{Name: name, Hash: sha256.Sum256(sealed)})
	}
	slices.SortFunc(e.Groups, func(a, b GroupHash) int { return strings.Compare(a.Name, b.Name) })
	return e
}

// NewTombstone returns the unsigned envelope that deletes a record as of
// version id.Version.
func NewTombstone(id RecordID) *Envelope {
	return &Envelope{Record: id, Tombstone: true}
}

// Validate checks e's fields against each other and the limits. It does
// not check the signature; VerifyEnvelope does.
func (e *Envelope) Validate() error {
	if err := e.Record.Validate(); err != nil {
		return err
	}
	if !validKey(e.Writer) {
		return fmt.Errorf("%w: envelope of %s: writer key is %d bytes, want %d",
			ErrInvalid, e.Record, len(e.Writer), ed25519.PublicKeySize)
	}
	if e.Tombstone {
		if e.HeaderHash != (Hash{}) || len(e.Chunks) != 0 || len(e.Groups) != 0 {
			return fmt.Errorf("%w: tombstone of %s lists a header, chunks or groups", ErrInvalid, e.Record)
		}
		return nil
	}
	if e.HeaderHash == (Hash{}) {
		return fmt.Errorf("%w: envelope of %s has no header hash", ErrInvalid, e.Record)
	}
	if len(e.Chunks) > MaxChunks {
		return fmt.Errorf("%w: envelope of %s lists %d chunks, limit %d", ErrTooLarge, e.Record, len(e.Chunks), MaxChunks)
	}
	return e.validateGroups()
}

func (e *Envelope) validateGroups() error {
	if len(e.Groups) > MaxGroups {
		return fmt.Errorf("%w: envelope of %s lists %d groups, limit %d", ErrTooLarge, e.Record, len(e.Groups), MaxGroups)
	}
	for i, g := range e.Groups {
		if err := ValidateGroup(g.Name); err != nil {
			return err
		}
		// Sorted and unique, so each group name has exactly one hash.
		if i > 0 && e.Groups[i-1].Name >= g.Name {
			return fmt.Errorf("%w: envelope of %s: groups %q and %q are not in ascending order",
				ErrInvalid, e.Record, e.Groups[i-1].Name, g.Name)
		}
	}
	return nil
}

// SignEnvelope sets e.Writer to u's key, validates e, signs it and returns
// the encoded signed envelope.
func SignEnvelope(u *User, e *Envelope) ([]byte, error) {
	e.Writer = u.SigningKey()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return sign(u, "envelope", envelopeDomain, e)
}

// VerifyEnvelope decodes a signed envelope, checks its signature and
// checks that acl, the access list of the envelope's namespace, lets the
// signer write. Storage nodes call it before accepting a record version.
func VerifyEnvelope(b []byte, acl *AccessList) (*Envelope, error) {
	if acl == nil {
		return nil, fmt.Errorf("%w: no access list to check the envelope against", ErrNotWriter)
	}
	var e Envelope
	s, err := openSigned("envelope", b, MaxEnvelopeSize, &e)
	if err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := verifySignature("envelope of "+e.Record.String(), envelopeDomain, e.Writer, s); err != nil {
		return nil, err
	}

	if e.Record.Namespace != acl.Namespace {
		return nil, fmt.Errorf("%w: envelope of %s checked against the access list of namespace %q",
			ErrNamespaceMismatch, e.Record, acl.Namespace)
	}
	if !acl.MayWrite(e.Writer) {
		return nil, fmt.Errorf("%w: envelope of %s signed by %x, which access list version %d does not name",
			ErrNotWriter, e.Record, []byte(e.Writer), acl.Version)
	}
	return &e, nil
}

// CheckHeader returns an error unless sealed is the header e lists.
func (e *Envelope) CheckHeader(sealed []byte) error {
	if sum := Hash(sha256.Sum256(sealed)); e.Tombstone || sum != e.HeaderHash {
		return fmt.Errorf("%w: header of %s hashes to %s, envelope lists %s", ErrHashMismatch, e.Record, sum, e.HeaderHash)
	}
	return nil
}

// CheckChunks returns an error unless h lists the chunks e lists, in the
// same order. Storage nodes keep and repair the chunks the envelope lists,
// so a reader checks that the header it opened lists no others.
func (e *Envelope) CheckChunks(h *Header) error {
	if len(h.Chunks) != len(e.Chunks) {
		return fmt.Errorf("%w: header of %s lists %d chunks, envelope lists %d",
			ErrHashMismatch, e.Record, len(h.Chunks), len(e.Chunks))
	}
	for i, ref := range h.Chunks {
		if ref.ID != e.Chunks[i] {
			return fmt.Errorf("%w: chunk %d of %s is %s in the header, %s in the envelope",
				ErrHashMismatch, i, e.Record, ref.ID, e.Chunks[i])
		}
	}
	return nil
}

// CheckGroup returns an error unless sealed is the group named name that e
// lists.
func (e *Envelope) CheckGroup(name string, sealed []byte) error {
	i, found := slices.BinarySearchFunc(e.Groups, name, func(g GroupHash, name string) int {
		return strings.Compare(g.Name, name)
	})
	if !found {
		return fmt.Errorf("%w: envelope of %s lists no group %q", ErrHashMismatch, e.Record, name)
	}
	if sum := Hash(sha256.Sum256(sealed)); sum != e.Groups[i].Hash {
		return fmt.Errorf("%w: group %q of %s hashes to %s, envelope lists %s",
			ErrHashMismatch, name, e.Record, sum, e.Groups[i].Hash)
	}
	return nil
}
