package wire

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleClusterMessages() []Message {
	member := Contact{ID: [32]byte{1}, Addr: netip.MustParseAddrPort("127.0.0.1:4717")}
	return []Message{
		&JoinCluster{Cell: "50.5,4.0", TTLSeconds: 900},
		&GetCluster{Cell: "-90.0,-180.0"},
		&ClusterMembers{Members: []Contact{member}},
		&ClusterMembers{},
		&PutShard{Chunk: Hash{2}, Shard: []byte("shard"), Cell: "45.0,7.5"},
	}
}

func TestClusterRoundTrip(t *testing.T) {
	for _, msg := range sampleClusterMessages() {
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
	}
}

func TestClusterDecodeRejects(t *testing.T) {
	member := Contact{ID: [32]byte{1}, Addr: netip.MustParseAddrPort("127.0.0.1:4717")}
	tests := []struct {
		name string
		msg  Message
	}{
		{"join without cell", &JoinCluster{TTLSeconds: 60}},
		{"join without lifetime", &JoinCluster{Cell: "50.5,4.0"}},
		{"join with a long cell name", &JoinCluster{Cell: strings.Repeat("1", MaxCellName+1), TTLSeconds: 60}},
		{"get without cell", &GetCluster{}},
		{"members over the limit", &ClusterMembers{Members: make([]Contact, MaxClusterMembers+1)}},
		{"member without address", &ClusterMembers{Members: []Contact{{ID: member.ID}}}},
		{"shard with a long cell name", &PutShard{Chunk: Hash{1}, Shard: []byte("s"), Cell: strings.Repeat("1", MaxCellName+1)}},
		{"shard with a cell that is not UTF-8", &PutShard{Chunk: Hash{1}, Shard: []byte("s"), Cell: "\xff"}},
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

// FuzzDecodeCluster is FuzzDecode seeded with the cluster membership
// messages.
func FuzzDecodeCluster(f *testing.F) {
	for _, msg := range sampleClusterMessages() {
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
