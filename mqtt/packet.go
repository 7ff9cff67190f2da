package mqtt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Errors returned by the decoder. A session that meets one closes the
// connection, after a DISCONNECT with a reason code for a 5.0 client.
var (
	// ErrMalformed reports bytes that do not form a valid packet.
	ErrMalformed = errors.New("mqtt: malformed packet")
	// ErrProtocol reports a valid packet that breaks the protocol, such
	// as a second CONNECT or a QoS the server does not support.
	ErrProtocol = errors.New("mqtt: protocol error")
	// ErrTooLarge reports a packet above Limits.MaxPacketSize.
	ErrTooLarge = errors.New("mqtt: packet too large")
)

// Packet types, from the first four bits of the fixed header.
const (
	typeConnect     = 1
	typeConnack     = 2
	typePublish     = 3
	typePuback      = 4
	typePubrec      = 5
	typePubrel      = 6
	typePubcomp     = 7
	typeSubscribe   = 8
	typeSuback      = 9
	typeUnsubscribe = 10
	typeUnsuback    = 11
	typePingreq     = 12
	typePingresp    = 13
	typeDisconnect  = 14
	typeAuth        = 15
)

// Protocol levels in CONNECT.
const (
	version311 = 4
	version5   = 5
)

// maxRemainingLength is the largest length the 4-byte variable integer of
// the fixed header can hold.
const maxRemainingLength = 268_435_455

// packet is one packet as read from the wire: its type, the four flag
// bits of the fixed header and the rest of the packet.
type packet struct {
	kind  byte
	flags byte
	body  []byte
}

// readPacket reads one packet of at most maxSize bytes in all. A larger
// packet fails with ErrTooLarge before its body is read.
func readPacket(r *bufio.Reader, maxSize int) (packet, error) {
	first, err := r.ReadByte()
	if err != nil {
		return packet{}, err
	}
	length, n, err := readVarint(r)
	if err != nil {
		return packet{}, err
	}
	if 1+n+length > maxSize {
		return packet{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, 1+n+length, maxSize)
	}
	p := packet{kind: first >> 4, flags: first & 0x0f, body: make([]byte, length)}
	if _, err := io.ReadFull(r, p.body); err != nil {
		return packet{}, unexpectedEOF(err)
	}
	return p, p.checkFlags()
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// checkFlags checks the fixed header's flag bits, which are fixed for
// every type but PUBLISH.
func (p packet) checkFlags() error {
	want := byte(0)
	switch p.kind {
	case typePublish:
		return nil
	case typePubrel, typeSubscribe, typeUnsubscribe:
		want = 0x02
	case 0:
		return fmt.Errorf("%w: packet type 0 is reserved", ErrMalformed)
	}
	if p.flags != want {
		return fmt.Errorf("%w: packet type %d has flags %#x, want %#x", ErrMalformed, p.kind, p.flags, want)
	}
	return nil
}

// readVarint reads the variable byte integer of the fixed header and
// returns it with the number of bytes it took.
func readVarint(r io.ByteReader) (int, int, error) {
	value, shift := 0, 0
	for n := 1; n <= 4; n++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, 0, unexpectedEOF(err)
		}
		value |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return value, n, nil
		}
		shift += 7
	}
	return 0, 0, fmt.Errorf("%w: variable byte integer longer than 4 bytes", ErrMalformed)
}

// appendVarint appends a variable byte integer of at most
// maxRemainingLength.
func appendVarint(dst []byte, v int) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// decoder reads the fields of a packet's body. The first error sticks,
// and later reads return zero values, so a parser checks err once at the
// end of a step.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.fail("packet ends before its %s", what)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uint16(what string) uint16 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 2 {
		d.fail("packet ends before its %s", what)
		return 0
	}
	v := binary.BigEndian.Uint16(d.buf)
	d.buf = d.buf[2:]
	return v
}

func (d *decoder) uint32(what string) uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 4 {
		d.fail("packet ends before its %s", what)
		return 0
	}
	v := binary.BigEndian.Uint32(d.buf)
	d.buf = d.buf[4:]
	return v
}

func (d *decoder) varint(what string) int {
	if d.err != nil {
		return 0
	}
	v, n, err := readVarint((*sliceReader)(&d.buf))
	if err != nil {
		d.fail("%s is not a valid variable byte integer", what)
		return 0
	}
	_ = n
	return v
}

// binary reads two bytes of length and that many bytes. The result
// shares the packet's memory.
func (d *decoder) binary(what string) []byte {
	n := int(d.uint16(what + " length"))
	if d.err != nil {
		return nil
	}
	if len(d.buf) < n {
		d.fail("%s of %d bytes runs past the end of the packet", what, n)
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

// string reads a UTF-8 string, which may contain neither invalid UTF-8
// nor U+0000.
func (d *decoder) string(what string) string {
	b := d.binary(what)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		d.fail("%s is not valid UTF-8", what)
		return ""
	}
	for _, c := range b {
		if c == 0 {
			d.fail("%s contains U+0000", what)
			return ""
		}
	}
	return string(b)
}

// rest returns the bytes not read yet.
func (d *decoder) rest() []byte {
	b := d.buf
	d.buf = nil
	return b
}

// done fails when bytes remain that the packet should not have.
func (d *decoder) done(what string) error {
	if d.err == nil && len(d.buf) > 0 {
		d.fail("%d bytes after the end of the %s", len(d.buf), what)
	}
	return d.err
}

type sliceReader []byte

func (s *sliceReader) ReadByte() (byte, error) {
	if len(*s) == 0 {
		return 0, io.EOF
	}
	b := (*s)[0]
	*s = (*s)[1:]
	return b, nil
}
