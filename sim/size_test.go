package sim

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// randomContact draws a contact with an IPv4, IPv6 or zoned IPv6 address.
func randomContact(rng *rand.Rand) wire.Contact {
	var id identity.NodeID
	binary.BigEndian.PutUint64(id[:], rng.Uint64()|1)
	var a netip.Addr
	switch rng.IntN(3) {
	case 0:
		a = netip.AddrFrom4([4]byte{127, byte(rng.IntN(256)), byte(rng.IntN(256)), 1})
	case 1:
		a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(rng.IntN(256))})
	default:
		a = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: 1}).WithZone(strings.Repeat("e", 1+rng.IntN(20)))
	}
	return wire.Contact{ID: id, Addr: netip.AddrPortFrom(a, uint16(1+rng.IntN(65535)))}
}

func randomContacts(rng *rand.Rand, n int) []wire.Contact {
	cs := make([]wire.Contact, n)
	for i := range cs {
		cs[i] = randomContact(rng)
	}
	return cs
}

// randomMembers draws up to 40 member records, some with a zero address
// and no seeds, as a node's own record may have.
func randomMembers(rng *rand.Rand) []wire.Member {
	ms := make([]wire.Member, rng.IntN(41))
	for i := range ms {
		m := &ms[i]
		m.Contact = randomContact(rng)
		if rng.IntN(4) == 0 {
			m.Contact.Addr = netip.AddrPort{}
		}
		m.Version = rng.Uint64() >> rng.IntN(64)
		m.Beat = rng.Uint64() >> rng.IntN(64)
		m.Uptime = rng.Uint64() >> rng.IntN(64)
		m.Capacity = rng.Uint32() >> rng.IntN(32)
		m.Link = rng.Uint32() >> rng.IntN(32)
		m.Representative = rng.IntN(2) == 0
		if n := rng.IntN(wire.MaxSeeds + 2); n <= wire.MaxSeeds {
			m.Seeds = randomContacts(rng, n)
		}
	}
	return ms
}

// randomDigest draws up to 40 heartbeats, or none.
func randomDigest(rng *rand.Rand) []wire.Heartbeat {
	d := make([]wire.Heartbeat, rng.IntN(41))
	for i := range d {
		d[i] = wire.Heartbeat{
			Prefix:  rng.Uint64() >> rng.IntN(64),
			Version: rng.Uint64() >> rng.IntN(64),
			Beat:    rng.Uint64() >> rng.IntN(64),
		}
	}
	return d
}

// randomMessage draws an overlay message of any type, with field sizes
// from empty to the wire limits.
func randomMessage(rng *rand.Rand) wire.Message {
	switch rng.IntN(12) {
	case 6:
		return &wire.GroupSync{Members: randomMembers(rng), Digest: randomDigest(rng)}
	case 7:
		return &wire.GroupState{Members: randomMembers(rng), Digest: randomDigest(rng)}
	case 8:
		return &wire.Forward{Token: rng.Uint64() >> rng.IntN(64), Target: randomContact(rng).ID, Path: randomContacts(rng, 1+rng.IntN(wire.MaxPath))}
	case 9:
		return &wire.ForwardAck{}
	case 10:
		return &wire.LookupAnswer{
			Token:   rng.Uint64() >> rng.IntN(64),
			Closest: randomContacts(rng, rng.IntN(wire.MaxContacts+1)),
			Hops:    uint8(rng.IntN(3) * rng.IntN(256)),
			Queried: uint16(rng.IntN(3) * rng.IntN(65536)),
			Failed:  uint16(rng.IntN(3) * rng.IntN(300)),
		}
	case 11:
		return &wire.Referral{Contacts: randomContacts(rng, rng.IntN(wire.MaxContacts+1))}
	case 0:
		return &wire.Ping{}
	case 1:
		if rng.IntN(2) == 0 {
			return &wire.Pong{}
		}
		return &wire.Pong{Observed: randomContact(rng).Addr}
	case 2:
		return &wire.FindNode{Target: randomContact(rng).ID, Path: randomContacts(rng, rng.IntN(wire.MaxPath+1))}
	case 3:
		return &wire.Nodes{Contacts: randomContacts(rng, rng.IntN(wire.MaxContacts+1))}
	case 4:
		return &wire.Leave{}
	}
	return &wire.Error{
		Code:    wire.ErrorCode(rng.IntN(70000)),
		Message: strings.Repeat("x", rng.IntN(wire.MaxErrorMessage+1)),
	}
}

func TestWireSizeMatchesEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	requests := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	for i := range 5000 {
		msg := randomMessage(rng)
		request := requests[i%len(requests)]
		b, err := wire.Encode(request, msg)
		if err != nil {
			t.Fatalf("Encode(%d, %#v): %v", request, msg, err)
		}
		got, ok := wireSize(request, msg)
		if !ok || got != len(b) {
			t.Fatalf("wireSize(%d, %T) = %d, %v; Encode gives %d bytes for %#v", request, msg, got, ok, len(b), msg)
		}
	}
}

func TestWireSizeEncodesOtherTypes(t *testing.T) {
	msg := &wire.Ack{}
	b, err := wire.Encode(7, msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bodySize(msg); ok {
		t.Fatalf("bodySize computes %T, which this test needs encoded", msg)
	}
	if got, ok := wireSize(7, msg); !ok || got != len(b) {
		t.Errorf("wireSize(7, %T) = %d, %v; want %d, true", msg, got, ok, len(b))
	}
}
