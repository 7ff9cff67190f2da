package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/erasure"
	"github.com/yuinet/yui/storage/seal"
)

// NamespaceParams are the parameters every writer of a namespace uses.
// They are fixed when the namespace is created.
type NamespaceParams struct {
	_ struct{} `cbor:",toarray"`
	// Chunking cuts values into chunks. Every writer must use the same
	// chunker for chunks to deduplicate.
	Chunking chunk.Params
	// Data and Parity are the nominal erasure code of chunks; writers
	// scale it down when fewer holders are reachable (ScaledParams).
	Data, Parity uint16
	// Replicas is R, the number of directory holders of each record
	// version and of the descriptor.
	Replicas uint16
	// DirBits is the number of key-hash bits that pick a record's
	// directory shard; 0 keeps the whole directory in one shard.
	DirBits uint8
	// Placement is where chunks go: on the closest holders of the whole
	// network (PlaceGlobal, the zero value) or on the holders of the
	// writer's geographic cluster (PlaceCluster). See cluster.go. A
	// descriptor without it encodes as before, so its signature and its
	// readers are unchanged.
	Placement Placement
}

// DefaultNamespaceParams are the parameters of a namespace created without
// options: fixed 1 MiB chunks, 31+17 coding and 17 directory replicas,
// which together survive any 16 of 48 holders failing (docs/redundancy.md).
func DefaultNamespaceParams() NamespaceParams {
	return NamespaceParams{
		Chunking: chunk.DefaultParams(chunk.Fixed),
		Data:     uint16(erasure.DefaultParams.Data),
		Parity:   uint16(erasure.DefaultParams.Parity),
		Replicas: 17,
	}
}

// maxDirBits bounds DirBits: 2^12 directory shards are far more than any
// namespace needs, and each shard costs a lookup in List.
const maxDirBits = 12

// Validate checks the parameters against the limits of the code and the
// chunker.
func (p NamespaceParams) Validate() error {
	if err := p.Chunking.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := p.Code().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	maxChunk := p.Chunking.Size
	if p.Chunking.Kind == chunk.CDC {
		maxChunk = p.Chunking.Max
	}
	if maxChunk+chunk.Overhead > p.Code().MaxChunkSize() {
		return fmt.Errorf("%w: chunks of up to %d bytes do not fit code %v; use more data shards or smaller chunks",
			ErrInvalid, maxChunk, p.Code())
	}
	if p.Replicas == 0 || p.Replicas > wire.MaxContacts {
		return fmt.Errorf("%w: %d directory replicas; use 1 to %d", ErrInvalid, p.Replicas, wire.MaxContacts)
	}
	if p.DirBits > maxDirBits {
		return fmt.Errorf("%w: DirBits is %d, limit %d", ErrInvalid, p.DirBits, maxDirBits)
	}
	if p.Placement > PlaceCluster {
		return fmt.Errorf("%w: placement %d is unknown; use global or cluster", ErrInvalid, p.Placement)
	}
	return nil
}

// Code returns the nominal erasure code.
func (p NamespaceParams) Code() erasure.Params {
	return erasure.Params{Data: int(p.Data), Parity: int(p.Parity)}
}

// Member is an owner or writer of a namespace, or a reader given read
// access: its public keys and a secret wrapped to it.
type Member struct {
	_ struct{} `cbor:",toarray"`
	// Keys is the encoding of the member's seal.PublicKeys.
	Keys []byte
	// Secret is the namespace master secret wrapped to the member, for
	// owners and writers. Readers get the key-hashing key instead, so they
	// can find records by name but cannot write or derive other keys.
	Secret []byte
}

// FormerWriter is a writer whose access was revoked. Record versions it
// signed before Until stay valid; later ones are rejected.
type FormerWriter struct {
	_     struct{} `cbor:",toarray"`
	Key   []byte
	Until uint64
}

// descriptorBody is the content an owner signs for each version of a
// namespace.
type descriptorBody struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	// AccessList is the signed seal.AccessList; its version is the
	// descriptor's version.
	AccessList []byte
	Params     NamespaceParams
	Members    []Member
	Readers    []Member
	Former     []FormerWriter
	// Grants is the list of read grants, sealed under the namespace's
	// metadata key so that only owners and writers learn key names.
	Grants []byte
}

// signedDescriptor is the wire and disk form of a descriptor.
//
// seal signs only envelopes and access lists, so an owner signs the body
// with an envelope for the reserved record ID (namespace,
// descriptorScope, access list version) whose header hash is the body's
// SHA-256. Holders reject record versions under descriptorScope, so such
// an envelope can never pass for a record, and a descriptor's envelope
// must be signed by an owner, so a writer cannot forge one.
type signedDescriptor struct {
	_        struct{} `cbor:",toarray"`
	Body     []byte
	Envelope []byte
}

// descriptorScope is the reserved key hash of descriptor envelopes. Record
// key hashes are HMAC outputs, which equal it with negligible probability.
var descriptorScope = seal.Hash(sha256.Sum256([]byte("yui/store/descriptor")))

