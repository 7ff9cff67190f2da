// Package identity holds a node's Ed25519 key pair and the node ID derived
// from it.
//
// A node ID is the SHA-256 hash of the node's public key, so a peer proves
// its ID by proving that it holds the private key; the transport handshake
// checks exactly that.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// IDLen is the length of a node ID in bytes (256 bits).
const IDLen = 32

// ErrInvalidID reports a node ID that is not 64 hexadecimal digits or 32 bytes.
var ErrInvalidID = errors.New("identity: invalid node ID")

// NodeID names a node in the overlay; it is the SHA-256 hash of the node's
// Ed25519 public key. The zero value names no node.
type NodeID [IDLen]byte

// IDFromPublicKey returns the node ID of the holder of pub.
func IDFromPublicKey(pub ed25519.PublicKey) NodeID {
	return NodeID(sha256.Sum256(pub))
}

// KeyID returns the overlay key for arbitrary bytes, such as a record name;
// it lives in the same 256-bit space as node IDs.
func KeyID(b []byte) NodeID {
	return NodeID(sha256.Sum256(b))
}

// ParseID parses a node ID written as 64 hexadecimal digits.
func ParseID(s string) (NodeID, error) {
	var id NodeID
	if len(s) != 2*IDLen {
		return id, fmt.Errorf("%w %q: want %d hex digits, got %d", ErrInvalidID, s, 2*IDLen, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w %q: %v", ErrInvalidID, s, err)
	}
	return id, nil
}

// IDFromBytes copies a 32-byte slice into a NodeID.
func IDFromBytes(b []byte) (NodeID, error) {
	var id NodeID
	if len(b) != IDLen {
		return id, fmt.Errorf("%w: want %d bytes, got %d", ErrInvalidID, IDLen, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// String returns the ID as 64 hexadecimal digits.
func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hexadecimal digits, for logs.
func (id NodeID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero value.
func (id NodeID) IsZero() bool { return id == NodeID{} }

// MarshalText implements encoding.TextMarshaler so IDs read as hex in JSON.
func (id NodeID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *NodeID) UnmarshalText(b []byte) error {
	parsed, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// Xor returns the Kademlia distance between a and b.
func Xor(a, b NodeID) NodeID {
	var d NodeID
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// CommonPrefixLen returns the number of leading bits a and b share, from 0
// to 256. Kademlia puts a contact into bucket CommonPrefixLen(self, contact).
func CommonPrefixLen(a, b NodeID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return IDLen * 8
}

// CloserTo reports whether a is strictly closer to target than b is, by the
// XOR metric.
func CloserTo(target, a, b NodeID) bool {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			return da < db
		}
	}
	return false
}

// Compare orders IDs as big-endian integers, like bytes.Compare.
func Compare(a, b NodeID) int { return bytes.Compare(a[:], b[:]) }

// MarshalBinary implements encoding.BinaryMarshaler; CBOR encodes IDs
// through it as 32-byte strings.
func (id NodeID) MarshalBinary() ([]byte, error) { return id[:], nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler and rejects any
// length but 32, which a plain byte-array decode would pad or cut silently.
func (id *NodeID) UnmarshalBinary(b []byte) error {
	parsed, err := IDFromBytes(b)
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}
