package wire

import (
	"reflect"
	"strings"
	"testing"
)

func sampleMsgMessages() []Message {
	return []Message{
		&MsgDeliver{Items: [][]byte{[]byte("signed message"), make([]byte, MaxMsgItemSize)}, Hold: true},
		&MsgAck{Results: []MsgResult{{Code: MsgAccepted}, {Code: MsgFull, Text: "quota"}}},
		&UserAnnounce{Record: []byte("record")},
		&UserLocate{User: Hash{1, 2, 3}},
		&UserLocation{Record: []byte("record")},
		&UserLocation{},
	}
}

func TestMsgRoundTrip(t *testing.T) {
	for _, msg := range sampleMsgMessages() {
		b, err := Encode(7, msg)
		if err != nil {
			t.Fatalf("Encode(%v): %v", msg.Type(), err)
		}
		req, got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%v): %v", msg.Type(), err)
		}
		if req != 7 {
			t.Errorf("%v: request ID %d, want 7", msg.Type(), req)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Errorf("%v: decoded %#v, want %#v", msg.Type(), got, msg)
		}
		if strings.HasPrefix(msg.Type().String(), "type-") {
			t.Errorf("type %d has no name", msg.Type())
		}
	}
}

func TestMsgDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"empty delivery", &MsgDeliver{}},
		{"empty item", &MsgDeliver{Items: [][]byte{{}}}},
		{"item too large", &MsgDeliver{Items: [][]byte{make([]byte, MaxMsgItemSize+1)}}},
		{"too many items", &MsgDeliver{Items: make([][]byte, MaxMsgBatch+1)}},
		{"too many results", &MsgAck{Results: make([]MsgResult, MaxMsgBatch+1)}},
		{"result text too long", &MsgAck{Results: []MsgResult{{Text: strings.Repeat("x", MaxMsgResultText+1)}}}},
		{"empty announce", &UserAnnounce{}},
		{"announce too large", &UserAnnounce{Record: make([]byte, MaxLocationSize+1)}},
		{"location too large", &UserLocation{Record: make([]byte, MaxLocationSize+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(0, tt.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if _, msg, err := Decode(b); err == nil {
				t.Fatalf("Decode = %v, nil; want an error", msg)
			}
		})
	}
}

// FuzzDecodeMsg is FuzzDecode seeded with the messaging messages.
func FuzzDecodeMsg(f *testing.F) {
	for _, msg := range sampleMsgMessages() {
		b, err := Encode(3, msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, msg, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(req, msg)
		if err != nil {
			t.Fatalf("accepted %v does not encode: %v", msg.Type(), err)
		}
		if _, msg2, err := Decode(again); err != nil || !reflect.DeepEqual(msg, msg2) {
			t.Fatalf("round trip changed %v: %v", msg.Type(), err)
		}
	})
}