// masterRole is the WrapContext role of a namespace master secret wrapped
// to a member, and keyHashRole that of a key-hashing key wrapped to a
// reader.
const (
	masterRole  = "namespace"
	keyHashRole = "key-hashing"
)

// maxReaders bounds the read grantees of one namespace.
const maxReaders = seal.MaxMembers

// Descriptor is a verified namespace descriptor.
type Descriptor struct {
	raw  []byte
	body descriptorBody
	acl  *seal.AccessList
}

// Namespace returns the namespace's name.
func (d *Descriptor) Namespace() string { return d.body.Namespace }

// Version returns the access list version, which rises with every change.
func (d *Descriptor) Version() uint64 { return d.acl.Version }

// Params returns the namespace's parameters.
func (d *Descriptor) Params() NamespaceParams { return d.body.Params }

// AccessList returns the namespace's verified access list.
func (d *Descriptor) AccessList() *seal.AccessList { return d.acl }

// Bytes returns the signed encoding, as PutNamespace carries it.
func (d *Descriptor) Bytes() []byte { return d.raw }

// ParseDescriptor decodes and verifies a signed descriptor. With current
// nil, the descriptor is trusted on first use: its access list must be
// signed by one of the owners it names.
//
// NOTE: trust on first use means the first descriptor a holder or gateway
// sees for a name decides who owns it. Whoever creates a namespace first
// owns it, and a holder that never saw the real descriptor can be offered
// a forged one with a different owner. Readers still verify every record
// against the descriptor they hold, so a forged one cannot make them
// accept records the owner did not allow, only hide the real ones.
//
// With current set, the descriptor must be current itself or a later
// version signed by one of current's owners (seal.AccessList.VerifyUpdate).
func ParseDescriptor(raw []byte, current *Descriptor) (*Descriptor, error) {
	if current != nil && bytes.Equal(raw, current.raw) {
		return current, nil
	}
	d := &Descriptor{raw: raw}
	var s signedDescriptor
	if err := unmarshal("descriptor", raw, wire.MaxBlob, &s); err != nil {
		return nil, err
	}
	if err := unmarshal("descriptor body", s.Body, wire.MaxBlob, &d.body); err != nil {
		return nil, err
	}
	if err := d.checkBody(); err != nil {
		return nil, err
	}
	if err := d.verifyAccessList(current); err != nil {
		return nil, err
	}
	if err := d.verifyEnvelope(s); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Descriptor) checkBody() error {
	b := &d.body
	if err := seal.ValidateNamespace(b.Namespace); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := b.Params.Validate(); err != nil {
		return err
	}
	if len(b.Members) > 2*seal.MaxMembers || len(b.Readers) > maxReaders || len(b.Former) > seal.MaxMembers {
		return fmt.Errorf("%w: descriptor of %q lists %d members, %d readers and %d former writers, limits %d, %d and %d",
			ErrInvalid, b.Namespace, len(b.Members), len(b.Readers), len(b.Former),
			2*seal.MaxMembers, maxReaders, seal.MaxMembers)
	}
	return nil
}

func (d *Descriptor) verifyAccessList(current *Descriptor) error {
	var err error
	if current == nil {
		d.acl, err = seal.VerifyAccessList(d.body.AccessList, d.ownerKeys()...)
		if err == nil && !d.acl.IsOwner(d.acl.Signer) {
			err = fmt.Errorf("%w: first access list of %q is signed by a key it does not list as owner",
				seal.ErrNotOwner, d.body.Namespace)
		}
	} else {
		d.acl, err = current.acl.VerifyUpdate(d.body.AccessList)
	}
	if err != nil {
		return fmt.Errorf("%w: namespace %q: %w", ErrForbidden, d.body.Namespace, err)
	}
	if d.acl.Namespace != d.body.Namespace {
		return fmt.Errorf("%w: descriptor of %q carries the access list of %q", ErrInvalid, d.body.Namespace, d.acl.Namespace)
	}
	return nil
}

// ownerKeys returns the signing keys of all members. They are the keys
// trusted to sign a namespace's first access list.
func (d *Descriptor) ownerKeys() []ed25519.PublicKey {
	var keys []ed25519.PublicKey
	for _, m := range d.body.Members {
		if pk, err := seal.ParsePublicKeys(m.Keys); err == nil {
			keys = append(keys, pk.Signing)
		}
	}
	return keys
}

func (d *Descriptor) verifyEnvelope(s signedDescriptor) error {
	env, err := seal.VerifyEnvelope(s.Envelope, d.acl)
	if err != nil {
		return fmt.Errorf("%w: descriptor of %q: %w", ErrForbidden, d.body.Namespace, err)
	}
	want := seal.RecordID{Namespace: d.body.Namespace, KeyHash: descriptorScope, Version: d.acl.Version}
	if env.Record != want || env.Tombstone {
		return fmt.Errorf("%w: descriptor of %q is signed for %s, want %s", ErrInvalid, d.body.Namespace, env.Record, want)
	}
	if !d.acl.IsOwner(env.Writer) {
		return fmt.Errorf("%w: descriptor of %q is signed by %x, which is not an owner", ErrForbidden, d.body.Namespace, []byte(env.Writer))
	}
	if err := env.CheckHeader(s.Body); err != nil {
		return fmt.Errorf("%w: descriptor of %q: %w", ErrInvalid, d.body.Namespace, err)
	}
	return nil
}

