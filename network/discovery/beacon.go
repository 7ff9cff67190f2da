package discovery

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/yuinet/yui/network/identity"
)

// BeaconVersion is the beacon format this node sends and accepts.
const BeaconVersion = 1

// Limits on a beacon. MaxBeaconSize keeps a beacon inside one UDP datagram
// that needs no fragmentation on any link that carries IPv6 (minimum MTU
// 1280 bytes, less 40 bytes of IPv6 and 8 of UDP header).
const (
	MaxBeaconSize    = 1200
	MaxNetworkName   = 64
	MaxListenAddrs   = 16
	PublicKeySize    = ed25519.PublicKeySize
	signatureSize    = ed25519.SignatureSize
	maxArrayElements = 64
)

// MaxClockSkew is how far a beacon's timestamp may lie before or after the
// receiver's clock. A beacon travels one LAN hop in milliseconds, so the
// allowance covers clock differences between nodes, not transit time.
// Nodes whose clocks differ by more never discover each other; see
// Config.MaxClockSkew.
const MaxClockSkew = 5 * time.Minute

// signingContext is prepended to the encoded payload before signing, so a
// beacon signature cannot be replayed as a signature over any other message
// signed with the node key.
const signingContext = "yui discovery beacon v1\x00"

// Errors returned by DecodeBeacon; each is wrapped with details.
var (
	ErrTooLarge     = errors.New("discovery: beacon too large")
	ErrMalformed    = errors.New("discovery: malformed beacon")
	ErrVersion      = errors.New("discovery: unsupported beacon version")
	ErrInvalid      = errors.New("discovery: invalid beacon")
	ErrIDMismatch   = errors.New("discovery: node ID does not match public key")
	ErrBadSignature = errors.New("discovery: bad beacon signature")
	ErrTimestamp    = errors.New("discovery: beacon timestamp out of range")
	ErrOtherNetwork = errors.New("discovery: beacon from another network")
)

// OtherNetworkError reports a valid, signed beacon of a node in another
// network. It matches ErrOtherNetwork with errors.Is.
type OtherNetworkError struct {
	Network string
	ID      identity.NodeID
}

func (e *OtherNetworkError) Error() string {
	return fmt.Sprintf("%v: node %s is in network %q", ErrOtherNetwork, e.ID.Short(), e.Network)
}

// Is makes errors.Is(err, ErrOtherNetwork) true.
func (e *OtherNetworkError) Is(target error) bool { return target == ErrOtherNetwork }

// TimestampError reports a valid, signed beacon whose timestamp lies
// too far from the receiver's clock. It matches ErrTimestamp with
// errors.Is.
type TimestampError struct {
	ID   identity.NodeID
	Sent time.Time
	// Skew is Sent minus the receiver's clock: negative when the sender's
	// clock is behind.
	Skew  time.Duration
	Limit time.Duration
}

func (e *TimestampError) Error() string {
	return fmt.Sprintf("%v: node %s sent it at %s, %v from this node's clock, limit ±%v; check the clocks of both nodes",
		ErrTimestamp, e.ID.Short(), e.Sent.UTC().Format(time.RFC3339Nano), e.Skew.Round(time.Millisecond), e.Limit)
}

// Is makes errors.Is(err, ErrTimestamp) true.
func (e *TimestampError) Is(target error) bool { return target == ErrTimestamp }

// Beacon announces a node on the LAN.
type Beacon struct {
	// Network is the name of the overlay the node belongs to; nodes accept
	// only beacons of their own network.
	Network string `cbor:"1,keyasint"`
	// ID is the node ID, the SHA-256 hash of PublicKey.
	ID identity.NodeID `cbor:"2,keyasint"`
	// PublicKey is the node's Ed25519 public key.
	PublicKey ed25519.PublicKey `cbor:"3,keyasint"`
	// ListenPort is the UDP port of the node's QUIC transport.
	ListenPort uint16 `cbor:"4,keyasint"`
	// ListenAddrs lists the node's unicast addresses on the links it sends
	// beacons on, at most MaxListenAddrs. IPv6 link-local addresses are
	// left out because they mean nothing without a zone. The Discoverer
	// reports only the beacon's source address; the list is for callers
	// that want the others.
	ListenAddrs []netip.Addr `cbor:"5,keyasint,omitempty"`
	// Timestamp is the sender's clock when it sent the beacon, in
	// milliseconds since the Unix epoch.
	Timestamp int64 `cbor:"6,keyasint"`
	// Seq is higher in every beacon the sender sends. The Discoverer
	// starts it at its start time in microseconds, so that it keeps rising
	// across restarts unless the clock goes back.
	Seq uint64 `cbor:"7,keyasint"`
	// ReplyRequested requests that receivers who reply to the beacon also
	// broadcast their reply. A node sets it when it joins a link.
	ReplyRequested bool `cbor:"8,keyasint,omitempty"`
}

// envelope is the datagram: the format version, the CBOR-encoded Beacon and
// the Ed25519 signature over signingContext followed by Payload. Signing
// the payload bytes as received avoids any need for canonical re-encoding.
type envelope struct {
	_         struct{} `cbor:",toarray"`
	Version   uint16
	Payload   []byte
	Signature []byte
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   4,
		MaxArrayElements:  maxArrayElements,
		MaxMapPairs:       16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// EncodeBeacon checks b and returns it signed with key as one datagram.
// The key must belong to b.PublicKey, or receivers reject the beacon.
func EncodeBeacon(b *Beacon, key ed25519.PrivateKey) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("discovery: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	data, err := sign(b, key)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBeaconSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d; advertise fewer addresses or a shorter network name",
			ErrTooLarge, len(data), MaxBeaconSize)
	}
	return data, nil
}

