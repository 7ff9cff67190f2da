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

// randomMessage draws an overlay message of any type, with field sizes
// from empty to the wire limits.
func randomMessage(rng *rand.Rand) wire.Message {
	switch rng.IntN(6) {
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
	msg := &wire.Referral{}
	b, err := wire.Encode(7, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := wireSize(7, msg); !ok || got != len(b) {
		t.Errorf("wireSize(7, Referral) = %d, %v; want %d, true", got, ok, len(b))
	}
}
