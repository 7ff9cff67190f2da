package sim

import (
	"net/netip"

	"github.com/yuinet/yui/network/wire"
)

// Encoded sizes without encoding. Encoding every message of a run with a
// million nodes would cost more than the protocol itself, so the simulator
// computes the size wire.Encode would produce for the overlay messages
// from their fields. The rules follow the CBOR encoding of package wire:
//
//   - The envelope is a 4-element array (1 byte): the version and type as
//     unsigned integers, the request ID as one, then the body.
//   - An unsigned integer, and the length prefix of a byte string, text
//     string, array or map, take 1 byte below 24, 2 below 2^8, 3 below
//     2^16, 5 below 2^32 and 9 otherwise.
//   - A node ID is a 32-byte string (34 bytes). An address is the byte
//     string of netip.AddrPort.MarshalBinary: the address bytes (0, 4 or
//     16 and the zone) and 2 port bytes. A contact is a 2-element array of
//     the two.
//   - Bodies are maps with small integer keys (1 byte each); fields
//     tagged omitempty are left out when empty.
//
//   - A hierarchy member record is an array of its 9 fields: contact,
//     the unsigned version, beat, uptime, capacity and link, a 1-byte bool
//     and the seeds. A nil slice encodes as null, 1 byte, as an empty one.
//     A heartbeat is an array of 3 unsigned integers.
//
// Other message types are encoded for real. TestWireSizeMatchesEncode
// checks these rules against wire.Encode.

// cborHead returns the size of a CBOR head carrying the argument n.
func cborHead(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}

// cborBytes returns the size of a byte or text string of length n.
func cborBytes(n int) int { return cborHead(uint64(n)) + n }

func addrPortSize(ap netip.AddrPort) int {
	a := ap.Addr()
	n := 2 // port
	switch {
	case a.Is4():
		n += 4
	case a.Is6():
		n += 16 + len(a.Zone())
	}
	return cborBytes(n)
}

func contactSize(c *wire.Contact) int {
	return 1 + cborBytes(len(c.ID)) + addrPortSize(c.Addr)
}

func contactsSize(cs []wire.Contact) int {
	n := cborHead(uint64(len(cs)))
	for i := range cs {
		n += contactSize(&cs[i])
	}
	return n
}

// bodySize returns the encoded size of msg's body and true, or false for a
// type this file does not know.
func bodySize(msg wire.Message) (int, bool) {
	switch m := msg.(type) {
	case *wire.Ping, *wire.Leave:
		return 1, true // empty map
	case *wire.Pong:
		// Observed has omitempty, but a zero netip.AddrPort is a struct
		// and CBOR encodes it anyway, as its 2 port bytes.
		return 1 + 1 + addrPortSize(m.Observed), true
	case *wire.FindNode:
		n := 1 + 1 + cborBytes(len(m.Target))
		if len(m.Path) > 0 {
			n += 1 + contactsSize(m.Path)
		}
		return n, true
	case *wire.Nodes:
		if len(m.Contacts) == 0 {
			return 1, true
		}
		return 1 + 1 + contactsSize(m.Contacts), true
	case *wire.GroupSync:
		return groupBodySize(m.Members, m.Digest), true
	case *wire.GroupState:
		return groupBodySize(m.Members, m.Digest), true
	case *wire.Forward:
		return 1 + 1 + cborHead(m.Token) + 1 + cborBytes(len(m.Target)) + 1 + contactsSize(m.Path), true
	case *wire.ForwardAck:
		return 1, true
	case *wire.LookupAnswer:
		return lookupAnswerSize(m), true
	case *wire.Referral:
		if len(m.Contacts) == 0 {
			return 1, true
		}
		return 1 + 1 + contactsSize(m.Contacts), true
	case *wire.Error:
		n := 1 + 1 + cborHead(uint64(m.Code))
		if m.Message != "" {
			n += 1 + cborBytes(len(m.Message))
		}
		return n, true
	}
	return 0, false
}

// wireSize returns the size of msg's envelope under the given request ID,
// computing it for the overlay messages and encoding the others. It
// returns false if msg does not encode, which is a bug in its sender.
func wireSize(request uint64, msg wire.Message) (int, bool) {
	if body, ok := bodySize(msg); ok {
		head := 1 + cborHead(wire.Version) + cborHead(uint64(msg.Type())) + cborHead(request)
		return head + body, true
	}
	b, err := wire.Encode(request, msg)
	if err != nil {
		return 0, false
	}
	return len(b), true
}

func memberSize(m *wire.Member) int {
	return 1 + contactSize(&m.Contact) + cborHead(m.Version) + cborHead(m.Beat) + cborHead(m.Uptime) +
		cborHead(uint64(m.Capacity)) + cborHead(uint64(m.Link)) + 1 + contactsSize(m.Seeds)
}

// groupBodySize returns the size of a body that is a map with the member
// records under key 1 and the digest under key 2, each left out when
// empty.
func groupBodySize(members []wire.Member, digest []wire.Heartbeat) int {
	n := 1
	if len(members) > 0 {
		n += 1 + cborHead(uint64(len(members)))
		for i := range members {
			n += memberSize(&members[i])
		}
	}
	if len(digest) > 0 {
		n += 1 + cborHead(uint64(len(digest)))
		for _, h := range digest {
			n += 1 + cborHead(h.Prefix) + cborHead(h.Version) + cborHead(h.Beat)
		}
	}
	return n
}

func lookupAnswerSize(m *wire.LookupAnswer) int {
	n := 1 + 1 + cborHead(m.Token)
	if len(m.Closest) > 0 {
		n += 1 + contactsSize(m.Closest)
	}
	for _, v := range []uint64{uint64(m.Hops), uint64(m.Queried), uint64(m.Failed)} {
		if v != 0 {
			n += 1 + cborHead(v)
		}
	}
	return n
}
