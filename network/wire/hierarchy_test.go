package wire

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/identity"
)

func sampleHierarchyMessages() []Message {
	rep := Member{
		Contact: testContact(4, "10.0.0.4:4717"), Version: 1_767_225_600_123,
		Uptime: 3600, Capacity: 2048, Link: 500, Representative: true,
		Seeds: []Contact{testContact(9, "192.0.2.9:4717")},
	}
	member := Member{Contact: testContact(5, "[fe80::5%eth0]:4717"), Version: 7}
	return []Message{
		&GroupSync{Members: []Member{member, rep}},
		&GroupSync{Digest: []Heartbeat{
			{Prefix: IDPrefix(rep.Contact.ID), Version: rep.Version, Beat: 61_000},
			{Prefix: IDPrefix(member.Contact.ID), Version: 7},
		}},
		&GroupState{Members: []Member{rep}},
		&GroupState{Members: []Member{member}, Digest: []Heartbeat{{Prefix: 1, Version: 2, Beat: 3}}},
		&GroupState{},
		&Forward{Token: 99, Target: identity.KeyID([]byte("k")), Path: []Contact{member.Contact}},
		&Forward{Token: 98, Path: []Contact{member.Contact, {ID: rep.Contact.ID}}},
		&GroupSync{Members: []Member{{Contact: Contact{ID: rep.Contact.ID}, Version: 1}}},
		&ForwardAck{},
		&LookupAnswer{Token: 99, Closest: []Contact{rep.Contact, testContact(6, "127.0.0.1:6")}, Hops: 3, Queried: 9, Failed: 1},
		&Referral{Contacts: []Contact{rep.Contact}},
	}
}

func TestHierarchyRoundTrip(t *testing.T) {
	for _, msg := range sampleHierarchyMessages() {
		b, err := Encode(3, msg)
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

func TestHierarchyDecodeRejects(t *testing.T) {
	valid := testContact(1, "127.0.0.1:9")
	tooManyMembers := make([]Member, MaxGroupMembers+1)
	for i := range tooManyMembers {
		tooManyMembers[i] = Member{Contact: valid}
	}
	tests := []struct {
		name string
		msg  Message
	}{
		{"too many members", &GroupSync{Members: tooManyMembers}},
		{"too many heartbeats", &GroupState{Digest: make([]Heartbeat, MaxGroupMembers+1)}},
		{"member without ID", &GroupState{Members: []Member{{Contact: Contact{Addr: valid.Addr}}}}},
		{"too many seeds", &GroupSync{Members: []Member{{Contact: valid, Seeds: make([]Contact, MaxSeeds+1)}}}},
		{"forward without path", &Forward{Token: 1}},
		{"forward with long path", &Forward{Token: 1, Path: make([]Contact, MaxPath+1)}},
		{"forward with addressless relay", &Forward{Token: 1, Path: []Contact{{ID: valid.ID}, valid}}},
		{"member with unroutable address", &GroupSync{Members: []Member{{Contact: Contact{ID: valid.ID, Addr: netip.MustParseAddrPort("0.0.0.0:1")}}}}},
		{"answer with bad contact", &LookupAnswer{Closest: []Contact{{ID: valid.ID}}}},
		{"referral with too many contacts", &Referral{Contacts: make([]Contact, MaxContacts+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Encode does not validate, so the invalid message reaches
			// the decoder as a peer would send it.
			b, err := Encode(1, tt.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if _, msg, err := Decode(b); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode = %v, %v; want ErrInvalid", msg, err)
			}
		})
	}
}

// FuzzDecodeHierarchy is FuzzDecode seeded with the hierarchy messages: it
// must never panic, and whatever it accepts must survive a round trip.
func FuzzDecodeHierarchy(f *testing.F) {
	for _, msg := range sampleHierarchyMessages() {
		b, err := Encode(11, msg)
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
		_, msg2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded %v does not decode: %v", msg.Type(), err)
		}
		if !reflect.DeepEqual(msg, msg2) {
			t.Fatalf("round trip changed %v: %#v != %#v", msg.Type(), msg, msg2)
		}
	})
}
