package message

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// Limits on what a user can send.
const (
	// MaxText is the largest message text in bytes.
	MaxText = 16 << 10
	// MaxTTL is the longest time a message may live before it expires.
	MaxTTL = 30 * 24 * time.Hour
	// DefaultTTL is how long a message lives when its sender sets no
	// expiry.
	DefaultTTL = 7 * 24 * time.Hour
	// receiptTTL is how long a receipt lives on its way back.
	receiptTTL = 7 * 24 * time.Hour
)

// Errors returned by this package; each is wrapped with the value involved.
var (
	// ErrTooLarge reports an input above its size limit.
	ErrTooLarge = errors.New("message: input too large")
	// ErrMalformed reports bytes that do not decode, or that are not the
	// canonical encoding.
	ErrMalformed = errors.New("message: malformed input")
	// ErrInvalid reports a structure whose fields break a rule: bad keys,
	// an expiry before creation or too far ahead.
	ErrInvalid = errors.New("message: invalid structure")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("message: bad signature")
)

// Kind is the type of a signed item.
type Kind uint8

// Kinds of signed items.
const (
	// KindMessage is a text from one user to another, encrypted to the
	// recipient.
	KindMessage Kind = 1
	// KindReceipt is a recipient's signed statement that a message reached
	// its node, on its way back to the message's sender.
	KindReceipt Kind = 2
	// kindLocation is a user's record of the node it is at. It is not an
	// Item: it travels in wire.UserAnnounce, never to a user.
	kindLocation Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindReceipt:
		return "receipt"
	case kindLocation:
		return "location"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// domain is the signing domain of each kind, so that a signature on one
// kind never verifies as another.
func (k Kind) domain() string { return "yui " + k.String() + " v1" }

// ID names one message; its receipt carries the same ID.
type ID [16]byte

// String returns the ID in hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses an ID written as 32 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: message ID %q: want %d hex digits", ErrInvalid, s, 2*len(id))
	}
	copy(id[:], b)
	return id, nil
}

// UserKey returns the overlay key of a user: the nodes closest to it keep
// the user's location record and the items held for the user.
func UserKey(signing ed25519.PublicKey) identity.NodeID {
	return identity.KeyID(append([]byte("yui user\x00"), signing...))
}

// Fingerprint returns a short hex form of a user's signing key for logs
// and errors.
func Fingerprint(signing ed25519.PublicKey) string {
	if len(signing) < 8 {
		return hex.EncodeToString(signing)
	}
	return hex.EncodeToString(signing[:8])
}

// Item is a signed message or receipt as it travels and is stored. The
// fields other than Raw are decoded from it.
type Item struct {
	Kind Kind
	ID   ID
	// From is the signer's key; To is the key of the user the item goes
	// to, whose overlay key routes it.
	From, To ed25519.PublicKey
	// Target is UserKey(To), kept so that routing need not hash again.
	Target  identity.NodeID
	Created time.Time
	Expires time.Time
	// Raw is the canonical signed encoding.
	Raw []byte

	// Message is set for KindMessage and Receipt for KindReceipt.
	Message *Message
	Receipt *Receipt
}

// Key identifies an item among all others: a receipt shares the ID of
// its message but not the kind.
type Key struct {
	Kind Kind
	ID   ID
}

// Key returns the item's key.
func (it *Item) Key() Key { return Key{Kind: it.Kind, ID: it.ID} }

// Message is a text encrypted to its recipient.
type Message struct {
	Sender    seal.PublicKeys
	Recipient seal.PublicKeys
	// Ciphertext is the text, sealed to Recipient.Encryption with the
	// message's header as HPKE info.
	Ciphertext []byte

	header messageHeader
}

// Receipt states that a message reached its recipient's node.
type Receipt struct {
	// Sender is the message's sender, to whom the receipt goes.
	Sender ed25519.PublicKey
	// Recipient is the message's recipient, who signed the receipt.
	Recipient ed25519.PublicKey
	Delivered time.Time
}

