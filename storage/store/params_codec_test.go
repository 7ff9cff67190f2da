package store

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// TestParamsEncoding checks that parameters with global placement keep
// the encoding descriptors had before placement existed, so that their
// signed bytes do not change, and that cluster placement round-trips.
func TestParamsEncoding(t *testing.T) {
	global := DefaultNamespaceParams()
	old, err := encMode.Marshal(paramsV1{Chunking: global.Chunking, Data: global.Data, Parity: global.Parity,
		Replicas: global.Replicas, DirBits: global.DirBits})
	if err != nil {
		t.Fatal(err)
	}
	got, err := marshal("params", global)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, old) {
		t.Errorf("global parameters encode as %x, want the old encoding %x", got, old)
	}

	cluster := global
	cluster.Placement = PlaceCluster
	b, err := marshal("params", cluster)
	if err != nil {
		t.Fatal(err)
	}
	var back NamespaceParams
	if err := unmarshal("params", b, 1024, &back); err != nil || back != cluster {
		t.Fatalf("cluster parameters decode as %+v, %v; want %+v", back, err, cluster)
	}

	// The second encoding with global placement is refused, so that one
	// descriptor has one encoding.
	twice, err := encMode.Marshal(paramsV2{Chunking: global.Chunking, Data: global.Data, Parity: global.Parity,
		Replicas: global.Replicas})
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshal("params", twice, 1024, &back); err == nil {
		t.Error("global placement in the cluster encoding was accepted")
	}
}

func TestCheckCell(t *testing.T) {
	for _, tt := range []struct {
		cell string
		ok   bool
	}{
		{"50.5,4.0", true},
		{"-90.0,-180.0", true},
		{"50.6,4.0", false}, // not a corner
		{"50.5,4", false},   // another spelling of a corner
		{"91.0,4.0", false},
		{"", false},
		{"brussels", false},
	} {
		if err := checkCell(tt.cell); (err == nil) != tt.ok {
			t.Errorf("checkCell(%q) = %v, want ok %v", tt.cell, err, tt.ok)
		}
	}
}

// TestMemberBook checks expiry and the limits of a directory holder's
// registrations.
func TestMemberBook(t *testing.T) {
	var b memberBook
	now := time.Unix(1000, 0)
	contact := func(i int) wire.Contact {
		var id identity.NodeID
		id[0], id[1] = byte(i>>8), byte(i)
		return wire.Contact{ID: id, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 4717)}
	}
	if !b.join(cellA, contact(1), now.Add(time.Minute), now) || !b.join(cellA, contact(2), now.Add(time.Hour), now) {
		t.Fatal("join refused")
	}
	if got := b.list(cellA, now); len(got) != 2 {
		t.Fatalf("list = %d members, want 2", len(got))
	}
	if got := b.list(cellA, now.Add(2*time.Minute)); len(got) != 1 || got[0].ID != contact(2).ID {
		t.Fatalf("list after the first expired = %v, want only the second", got)
	}
	for i := range wire.MaxClusterMembers - 1 {
		if !b.join(cellB, contact(10+i), now.Add(time.Minute), now) {
			t.Fatalf("join %d refused", i)
		}
	}
	if !b.join(cellB, contact(9), now.Add(time.Minute), now) {
		t.Fatal("join of the last member that fits refused")
	}
	if b.join(cellB, contact(5000), now.Add(time.Minute), now) {
		t.Error("join beyond MaxClusterMembers accepted")
	}
	if !b.join(cellB, contact(5000), now.Add(2*time.Minute), now.Add(time.Minute)) {
		t.Error("join refused after the others expired")
	}
}

// TestMemberBookOneCellPerNode checks that a node registering in a new
// cell leaves its old one, so that one node cannot fill a directory
// holder's book with cells and lock others out.
func TestMemberBookOneCellPerNode(t *testing.T) {
	var b memberBook
	now := time.Unix(1000, 0)
	liar := wire.Contact{ID: identity.NodeID{1}, Addr: netip.MustParseAddrPort("10.0.0.1:4717")}
	honest := wire.Contact{ID: identity.NodeID{2}, Addr: netip.MustParseAddrPort("10.0.0.2:4717")}
	for i := range maxBookCells + 10 {
		cell := fmt.Sprintf("%d.0,%d.0", i/360-80, i%360-180)
		if !b.join(cell, liar, now.Add(time.Hour), now) {
			t.Fatalf("join %d in cell %s refused", i, cell)
		}
	}
	if len(b.cells) != 1 {
		t.Errorf("book keeps %d cells of one node, want 1", len(b.cells))
	}
	if !b.join(cellA, honest, now.Add(time.Hour), now) {
		t.Fatal("another node's join refused after one node registered in many cells")
	}

	b.join(cellA, liar, now.Add(time.Hour), now)
	if got := b.list(cellA, now); len(got) != 2 {
		t.Errorf("cell A lists %d members, want 2", len(got))
	}
	if len(b.cells) != 1 {
		t.Errorf("book keeps %d cells after the node moved to cell A, want 1", len(b.cells))
	}
}

// FuzzNamespaceParams decodes arbitrary bytes as namespace parameters, as
// a descriptor body carries them: what decodes must encode to the same
// bytes, so that a descriptor's signed encoding is the only one.
func FuzzNamespaceParams(f *testing.F) {
	for _, pl := range []Placement{PlaceGlobal, PlaceCluster} {
		p := DefaultNamespaceParams()
		p.Placement = pl
		b, err := marshal("params", p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p NamespaceParams
		if err := unmarshal("params", b, 1024, &p); err != nil {
			return
		}
		again, err := marshal("params", p)
		if err != nil {
			t.Fatalf("decoded parameters do not encode: %v", err)
		}
		var back NamespaceParams
		if err := unmarshal("params", again, 1024, &back); err != nil || back != p {
			t.Fatalf("round trip changed %+v to %+v: %v", p, back, err)
		}
	})
}
