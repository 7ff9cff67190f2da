package discovery

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
)

// testNow is a fixed receiver clock, so timestamp checks do not depend on
// when the tests run.
var testNow = time.UnixMilli(1_760_000_000_000)

func newTestIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testBeacon(id *identity.Identity) *Beacon {
	return &Beacon{
		Network:        "test-net",
		ID:             id.ID,
		PublicKey:      id.Public,
		ListenPort:     7946,
		ListenAddrs:    []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")},
		Timestamp:      testNow.UnixMilli(),
		Seq:            3,
		ReplyRequested: true,
	}
}

func TestBeaconRoundTrip(t *testing.T) {
	id := newTestIdentity(t)
	want := testBeacon(id)
	data, err := EncodeBeacon(want, id.Private)
	if err != nil {
		t.Fatalf("EncodeBeacon: %v", err)
	}
	if len(data) > MaxBeaconSize {
		t.Errorf("beacon is %d bytes, limit %d", len(data), MaxBeaconSize)
	}

	got, err := DecodeBeacon(data, "test-net", testNow)
	if err != nil {
		t.Fatalf("DecodeBeacon: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

// TestBeaconMaxSizeFits checks that a beacon with every field at its limit
// still fits in one datagram, so EncodeBeacon never fails on size for a
// beacon that passes Validate.
func TestBeaconMaxSizeFits(t *testing.T) {
	id := newTestIdentity(t)
	b := testBeacon(id)
	b.Network = strings.Repeat("n", MaxNetworkName)
	b.ListenAddrs = nil
	for i := range MaxListenAddrs {
		b.ListenAddrs = append(b.ListenAddrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
	}
	b.Timestamp, b.Seq = -1<<63, 1<<64-1
	data, err := EncodeBeacon(b, id.Private)
	if err != nil {
		t.Fatalf("EncodeBeacon: %v", err)
	}
	t.Logf("largest beacon: %d bytes of %d", len(data), MaxBeaconSize)
}

func TestDecodeBeaconRejects(t *testing.T) {
	id := newTestIdentity(t)
	other := newTestIdentity(t)
	signed := func(mutate func(b *Beacon), key ed25519.PrivateKey) []byte {
		b := testBeacon(id)
		mutate(b)
		data, err := sign(b, key)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	valid := signed(func(*Beacon) {}, id.Private)
	envelopeWith := func(env envelope) []byte {
		data, err := encMode.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	var decoded envelope
	if err := decMode.Unmarshal(valid, &decoded); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-1] ^= 1 // last byte of the signature

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), ErrMalformed},
		{"truncated", valid[:len(valid)-10], ErrMalformed},
		{"trailing bytes", append(bytes.Clone(valid), 0), ErrMalformed},
		{"oversized", make([]byte, MaxBeaconSize+1), ErrTooLarge},
		{"future version", envelopeWith(envelope{Version: 2, Payload: decoded.Payload, Signature: decoded.Signature}), ErrVersion},
		{"short signature", envelopeWith(envelope{Version: BeaconVersion, Payload: decoded.Payload, Signature: decoded.Signature[:63]}), ErrMalformed},
		{"payload not CBOR", envelopeWith(envelope{Version: BeaconVersion, Payload: []byte{0xff}, Signature: decoded.Signature}), ErrMalformed},
		{"bad signature", flipped, ErrBadSignature},
		{"signed by other key", signed(func(*Beacon) {}, other.Private), ErrBadSignature},
		{"ID not matching key", signed(func(b *Beacon) { b.ID = other.ID }, id.Private), ErrIDMismatch},
		{"other key and ID", signed(func(b *Beacon) { b.PublicKey = other.Public }, id.Private), ErrIDMismatch},
		{"short public key", signed(func(b *Beacon) { b.PublicKey = b.PublicKey[:31] }, id.Private), ErrInvalid},
		{"other network", signed(func(b *Beacon) { b.Network = "elsewhere" }, id.Private), ErrOtherNetwork},
		{"stale", signed(func(b *Beacon) { b.Timestamp = testNow.Add(-MaxClockSkew - time.Second).UnixMilli() }, id.Private), ErrTimestamp},
		{"future", signed(func(b *Beacon) { b.Timestamp = testNow.Add(MaxClockSkew + time.Second).UnixMilli() }, id.Private), ErrTimestamp},
		{"zero timestamp", signed(func(b *Beacon) { b.Timestamp = 0 }, id.Private), ErrTimestamp},
		{"too many addresses", signed(func(b *Beacon) {
			b.ListenAddrs = make([]netip.Addr, MaxListenAddrs+1)
			for i := range b.ListenAddrs {
				b.ListenAddrs[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
			}
		}, id.Private), ErrInvalid},
		{"long network name", signed(func(b *Beacon) { b.Network = strings.Repeat("x", MaxNetworkName+1) }, id.Private), ErrInvalid},
		{"empty network name", signed(func(b *Beacon) { b.Network = "" }, id.Private), ErrInvalid},
		{"network name not UTF-8", signed(func(b *Beacon) { b.Network = "\xff\xfe" }, id.Private), ErrMalformed},
		{"port zero", signed(func(b *Beacon) { b.ListenPort = 0 }, id.Private), ErrInvalid},
		{"multicast address", signed(func(b *Beacon) { b.ListenAddrs = []netip.Addr{multicastGroup} }, id.Private), ErrInvalid},
		{"address with zone", signed(func(b *Beacon) {
			b.ListenAddrs = []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}
		}, id.Private), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := DecodeBeacon(tt.in, "test-net", testNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeBeacon error = %v, want %v", err, tt.want)
			}
			if b != nil {
				t.Errorf("DecodeBeacon returned beacon %+v with error", b)
			}
		})
	}
}

func TestDecodeBeaconOtherNetworkResult(t *testing.T) {
	id := newTestIdentity(t)
	b := testBeacon(id)
	data, err := EncodeBeacon(b, id.Private)
	if err != nil {
		t.Fatal(err)
	}

	_, err = DecodeBeacon(data, "my-net", testNow)
	var other *OtherNetworkError
	if !errors.As(err, &other) {
		t.Fatalf("DecodeBeacon error = %v, want *OtherNetworkError", err)
	}
	if other.Network != "test-net" {
		t.Errorf("Network = %q, want %q", other.Network, "test-net")
	}
	if other.ID != id.ID {
		t.Errorf("ID = %s, want %s", other.ID.Short(), id.ID.Short())
	}
}

func TestDecodeBeaconClockSkewEdges(t *testing.T) {
	id := newTestIdentity(t)
	for _, offset := range []time.Duration{-MaxClockSkew, MaxClockSkew} {
		b := testBeacon(id)
		b.Timestamp = testNow.Add(offset).UnixMilli()
		data, err := EncodeBeacon(b, id.Private)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeBeacon(data, "test-net", testNow); err != nil {
			t.Errorf("timestamp %v from now: %v", offset, err)
		}
	}
}

func TestDecodeBeaconSkewCheckOff(t *testing.T) {
	id := newTestIdentity(t)
	b := testBeacon(id)
	b.Timestamp = 0 // a device that booted with its clock at the epoch
	data, err := EncodeBeacon(b, id.Private)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeBeacon(data, "test-net", testNow, -1); err != nil {
		t.Errorf("decodeBeacon with the check off: %v", err)
	}
}

func TestEncodeBeaconRejects(t *testing.T) {
	id := newTestIdentity(t)
	other := newTestIdentity(t)
	tests := []struct {
		name   string
		mutate func(b *Beacon)
	}{
		{"ID not matching key", func(b *Beacon) { b.ID = other.ID }},
		{"long network name", func(b *Beacon) { b.Network = strings.Repeat("x", MaxNetworkName+1) }},
		{"port zero", func(b *Beacon) { b.ListenPort = 0 }},
		{"too many addresses", func(b *Beacon) { b.ListenAddrs = make([]netip.Addr, MaxListenAddrs+1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBeacon(id)
			tt.mutate(b)
			if _, err := EncodeBeacon(b, id.Private); !errors.Is(err, ErrInvalid) {
				t.Errorf("EncodeBeacon error = %v, want %v", err, ErrInvalid)
			}
		})
	}
}

func FuzzDecodeBeacon(f *testing.F) {
	id := newTestIdentity(f)
	valid, err := EncodeBeacon(testBeacon(id), id.Private)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Add([]byte{0x83, 0x01, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBeacon(data, "test-net", testNow)
		if err != nil {
			if b != nil {
				t.Fatalf("beacon %+v returned with error %v", b, err)
			}
			return
		}
		// Anything accepted must be a beacon that this node could also
		// have sent, and that decodes to itself after encoding.
		if err := b.Validate(); err != nil {
			t.Fatalf("accepted beacon fails Validate: %v", err)
		}
		if len(data) > MaxBeaconSize {
			t.Fatalf("accepted %d bytes, limit %d", len(data), MaxBeaconSize)
		}
	})
}
