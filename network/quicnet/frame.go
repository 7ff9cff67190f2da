package quicnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/yuinet/yui/network/wire"
)

// A frame is one message on a stream: a 4-byte big-endian length, then
// that many bytes of wire.Encode output. A request stream carries one
// frame each way and a one-way stream carries one frame.
const frameHeaderLen = 4

// Errors of readFrame.
var (
	errFrameTooLarge = errors.New("quicnet: frame too large")
	errTruncated     = errors.New("quicnet: truncated frame")
)

// readFrame reads one frame and returns its body. It rejects a length
// above wire.MaxMessageSize before reading the body. Then it reserves the
// length against buffers, waiting until ctx ends if they are used up, and
// allocates the body once at its exact size. The caller releases
// len(body) bytes of buffers when done with the body. A stream that ends
// before the header or the body is complete yields errTruncated, except
// that a stream ending before its first byte yields io.EOF.
func readFrame(ctx context.Context, r io.Reader, buffers budgets) ([]byte, error) {
	var header [frameHeaderLen]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: header: %v", errTruncated, err)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(header[:])
	if n > wire.MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, n, wire.MaxMessageSize)
	}

	if err := buffers.reserve(ctx, int(n)); err != nil {
		return nil, err
	}
	body := make([]byte, n)
	got, err := io.ReadFull(r, body)
	if err != nil {
		buffers.release(len(body))
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: body has %d of %d bytes", errTruncated, got, n)
		}
		return nil, err
	}
	return body, nil
}

// appendFrame returns a frame holding body.
func appendFrame(body []byte) []byte {
	frame := make([]byte, frameHeaderLen, frameHeaderLen+len(body))
	binary.BigEndian.PutUint32(frame, uint32(len(body)))
	return append(frame, body...)
}

// DropReason classifies a message that the transport discarded.
type DropReason string

// Reasons for dropping a message. The strings are metric label values.
const (
	// DropTooLarge is a frame whose length header exceeds
	// wire.MaxMessageSize.
	DropTooLarge DropReason = "too-large"
	// DropTruncated is a stream that ended inside a frame.
	DropTruncated DropReason = "truncated"
	// DropTimeout is a frame not received within the request timeout.
	DropTimeout DropReason = "timeout"
	// DropMalformed is a frame that is not a valid CBOR envelope.
	DropMalformed DropReason = "malformed"
	// DropVersion is a message of a protocol version this node does not
	// speak.
	DropVersion DropReason = "version"
	// DropUnknownType is a message of a type this node does not know.
	DropUnknownType DropReason = "unknown-type"
	// DropInvalid is a message that decoded but failed its own checks.
	DropInvalid DropReason = "invalid"
	// DropWrongRequest is a response whose request ID differs from the
	// ID of the request it responds to.
	DropWrongRequest DropReason = "wrong-request"
	// DropReset is a stream the peer reset or that failed in transit.
	DropReset DropReason = "reset"
)

// DropReasons returns every reason, for metrics and tests.
func DropReasons() []DropReason {
	return []DropReason{DropTooLarge, DropTruncated, DropTimeout, DropMalformed,
		DropVersion, DropUnknownType, DropInvalid, DropWrongRequest, DropReset}
}

// invalid reports whether a drop shows the peer breaking the protocol, as
// opposed to a slow or failing network. Only such drops count towards
// closing a bad peer's connection.
func (r DropReason) invalid() bool {
	switch r {
	case DropTimeout, DropReset:
		return false
	}
	return true
}

// dropReason classifies an error of readFrame or wire.Decode.
func dropReason(err error) DropReason {
	switch {
	case errors.Is(err, errFrameTooLarge), errors.Is(err, wire.ErrTooLarge):
		return DropTooLarge
	case errors.Is(err, errTruncated), errors.Is(err, io.EOF):
		return DropTruncated
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return DropTimeout
	case errors.Is(err, wire.ErrVersion):
		return DropVersion
	case errors.Is(err, wire.ErrUnknownType):
		return DropUnknownType
	case errors.Is(err, wire.ErrInvalid):
		return DropInvalid
	case errors.Is(err, wire.ErrMalformed):
		return DropMalformed
	}
	return DropReset
}

// readMessage reads one frame and decodes it, holding the frame's body
// against buffers until it is decoded. On failure it returns the reason to
// count the drop under.
func readMessage(ctx context.Context, r io.Reader, buffers budgets) (request uint64, msg wire.Message, size int, reason DropReason, err error) {
	body, err := readFrame(ctx, r, buffers)
	if err != nil {
		return 0, nil, 0, dropReason(err), err
	}
	defer buffers.release(len(body))

	request, msg, err = wire.Decode(body)
	if err != nil {
		return 0, nil, 0, dropReason(err), err
	}
	return request, msg, frameHeaderLen + len(body), "", nil
}