// signDescriptor signs body with owner's key. body.AccessList must already
// be signed by owner.
func signDescriptor(owner *seal.User, body *descriptorBody, version uint64) ([]byte, error) {
	encoded, err := marshal("descriptor body", body)
	if err != nil {
		return nil, err
	}
	id := seal.RecordID{Namespace: body.Namespace, KeyHash: descriptorScope, Version: version}
	env, err := seal.SignEnvelope(owner, seal.NewEnvelope(id, encoded, nil, nil))
	if err != nil {
		return nil, err
	}
	return marshal("descriptor", signedDescriptor{Body: encoded, Envelope: env})
}

// findMember returns the member or reader entry of the user whose public
// keys encode to keys.
func findMember(list []Member, keys []byte) (Member, bool) {
	for _, m := range list {
		if bytes.Equal(m.Keys, keys) {
			return m, true
		}
	}
	return Member{}, false
}

// formerUntil returns the Until of a revoked writer's key, if listed.
func (d *Descriptor) formerUntil(key ed25519.PublicKey) (uint64, bool) {
	for _, f := range d.body.Former {
		if bytes.Equal(f.Key, key) {
			return f.Until, true
		}
	}
	return 0, false
}

// VerifyRecord checks a signed envelope against the descriptor: the
// signature, and that the signer may write, either now or, for a revoked
// writer, at the record's version.
func (d *Descriptor) VerifyRecord(envelope []byte) (*seal.Envelope, error) {
	env, err := seal.VerifyEnvelope(envelope, d.acl)
	if errors.Is(err, seal.ErrNotWriter) && len(d.body.Former) > 0 {
		env, err = d.verifyFormer(envelope)
	}
	if err != nil {
		return nil, err
	}
	if env.Record.KeyHash == descriptorScope {
		return nil, fmt.Errorf("%w: record key hash %s is reserved for descriptors", ErrInvalid, env.Record.KeyHash)
	}
	return env, nil
}

func (d *Descriptor) verifyFormer(envelope []byte) (*seal.Envelope, error) {
	former := &seal.AccessList{Namespace: d.acl.Namespace, Version: d.acl.Version}
	for _, f := range d.body.Former {
		former.Writers = append(former.Writers, f.Key)
	}
	env, err := seal.VerifyEnvelope(envelope, former)
	if err != nil {
		return nil, err
	}
	until, _ := d.formerUntil(env.Writer)
	if env.Record.Version >= until {
		return nil, fmt.Errorf("%w: %s is signed by %x, whose write access ended at version %d",
			seal.ErrNotWriter, env.Record, []byte(env.Writer), until)
	}
	return env, nil
}

// readGrant is one read grant: the reader may read every record whose key
// equals Scope, or starts with it when Prefix is set.
type readGrant struct {
	_      struct{} `cbor:",toarray"`
	Reader []byte   // seal.PublicKeys encoding
	Scope  string
	Prefix bool
}

func (g readGrant) covers(key string) bool {
	if g.Prefix {
		return len(key) >= len(g.Scope) && key[:len(g.Scope)] == g.Scope
	}
	return key == g.Scope
}

// maxGrants bounds the read grants of one namespace.
const maxGrants = 4096

// sealGrants encrypts grants under the namespace's metadata key with
// AES-256-GCM, bound to the namespace name.
func sealGrants(ks *seal.KeySet, grants []readGrant) ([]byte, error) {
	plaintext, err := marshal("read grants", grants)
	if err != nil {
		return nil, err
	}
	aead := metadataAEAD(ks)
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	rand.Read(out) // never returns an error; it crashes the program if the OS fails
	return aead.Seal(out, out, plaintext, []byte("yui/store/grants\x00"+ks.Namespace)), nil
}

func openGrants(ks *seal.KeySet, sealed []byte) ([]readGrant, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	aead := metadataAEAD(ks)
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed grants of %q are %d bytes", ErrCorrupt, ks.Namespace, len(sealed))
	}
	n := aead.NonceSize()
	plaintext, err := aead.Open(nil, sealed[:n], sealed[n:], []byte("yui/store/grants\x00"+ks.Namespace))
	if err != nil {
		return nil, fmt.Errorf("%w: read grants of %q do not open with the namespace key", ErrCorrupt, ks.Namespace)
	}
	var grants []readGrant
	if err := unmarshal("read grants", plaintext, wire.MaxBlob, &grants); err != nil {
		return nil, err
	}
	return grants, nil
}

func metadataAEAD(ks *seal.KeySet) cipher.AEAD {
	block, err := aes.NewCipher(ks.Metadata[:])
	if err != nil {
		panic("store: aes.NewCipher with a 32-byte key: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("store: cipher.NewGCM: " + err.Error())
	}
	return aead
}
