package message

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// Location is a user's signed statement that it can be reached at a node
// until Expires. The nodes closest to the user's UserKey keep the newest
// one they were given.
type Location struct {
	User    ed25519.PublicKey
	Node    wire.Contact
	Issued  time.Time
	Expires time.Time
	// Raw is the canonical signed encoding.
	Raw []byte
}

type locationBody struct {
	_       struct{} `cbor:",toarray"`
	User    ed25519.PublicKey
	Node    wire.Contact
	Issued  int64 // Unix milliseconds
	Expires int64 // Unix milliseconds
}

// maxLocationTTL bounds a location record's life: a node that goes away
// keeps being named for at most this long.
const maxLocationTTL = time.Hour

// NewLocation signs, as u, that u is at node from issued until expires.
func NewLocation(u *seal.User, node wire.Contact, issued, expires time.Time) (*Location, error) {
	if err := node.Validate(); err != nil {
		return nil, fmt.Errorf("%w: location node: %v", ErrInvalid, err)
	}
	b := locationBody{User: u.SigningKey(), Node: node, Issued: millis(issued), Expires: millis(expires)}
	if err := checkLocationLifetime(b); err != nil {
		return nil, err
	}
	raw, err := signItem(u, kindLocation, b)
	if err != nil {
		return nil, err
	}
	return DecodeLocation(raw)
}

// DecodeLocation reads a signed location record of at most
// wire.MaxLocationSize bytes and verifies its signature.
func DecodeLocation(raw []byte) (*Location, error) {
	s, err := openItem(raw, wire.MaxLocationSize)
	if err != nil {
		return nil, err
	}
	if s.Kind != kindLocation {
		return nil, fmt.Errorf("%w: item kind %d; want a location", ErrMalformed, s.Kind)
	}
	var b locationBody
	if err := unmarshal("location", s.Body, wire.MaxLocationSize, &b); err != nil {
		return nil, err
	}
	if !validKey(b.User) {
		return nil, fmt.Errorf("%w: location user key is %d bytes, want %d", ErrInvalid, len(b.User), ed25519.PublicKeySize)
	}
	if err := b.Node.Validate(); err != nil {
		return nil, fmt.Errorf("%w: location node: %v", ErrInvalid, err)
	}
	if err := checkLocationLifetime(b); err != nil {
		return nil, err
	}
	if err := verify(s, b.User); err != nil {
		return nil, err
	}
	return &Location{User: b.User, Node: b.Node, Issued: fromMillis(b.Issued), Expires: fromMillis(b.Expires), Raw: raw}, nil
}

func checkLocationLifetime(b locationBody) error {
	if b.Expires <= b.Issued || b.Expires-b.Issued > maxLocationTTL.Milliseconds() {
		return fmt.Errorf("%w: location lives %v; want more than 0 and at most %v", ErrInvalid,
			time.Duration(b.Expires-b.Issued)*time.Millisecond, maxLocationTTL)
	}
	return nil
}

// Key returns the overlay key the record is kept under.
func (l *Location) Key() identity.NodeID { return UserKey(l.User) }

func validKey(k ed25519.PublicKey) bool { return len(k) == ed25519.PublicKeySize }
