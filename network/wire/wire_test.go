package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/yuinet/yui/network/identity"
)

func testContact(b byte, addr string) Contact {
	var id identity.NodeID
	id[0], id[31] = b, b
	return Contact{ID: id, Addr: netip.MustParseAddrPort(addr)}
}

func sampleMessages() []Message {
	return []Message{
		&Ping{},
		&Pong{Observed: netip.MustParseAddrPort("192.0.2.7:4242")},
		&FindNode{Target: identity.KeyID([]byte("k")), Path: []Contact{testContact(1, "[2001:db8::1]:7946")}},
		&Nodes{Contacts: []Contact{testContact(2, "127.0.0.1:1"), testContact(3, "127.0.0.2:2")}},
		&Leave{},
		&Error{Code: CodeBadRequest, Message: "no"},
		&PutShard{Chunk: Hash{1}, Shard: []byte("shard")},
		&Ack{},
		&GetShard{Chunk: Hash{2}, Index: 7},
		&ShardData{Shard: []byte{1}},
		&ListShards{Chunks: []Hash{{3}, {4}}},
		&ShardIndexes{Held: [][]uint16{{0, 1}, {}}},
		&ShardIndexes{Held: [][]uint16{{0, 1}, {}}, Codes: [][]ShardCode{{{Data: 31, Parity: 17}, {}}, {}}},
		&PutRecord{Namespace: "ns", Dir: 1, Record: sampleRecord()},
		&GetRecord{Namespace: "ns", KeyHash: Hash{5}},
		&RecordData{Record: sampleRecord()},
		&ListRecords{Namespace: "ns", After: Hash{6}, Limit: 10, Digest: true},
		&RecordPage{Records: []Record{sampleRecord()}, More: true},
		&RecordData{Record: Record{Envelope: []byte("env"), Header: []byte("hdr"),
			Segment: &SegmentRef{Chunk: Hash{8}, Offset: 100, Length: 20}}},
		&PutNamespace{Namespace: "ns", Descriptor: []byte("d")},
		&GetNamespace{Namespace: "ns"},
		&Namespace{Descriptor: []byte("d")},
	}
}

func sampleRecord() Record {
	return Record{
		Envelope: []byte("env"),
		Header:   []byte("hdr"),
		Groups:   map[string][]byte{"public": []byte("g")},
		Wraps:    []Wrap{{Reader: Hash{9}, Group: "public", Key: []byte("k")}},
		Inline:   []byte("v"),
	}
}

func TestRoundTrip(t *testing.T) {
	for _, msg := range sampleMessages() {
		b, err := Encode(42, msg)
		if err != nil {
			t.Fatalf("Encode(%v): %v", msg.Type(), err)
		}
		req, got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%v): %v", msg.Type(), err)
		}
		if req != 42 {
			t.Errorf("%v: request ID = %d, want 42", msg.Type(), req)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Errorf("%v: decoded %#v, want %#v", msg.Type(), got, msg)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	encodeEnv := func(env envelope) []byte {
		b, err := encMode.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	body := func(v any) cbor.RawMessage {
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	manyContacts := make([]Contact, MaxContacts+1)
	for i := range manyContacts {
		manyContacts[i] = testContact(byte(i+1), "127.0.0.1:9")
	}
	shortID := map[int]any{1: []byte{1, 2, 3}}

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte{0xff, 0x00, 0x13}, ErrMalformed},
		{"oversized", make([]byte, MaxMessageSize+1), ErrTooLarge},
		{"future version", encodeEnv(envelope{Version: 9, Type: TypePing, Body: body(Ping{})}), ErrVersion},
		{"unknown type", encodeEnv(envelope{Version: Version, Type: 999, Body: body(Ping{})}), ErrUnknownType},
		{"too many contacts", encodeEnv(envelope{Version: Version, Type: TypeNodes, Body: body(Nodes{Contacts: manyContacts})}), ErrInvalid},
		{"zero contact ID", encodeEnv(envelope{Version: Version, Type: TypeNodes, Body: body(Nodes{Contacts: []Contact{{Addr: netip.MustParseAddrPort("127.0.0.1:9")}}})}), ErrInvalid},
		{"short target", encodeEnv(envelope{Version: Version, Type: TypeFindNode, Body: body(shortID)}), ErrMalformed},
		{"unknown field", encodeEnv(envelope{Version: Version, Type: TypePong, Body: body(map[int]int{77: 1})}), ErrMalformed},
		{"empty shard", encodeEnv(envelope{Version: Version, Type: TypePutShard, Body: body(PutShard{Chunk: Hash{1}})}), ErrInvalid},
		{"short chunk hash", encodeEnv(envelope{Version: Version, Type: TypeGetShard, Body: body(shortID)}), ErrMalformed},
		{"empty namespace", encodeEnv(envelope{Version: Version, Type: TypeGetRecord, Body: body(GetRecord{})}), ErrInvalid},
		{"segment and inline", encodeEnv(envelope{Version: Version, Type: TypeRecordData, Body: body(RecordData{Record: Record{
			Envelope: []byte("e"), Inline: []byte("v"), Segment: &SegmentRef{Length: 1}}})}), ErrInvalid},
		{"record without envelope", encodeEnv(envelope{Version: Version, Type: TypeRecordData, Body: body(RecordData{})}), ErrInvalid},
		{"codes for fewer indexes", encodeEnv(envelope{Version: Version, Type: TypeShardIndexes, Body: body(ShardIndexes{
			Held: [][]uint16{{0, 1}}, Codes: [][]ShardCode{{{Data: 2, Parity: 1}}}})}), ErrInvalid},
		{"codes for fewer chunks", encodeEnv(envelope{Version: Version, Type: TypeShardIndexes, Body: body(ShardIndexes{
			Held: [][]uint16{{0}, {1}}, Codes: [][]ShardCode{{{Data: 2, Parity: 1}}}})}), ErrInvalid},
		{"long error text", encodeEnv(envelope{Version: Version, Type: TypeError, Body: body(Error{Message: string(make([]byte, MaxErrorMessage+1))})}), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, msg, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want error %v", msg, err, tt.want)
			}
		})
	}
}

func TestEncodeTooLarge(t *testing.T) {
	msg := &Error{Message: string(bytes.Repeat([]byte("x"), MaxMessageSize))}
	if _, err := Encode(1, msg); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode of oversized message = %v, want ErrTooLarge", err)
	}
}

// FuzzDecode feeds arbitrary bytes to Decode: it must never panic, and
// whatever it accepts must encode again and decode to a message that
// encodes to the same bytes. The messages themselves may differ where
// the encoding does not: an empty list decodes as an empty slice, but
// encodes as an absent field, which decodes as nil.
func FuzzDecode(f *testing.F) {
	for _, msg := range sampleMessages() {
		b, err := Encode(7, msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x84, 0x01, 0x01, 0x00, 0x40})

	f.Fuzz(func(t *testing.T, b []byte) {
		req, msg, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(req, msg)
		if err != nil {
			t.Fatalf("accepted %v does not encode: %v", msg.Type(), err)
		}
		req2, msg2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded %v does not decode: %v", msg.Type(), err)
		}
		if req2 != req || msg2.Type() != msg.Type() {
			t.Fatalf("round trip changed request %d %v into %d %v", req, msg.Type(), req2, msg2.Type())
		}
		third, err := Encode(req2, msg2)
		if err != nil {
			t.Fatalf("decoded %v does not encode: %v", msg2.Type(), err)
		}
		if !bytes.Equal(again, third) {
			t.Fatalf("round trip changed %v: %#v != %#v", msg.Type(), msg, msg2)
		}
	})
}
