package tag

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// WindowLength is how long a tag keeps one rotating identifier.
//
// Ten minutes trades three things. A shorter window gives an observer
// fewer sightings under one identifier to follow a person with, but makes
// guardians compute more identifiers per day (144 at ten minutes) and
// makes a tag's clock drift a larger share of a window. A longer window
// lets a bystander follow one identifier across a whole neighbourhood.
// Bluetooth LE's resolvable private addresses rotate every 15 minutes by
// the core specification's recommended default, so ten minutes is in the
// same range as what phones already do.
const WindowLength = 10 * time.Minute

// ClockSkew is how many windows away from the sighting's own window a
// guardian also tries when it resolves an identifier. Cheap tags keep
// time with a crystal of some tens of ppm and are set rarely, so a tag may
// be a window ahead of or behind the relay that heard it.
const ClockSkew = 1

// SecretSize is the length of a tag's secret, in bytes.
const SecretSize = 32

// IDSize is the length of a rotating identifier, in bytes. Eight bytes fit
// a BLE advertisement beside a service UUID and make a collision between
// two tags in one window unlikely: about n²/2⁶⁵ for n tags.
const IDSize = 8

// ErrInvalidSecret reports a secret of the wrong length or encoding.
var ErrInvalidSecret = errors.New("tag: invalid secret")

// Secret is the key a tag shares with its guardians.
type Secret [SecretSize]byte

// ID is a rotating identifier as a tag broadcasts it.
type ID [IDSize]byte

// String returns the identifier in lower-case hex, as sightings carry it.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses an identifier written in hex.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("%w: identifier %q is %d characters; want %d hex digits", ErrInvalidSighting, s, len(s), 2*IDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: identifier %q is not hex", ErrInvalidSighting, s)
	}
	return id, nil
}

// NewSecret returns a secret from the system's random source.
func NewSecret() Secret {
	var s Secret
	rand.Read(s[:]) // crypto/rand.Read never fails since Go 1.24
	return s
}

// ParseSecret parses a secret written in hex.
func ParseSecret(s string) (Secret, error) {
	var sec Secret
	if len(s) != 2*SecretSize {
		return sec, fmt.Errorf("%w: %d characters; want %d hex digits", ErrInvalidSecret, len(s), 2*SecretSize)
	}
	if _, err := hex.Decode(sec[:], []byte(s)); err != nil {
		return sec, fmt.Errorf("%w: not hex", ErrInvalidSecret)
	}
	return sec, nil
}

// String returns the secret in hex, the form a tag is programmed with.
func (s Secret) String() string { return hex.EncodeToString(s[:]) }

// Window returns the number of the window that contains t: whole
// WindowLengths since the Unix epoch.
func Window(t time.Time) int64 {
	return t.Unix() / int64(WindowLength/time.Second)
}

// WindowStart returns when window w begins.
func WindowStart(w int64) time.Time {
	return time.Unix(w*int64(WindowLength/time.Second), 0).UTC()
}

// idLabel separates this use of the secret from any other, so that the
// same secret used elsewhere never yields these identifiers.
const idLabel = "yui tag id v1"

// RotatingID returns the identifier a tag with secret broadcasts during
// window w: the first IDSize bytes of HMAC-SHA256(secret, label ‖ w).
// HMAC-SHA256 is a pseudorandom function, so without the secret the
// identifiers of different windows look like independent random strings.
func RotatingID(secret Secret, w int64) ID {
	mac := hmac.New(sha256.New, secret[:])
	mac.Write([]byte(idLabel))
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(w))
	mac.Write(buf[:])

	var id ID
	copy(id[:], mac.Sum(nil))
	return id
}
