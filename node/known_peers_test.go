package node

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

func knownPeer(b byte, addr string) wire.Contact {
	var id identity.NodeID
	id[0] = b
	return wire.Contact{ID: id, Addr: netip.MustParseAddrPort(addr)}
}

func TestKnownPeersRoundTrip(t *testing.T) {
	peers := []wire.Contact{knownPeer(1, "127.0.0.1:4717"), knownPeer(2, "[::1]:9000")}
	got, err := decodeKnownPeers(encodeKnownPeers(peers))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(peers) {
		t.Fatalf("decoded %d peers, want %d", len(got), len(peers))
	}
	for i := range peers {
		if got[i] != peers[i] {
			t.Errorf("peer %d = %v, want %v", i, got[i], peers[i])
		}
	}
}

func TestKnownPeersRejectsBadFiles(t *testing.T) {
	good := knownPeer(1, "127.0.0.1:4717")
	line := good.ID.String() + " " + good.Addr.String()
	many := knownPeersHeader + "\n" + strings.Repeat(line+"\n", maxKnownPeers+1)
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no header", line + "\n", "does not start with"},
		{"other version", "# yui known peers v2\n" + line, "does not start with"},
		{"one field", knownPeersHeader + "\n" + good.ID.String(), "line 2"},
		{"short ID", knownPeersHeader + "\nabcd 127.0.0.1:1", "abcd"},
		{"no port", knownPeersHeader + "\n" + good.ID.String() + " 127.0.0.1", `"127.0.0.1" is not IP:port`},
		{"port zero", knownPeersHeader + "\n" + good.ID.String() + " 127.0.0.1:0", "127.0.0.1:0"},
		{"host name", knownPeersHeader + "\n" + good.ID.String() + " example.org:4717", "example.org:4717"},
		{"too many", many, "more than 32"},
		{"too large", knownPeersHeader + "\n" + strings.Repeat("#", maxKnownPeersBytes), "bytes"},
	} {
		_, err := decodeKnownPeers([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestPickKnownPeers(t *testing.T) {
	now := time.Now()
	var self identity.NodeID
	var peers []kademlia.PeerInfo
	for i := range maxKnownPeers + 10 {
		c := knownPeer(byte(i+1), "127.0.0.1:4717")
		peers = append(peers, kademlia.PeerInfo{Contact: c, LastSeen: now.Add(time.Duration(i) * time.Second)})
	}
	peers[len(peers)-1].Failures = 1
	peers = append(peers, kademlia.PeerInfo{Contact: wire.Contact{ID: self, Addr: netip.MustParseAddrPort("127.0.0.1:1")}, LastSeen: now.Add(time.Hour)})

	got := pickKnownPeers(peers, self)
	if len(got) != maxKnownPeers {
		t.Fatalf("picked %d peers, want %d", len(got), maxKnownPeers)
	}
	for _, c := range got {
		if c.ID == self {
			t.Error("picked this node itself")
		}
		if c.ID == peers[maxKnownPeers+9].ID {
			t.Error("picked a peer whose last request failed")
		}
	}
	if got[0].ID != peers[maxKnownPeers+8].ID {
		t.Errorf("first pick %s, want the peer heard from last", got[0].ID.Short())
	}
}

func FuzzDecodeKnownPeers(f *testing.F) {
	f.Add(encodeKnownPeers([]wire.Contact{knownPeer(1, "127.0.0.1:4717"), knownPeer(2, "[::1]:9000")}))
	f.Add([]byte(knownPeersHeader + "\n\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		peers, err := decodeKnownPeers(data)
		if err != nil {
			return
		}
		if len(peers) > maxKnownPeers {
			t.Fatalf("decoded %d peers, more than %d", len(peers), maxKnownPeers)
		}
		again, err := decodeKnownPeers(encodeKnownPeers(peers))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(encodeKnownPeers(again), encodeKnownPeers(peers)) {
			t.Fatal("round trip changed the peers")
		}
	})
}

// TestRestartedNodeFindsKnownPeers restarts a node that has no bootstrap
// address and no LAN discovery, as the first node of a network is, and
// checks that it finds its peers again from the file it wrote.
func TestRestartedNodeFindsKnownPeers(t *testing.T) {
	base := t.TempDir()
	first := filepath.Join(base, "first")
	a := startLocal(t, first)
	b := startLocal(t, filepath.Join(base, "b"), a.Addr().String())
	waitFor(t, "the two nodes to know each other", func() bool {
		return len(a.Peers()) == 1 && len(b.Peers()) == 1
	})
	a.Close()
	if _, err := os.Stat(filepath.Join(first, knownPeersFile)); err != nil {
		t.Fatalf("known peers file after Close: %v", err)
	}

	again := startLocal(t, first)
	waitFor(t, "the restarted node to reach its known peer", func() bool {
		peers := again.Peers()
		return len(peers) == 1 && peers[0].ID == b.ID()
	})
	waitFor(t, "the peer to learn the restarted node's new address", func() bool {
		for _, p := range b.Peers() {
			if p.ID == again.ID() && p.Addr == again.Addr() {
				return true
			}
		}
		return false
	})
}

func TestKnownPeersKeepsGoodLines(t *testing.T) {
	good := knownPeer(1, "127.0.0.1:4717")
	file := knownPeersHeader + "\n" + good.ID.String() + " " + good.Addr.String() + "\nzz 127.0.0.1:1\n" + strings.Repeat("x", 5000) + "\n"
	peers, err := decodeKnownPeers([]byte(file))
	if len(peers) != 1 || peers[0] != good {
		t.Errorf("decoded %v, want the good line's peer alone", peers)
	}
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %v, want one naming line 3", err)
	}
	if err != nil && len(err.Error()) > 300 {
		t.Errorf("error is %d bytes long; a long bad line must be cut", len(err.Error()))
	}
}