// sign encodes and signs b without checking it, so tests can build
// beacons that break the rules.
func sign(b *Beacon, key ed25519.PrivateKey) ([]byte, error) {
	payload, err := encMode.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("discovery: encode beacon: %w", err)
	}
	sig := ed25519.Sign(key, signedMessage(payload))
	data, err := encMode.Marshal(envelope{Version: BeaconVersion, Payload: payload, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("discovery: encode beacon envelope: %w", err)
	}
	return data, nil
}

func signedMessage(payload []byte) []byte {
	msg := make([]byte, 0, len(signingContext)+len(payload))
	msg = append(msg, signingContext...)
	return append(msg, payload...)
}

// DecodeBeacon parses one datagram and verifies it: size and field limits,
// that the ID is the hash of the public key, the signature, a timestamp
// within MaxClockSkew of now, and finally the network name. A valid beacon
// of another network returns an *OtherNetworkError, so the caller learns
// that a genuine node of that network is near. A valid beacon with a
// timestamp out of range returns a *TimestampError.
func DecodeBeacon(data []byte, network string, now time.Time) (*Beacon, error) {
	return decodeBeacon(data, network, now, MaxClockSkew)
}

// decodeBeacon is DecodeBeacon with a chosen clock skew allowance; a
// negative skew turns the timestamp check off.
func decodeBeacon(data []byte, network string, now time.Time, skew time.Duration) (*Beacon, error) {
	b, err := parse(data)
	if err != nil {
		return nil, err
	}
	if skew >= 0 {
		if err := checkTimestamp(b, now, skew); err != nil {
			return nil, err
		}
	}
	if b.Network != network {
		return nil, &OtherNetworkError{Network: b.Network, ID: b.ID}
	}
	return b, nil
}

// parse decodes data and checks everything that does not depend on the
// receiver: limits, the ID and the signature. The cheap checks come first
// so that garbage costs no signature verification.
func parse(data []byte) (*Beacon, error) {
	if len(data) > MaxBeaconSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxBeaconSize)
	}
	var env envelope
	if err := decMode.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Version != BeaconVersion {
		return nil, fmt.Errorf("%w %d: this node speaks version %d", ErrVersion, env.Version, BeaconVersion)
	}
	if len(env.Signature) != signatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(env.Signature), signatureSize)
	}

	b := new(Beacon)
	if err := decMode.Unmarshal(env.Payload, b); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if err := b.checkFields(); err != nil {
		return nil, fmt.Errorf("%w: node %s: %v", ErrInvalid, b.ID.Short(), err)
	}
	if got := identity.IDFromPublicKey(b.PublicKey); got != b.ID {
		return nil, fmt.Errorf("%w: beacon claims %s, key hashes to %s", ErrIDMismatch, b.ID.Short(), got.Short())
	}
	if !ed25519.Verify(b.PublicKey, signedMessage(env.Payload), env.Signature) {
		return nil, fmt.Errorf("%w: node %s", ErrBadSignature, b.ID.Short())
	}
	return b, nil
}

func checkTimestamp(b *Beacon, now time.Time, limit time.Duration) error {
	sent := time.UnixMilli(b.Timestamp)
	if skew := sent.Sub(now); skew > limit || skew < -limit {
		return &TimestampError{ID: b.ID, Sent: sent, Skew: skew, Limit: limit}
	}
	return nil
}

// Validate checks the fields of b, including that ID is the hash of
// PublicKey. It does not check the timestamp, which depends on the
// receiver's clock.
func (b *Beacon) Validate() error {
	if err := b.checkFields(); err != nil {
		return err
	}
	if identity.IDFromPublicKey(b.PublicKey) != b.ID {
		return fmt.Errorf("node ID %s is not the hash of the public key", b.ID.Short())
	}
	return nil
}

func (b *Beacon) checkFields() error {
	if err := checkNetworkName(b.Network); err != nil {
		return err
	}
	if len(b.PublicKey) != PublicKeySize {
		return fmt.Errorf("public key is %d bytes, want %d", len(b.PublicKey), PublicKeySize)
	}
	if b.ListenPort == 0 {
		return errors.New("listen port is 0")
	}
	if len(b.ListenAddrs) > MaxListenAddrs {
		return fmt.Errorf("%d listen addresses, limit %d", len(b.ListenAddrs), MaxListenAddrs)
	}
	for i, a := range b.ListenAddrs {
		if err := checkListenAddr(a); err != nil {
			return fmt.Errorf("listen address %d: %v", i, err)
		}
	}
	return nil
}

// checkNetworkName accepts 1 to MaxNetworkName bytes of valid UTF-8.
func checkNetworkName(name string) error {
	if name == "" {
		return errors.New("network name is empty")
	}
	if len(name) > MaxNetworkName {
		return fmt.Errorf("network name is %d bytes, limit %d", len(name), MaxNetworkName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("network name %q is not valid UTF-8", name)
	}
	return nil
}

func checkListenAddr(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("missing address")
	case a.Zone() != "":
		return fmt.Errorf("%s has a zone, which means nothing to other hosts", a)
	case a.IsUnspecified(), a.IsMulticast():
		return fmt.Errorf("%s is not a unicast address", a)
	}
	return nil
}