// signedItem is the outer encoding of every signed structure: the kind,
// the encoded body and a signature over the kind's domain and the body.
type signedItem struct {
	_         struct{} `cbor:",toarray"`
	Kind      Kind
	Body      []byte
	Signature []byte
}

type messageHeader struct {
	_         struct{} `cbor:",toarray"`
	ID        ID
	Sender    seal.PublicKeys
	Recipient seal.PublicKeys
	Created   int64 // Unix milliseconds
	Expires   int64 // Unix milliseconds
}

type messageBody struct {
	_          struct{} `cbor:",toarray"`
	Header     messageHeader
	Ciphertext []byte
}

type receiptBody struct {
	_         struct{} `cbor:",toarray"`
	ID        ID
	Sender    ed25519.PublicKey
	Recipient ed25519.PublicKey
	Delivered int64 // Unix milliseconds
	Expires   int64 // Unix milliseconds
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	// Deterministic encoding gives each structure one encoding, which
	// Decode insists on, so equal items are equal bytes.
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   6,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

func marshal(what string, v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("message: encode %s: %w", what, err)
	}
	return b, nil
}

// unmarshal decodes b into v after checking it against limit, and
// rejects any encoding but the canonical one.
func unmarshal(what string, b []byte, limit int, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, what, len(b), limit)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	again, err := encMode.Marshal(v)
	if err != nil || !bytes.Equal(again, b) {
		return fmt.Errorf("%w: %s is not in canonical CBOR", ErrMalformed, what)
	}
	return nil
}

// signItem encodes body, signs it with u's key under kind's domain and
// returns the signed encoding.
func signItem(u *seal.User, kind Kind, body any) ([]byte, error) {
	b, err := marshal(kind.String(), body)
	if err != nil {
		return nil, err
	}
	sig := u.Sign(kind.domain(), b)
	return marshal("signed "+kind.String(), signedItem{Kind: kind, Body: b, Signature: sig})
}

// openItem decodes the outer encoding of a signed item of at most limit
// bytes.
func openItem(raw []byte, limit int) (signedItem, error) {
	var s signedItem
	if err := unmarshal("signed item", raw, limit, &s); err != nil {
		return signedItem{}, err
	}
	return s, nil
}

func verify(s signedItem, signer ed25519.PublicKey) error {
	if err := seal.Verify(s.Kind.domain(), signer, s.Body, s.Signature); err != nil {
		return fmt.Errorf("%w: %s signed by user %s: %v", ErrBadSignature, s.Kind, Fingerprint(signer), err)
	}
	return nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// checkLifetime checks that an item expires after it was created and
// within MaxTTL of it.
func checkLifetime(created, expires int64) error {
	if expires <= created {
		return fmt.Errorf("%w: expires at %d ms, not after creation at %d ms", ErrInvalid, expires, created)
	}
	if expires-created > MaxTTL.Milliseconds() {
		return fmt.Errorf("%w: lives %v, limit %v", ErrInvalid,
			time.Duration(expires-created)*time.Millisecond, MaxTTL)
	}
	return nil
}

// Decode reads a signed message or receipt of at most
// wire.MaxMsgItemSize bytes and verifies its signature.
func Decode(raw []byte) (*Item, error) {
	s, err := openItem(raw, wire.MaxMsgItemSize)
	if err != nil {
		return nil, err
	}
	var it *Item
	switch s.Kind {
	case KindMessage:
		it, err = decodeMessage(s)
	case KindReceipt:
		it, err = decodeReceipt(s)
	default:
		return nil, fmt.Errorf("%w: item kind %d; want a message or a receipt", ErrMalformed, s.Kind)
	}
	if err != nil {
		return nil, err
	}
	if err := verify(s, it.From); err != nil {
		return nil, err
	}
	it.Target = UserKey(it.To)
	it.Raw = raw
	return it, nil
}
