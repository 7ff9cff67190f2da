package alert

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yuinet/yui/network/wire"
)

// signContext separates alert signatures from every other signature made
// with an Ed25519 key: a signature over other data never verifies here.
const signContext = "yui alert v1\x00"

// ID names one signed alert: the SHA-256 hash of its encoding. Because
// Decode accepts only the canonical encoding and Ed25519 signatures are
// not malleable, one alert has exactly one ID.
type ID [32]byte

// Short returns the ID's first 8 bytes, as alert summaries list it.
func (id ID) Short() wire.AlertShortID { return wire.AlertShortID(id[:8]) }

// String returns the first 8 bytes of the ID in hex.
func (id ID) String() string { return fmt.Sprintf("%x", id[:8]) }

// Signed is an alert with its signature, as it travels and is stored.
type Signed struct {
	Alert
	// Raw is the canonical encoding, which Decode and Sign produce.
	Raw []byte
	// ID is the hash of Raw.
	ID ID

	body      []byte
	signature []byte
}

// body is the signed part of an alert on the wire.
type body struct {
	Authority string `cbor:"1,keyasint"`
	KeyID     KeyID  `cbor:"2,keyasint"`
	Sequence  uint64 `cbor:"3,keyasint"`
	Level     Level  `cbor:"4,keyasint"`
	Area      *Area  `cbor:"5,keyasint,omitempty"`
	Issued    int64  `cbor:"6,keyasint"` // Unix milliseconds
	Expires   int64  `cbor:"7,keyasint"` // Unix milliseconds
	Text      string `cbor:"8,keyasint"`
}

// envelope pairs the encoded body with its signature.
type envelope struct {
	_         struct{} `cbor:",toarray"`
	Body      []byte
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
		MaxNestedLevels:   8,
		MaxArrayElements:  2 * MaxPolygon,
		MaxMapPairs:       16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Sign validates a, encodes it and signs it with s. It fills in a's
// Authority and KeyID from s.
func Sign(a Alert, s Signer) (*Signed, error) {
	auth := s.Authority()
	a.Authority = auth.Name
	a.KeyID = auth.KeyID()
	if err := a.Validate(); err != nil {
		return nil, err
	}

	b, err := encMode.Marshal(toBody(&a))
	if err != nil {
		return nil, fmt.Errorf("alert: encode alert of %q: %w", a.Authority, err)
	}
	sig := signWith(s, b)
	raw, err := encMode.Marshal(envelope{Body: b, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("alert: encode signed alert of %q: %w", a.Authority, err)
	}
	if len(raw) > wire.MaxAlertSize {
		return nil, fmt.Errorf("%w: signed alert is %d bytes, limit %d: shorten the text or area",
			ErrInvalid, len(raw), wire.MaxAlertSize)
	}
	return Decode(raw)
}

// Decode parses a signed alert and checks its fields, but not its
// signature: call Verify for that. It accepts only the canonical encoding,
// the one Sign produces.
func Decode(raw []byte) (*Signed, error) {
	if len(raw) > wire.MaxAlertSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(raw), wire.MaxAlertSize)
	}
	var env envelope
	if err := decMode.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var b body
	if err := decMode.Unmarshal(env.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}

	// Re-encoding settles every choice CBOR leaves open (integer and
	// float widths, map order), so one alert has exactly one encoding and
	// so one ID.
	again, err := encMode.Marshal(b)
	if err != nil || !bytes.Equal(again, env.Body) {
		return nil, fmt.Errorf("%w: body is not in canonical form", ErrMalformed)
	}
	again, err = encMode.Marshal(env)
	if err != nil || !bytes.Equal(again, raw) {
		return nil, fmt.Errorf("%w: envelope is not in canonical form", ErrMalformed)
	}

	s := &Signed{Alert: fromBody(&b), Raw: raw, ID: sha256.Sum256(raw), body: env.Body, signature: env.Signature}
	if err := s.Alert.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Verify checks that s is signed by the authority it names and that the
// authority is in auths under that name.
func (s *Signed) Verify(auths Authorities) error {
	if len(s.signature) == 0 {
		return fmt.Errorf("%w: alert %s of %q", ErrUnsigned, s.ID, s.Authority)
	}
	auth, ok := auths[s.KeyID]
	if !ok || auth.Name != s.Authority {
		return fmt.Errorf("%w: %q with key %s is not configured: add it with yui authority add",
			ErrUnknownAuthority, s.Authority, s.KeyID)
	}
	if len(s.signature) != ed25519.SignatureSize ||
		!ed25519.Verify(auth.Key, append([]byte(signContext), s.body...), s.signature) {
		return fmt.Errorf("%w: alert %s claims authority %q", ErrForged, s.ID, s.Authority)
	}
	return nil
}

// CheckTime checks that s is valid at now: issued no later than skew
// after now, and not yet expired.
func (s *Signed) CheckTime(now time.Time, skew time.Duration) error {
	if s.Issued.After(now.Add(skew)) {
		return fmt.Errorf("%w: alert %s is issued at %s, now is %s", ErrNotYetValid, s.ID,
			s.Issued.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Before(s.Expires) {
		return fmt.Errorf("%w: alert %s expired at %s", ErrExpired, s.ID, s.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

func signWith(s Signer, body []byte) []byte {
	return ed25519.Sign(s.Key, append([]byte(signContext), body...))
}

func toBody(a *Alert) body {
	var area *Area
	if !a.Area.IsZero() {
		area = a.Area
	}
	return body{
		Authority: a.Authority,
		KeyID:     a.KeyID,
		Sequence:  a.Sequence,
		Level:     a.Level,
		Area:      area,
		Issued:    a.Issued.UnixMilli(),
		Expires:   a.Expires.UnixMilli(),
		Text:      a.Text,
	}
}

func fromBody(b *body) Alert {
	return Alert{
		Authority: b.Authority,
		KeyID:     b.KeyID,
		Sequence:  b.Sequence,
		Level:     b.Level,
		Area:      b.Area,
		Issued:    time.UnixMilli(b.Issued).UTC(),
		Expires:   time.UnixMilli(b.Expires).UTC(),
		Text:      b.Text,
	}
}
