// Package wire defines the messages nodes exchange and their encoding.
//
// Every message travels as one CBOR envelope (RFC 8949): the protocol
// version, the message type, a request ID that pairs a response with its
// request, and the type's body. Decoding is strict: a message larger than
// MaxMessageSize, with unknown fields, duplicate map keys, indefinite
// lengths, too many elements, a version this node does not speak or a body
// that fails its own checks is rejected with an error that names the fault.
package wire

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Version is the protocol version this node speaks. A node rejects messages
// of any other version; the version rises only when old nodes could not
// read the new messages.
const Version = 1

// MaxMessageSize is the hard limit on one encoded message, envelope
// included. It leaves room for a 1 MiB storage shard with its headers.
const MaxMessageSize = 2 << 20

// Limits on repeated fields, far above what an honest peer sends.
const (
	// MaxContacts is the most contacts one message may carry.
	MaxContacts = 64
	// MaxPath is the most hops a message's path may list.
	MaxPath = 16
)

// Errors returned by Decode; each is wrapped with details.
var (
	ErrTooLarge    = errors.New("wire: message too large")
	ErrMalformed   = errors.New("wire: malformed message")
	ErrVersion     = errors.New("wire: unsupported protocol version")
	ErrUnknownType = errors.New("wire: unknown message type")
	ErrInvalid     = errors.New("wire: invalid message")
)

// Type identifies the kind of a message's body.
type Type uint16

// Message is the body of an envelope.
type Message interface {
	// Type returns the message's type code.
	Type() Type
	// Validate checks the fields that CBOR decoding cannot check.
	Validate() error
}

// envelope is the outer frame of every message.
type envelope struct {
	_       struct{} `cbor:",toarray"`
	Version uint16
	Type    Type
	Request uint64
	Body    cbor.RawMessage
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
		MaxNestedLevels:   16,
		MaxArrayElements:  4096,
		MaxMapPairs:       256,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode returns the envelope for msg with the given request ID (0 for a
// message that is not part of a request/response exchange).
func Encode(request uint64, msg Message) ([]byte, error) {
	body, err := encMode.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("wire: encode %v: %w", msg.Type(), err)
	}
	b, err := encMode.Marshal(envelope{Version: Version, Type: msg.Type(), Request: request, Body: body})
	if err != nil {
		return nil, fmt.Errorf("wire: encode %v envelope: %w", msg.Type(), err)
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %v is %d bytes, limit %d", ErrTooLarge, msg.Type(), len(b), MaxMessageSize)
	}
	return b, nil
}

// Decode parses one envelope and returns its request ID and body.
func Decode(b []byte) (uint64, Message, error) {
	if len(b) > MaxMessageSize {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxMessageSize)
	}
	var env envelope
	if err := decMode.Unmarshal(b, &env); err != nil {
		return 0, nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Version != Version {
		return 0, nil, fmt.Errorf("%w %d: this node speaks version %d", ErrVersion, env.Version, Version)
	}

	msg := newMessage(env.Type)
	if msg == nil {
		return 0, nil, fmt.Errorf("%w %d", ErrUnknownType, env.Type)
	}
	if err := decMode.Unmarshal(env.Body, msg); err != nil {
		return 0, nil, fmt.Errorf("%w: %v body: %v", ErrMalformed, env.Type, err)
	}
	if err := msg.Validate(); err != nil {
		return 0, nil, fmt.Errorf("%w: %v: %v", ErrInvalid, env.Type, err)
	}
	return env.Request, msg, nil
}
