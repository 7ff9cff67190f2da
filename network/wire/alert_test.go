package wire

import (
	"reflect"
	"strings"
	"testing"
)

func sampleAlertMessages() []Message {
	return []Message{
		&AlertPush{Alerts: [][]byte{[]byte("signed alert"), make([]byte, MaxAlertSize)}},
		&AlertSummary{IDs: []AlertShortID{{1, 2, 3, 4, 5, 6, 7, 8}, {9}}, Reply: true},
		&AlertSummary{},
	}
}

func TestAlertRoundTrip(t *testing.T) {
	for _, msg := range sampleAlertMessages() {
		b, err := Encode(0, msg)
		if err != nil {
			t.Fatalf("Encode(%v): %v", msg.Type(), err)
		}
		_, got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%v): %v", msg.Type(), err)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Errorf("%v: decoded %#v, want %#v", msg.Type(), got, msg)
		}
		if strings.HasPrefix(msg.Type().String(), "type-") {
			t.Errorf("type %d has no name", msg.Type())
		}
	}
}

func TestAlertDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"empty push", &AlertPush{}},
		{"empty alert", &AlertPush{Alerts: [][]byte{{}}}},
		{"alert too large", &AlertPush{Alerts: [][]byte{make([]byte, MaxAlertSize+1)}}},
		{"too many alerts", &AlertPush{Alerts: make([][]byte, MaxAlertBatch+1)}},
		{"summary too long", &AlertSummary{IDs: make([]AlertShortID, MaxAlertSummary+1)}},
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

// FuzzDecodeAlert is FuzzDecode seeded with the alert messages.
func FuzzDecodeAlert(f *testing.F) {
	for _, msg := range sampleAlertMessages() {
		b, err := Encode(0, msg)
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
