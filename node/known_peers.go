package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// Known peers. A node writes some of its contacts to its data folder, and
// on the next start contacts them before anything else. Without the file a
// node started without --bootstrap, on a network where LAN discovery does
// not reach the others, stays alone after a restart: its contacts evicted
// it while it was down, and nothing tells them it is back.
const (
	// knownPeersFile is the file's name in the data folder.
	knownPeersFile = "known-peers"
	// knownPeersHeader is the file's first line, which names its format.
	knownPeersHeader = "# yui known peers v1"
	// maxKnownPeers is how many contacts the file keeps.
	maxKnownPeers = 32
	// maxKnownPeersBytes bounds the file read at start: 32 lines of a
	// 64-digit ID and an address take under 4 KiB, so a larger file is
	// not one this node wrote.
	maxKnownPeersBytes = 64 << 10
	// knownPeersEvery is how often a running node rewrites the file, so a
	// node that crashes still leaves a recent one.
	knownPeersEvery = time.Minute
)

// encodeKnownPeers writes the header, then one "ID ADDR" line per contact.
func encodeKnownPeers(peers []wire.Contact) []byte {
	var b bytes.Buffer
	b.WriteString(knownPeersHeader + "\n")
	for _, c := range peers {
		fmt.Fprintf(&b, "%s %s\n", c.ID, c.Addr)
	}
	return b.Bytes()
}

// decodeKnownPeers reads a file written by encodeKnownPeers. It rejects
// the whole file on the first bad line, naming it, since a file this node
// wrote has none.
func decodeKnownPeers(data []byte) ([]wire.Contact, error) {
	if len(data) > maxKnownPeersBytes {
		return nil, fmt.Errorf("node: %s is %d bytes, more than %d", knownPeersFile, len(data), maxKnownPeersBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 256), maxKnownPeersBytes)
	if !sc.Scan() || sc.Text() != knownPeersHeader {
		return nil, fmt.Errorf("node: %s does not start with %q", knownPeersFile, knownPeersHeader)
	}
	var peers []wire.Contact
	for line := 2; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" {
			continue
		}
		if len(peers) == maxKnownPeers {
			return nil, fmt.Errorf("node: %s has more than %d peers", knownPeersFile, maxKnownPeers)
		}
		c, err := parseKnownPeer(text)
		if err != nil {
			return nil, fmt.Errorf("node: %s line %d: %w", knownPeersFile, line, err)
		}
		peers = append(peers, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("node: read %s: %w", knownPeersFile, err)
	}
	return peers, nil
}

func parseKnownPeer(text string) (wire.Contact, error) {
	idText, addrText, ok := strings.Cut(text, " ")
	if !ok {
		return wire.Contact{}, fmt.Errorf("%q is not \"ID ADDRESS\"", text)
	}
	id, err := identity.ParseID(idText)
	if err != nil {
		return wire.Contact{}, err
	}
	addr, err := netip.ParseAddrPort(addrText)
	if err != nil || !addr.IsValid() || addr.Port() == 0 {
		return wire.Contact{}, fmt.Errorf("address %q is not IP:port", addrText)
	}
	return wire.Contact{ID: id, Addr: addr}, nil
}

// pickKnownPeers returns up to maxKnownPeers contacts worth keeping: those
// whose last request did not fail, most recently heard from first.
func pickKnownPeers(peers []kademlia.PeerInfo, self identity.NodeID) []wire.Contact {
	peers = slices.DeleteFunc(slices.Clone(peers), func(p kademlia.PeerInfo) bool {
		return p.Failures > 0 || p.ID == self || !p.Addr.IsValid()
	})
	slices.SortStableFunc(peers, func(a, b kademlia.PeerInfo) int { return b.LastSeen.Compare(a.LastSeen) })
	var out []wire.Contact
	for _, p := range peers[:min(len(peers), maxKnownPeers)] {
		out = append(out, p.Contact)
	}
	return out
}

// saveKnownPeers writes the node's best contacts to its data folder. A
// node with no contacts leaves the file as it is, so that a node that
// lost every contact keeps the ones it had.
func (n *Node) saveKnownPeers() error {
	peers := pickKnownPeers(n.Peers(), n.id.ID)
	if len(peers) == 0 {
		return nil
	}
	return writeFileAtomic(filepath.Join(n.cfg.DataDir, knownPeersFile), encodeKnownPeers(peers))
}

// loadKnownPeers reads the contacts a previous run saved. A missing file
// gives none; a bad one is logged and ignored, since the node can still
// join through --bootstrap or the LAN.
func (n *Node) loadKnownPeers() []wire.Contact {
	path := filepath.Join(n.cfg.DataDir, knownPeersFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, maxKnownPeersBytes+1))
		f.Close()
	}
	var peers []wire.Contact
	if err == nil {
		peers, err = decodeKnownPeers(data)
	}
	if err != nil {
		n.log.Warn("known peers file ignored; it is rewritten within a minute", "file", path, "err", err)
		return nil
	}
	return peers
}

// keepKnownPeers rewrites the known peers file every knownPeersEvery
// until the router stops. Close writes it once more.
func (n *Node) keepKnownPeers() {
	ticker := time.NewTicker(knownPeersEvery)
	defer ticker.Stop()
	for {
		select {
		case <-n.router.stop:
			return
		case <-ticker.C:
		}
		if err := n.saveKnownPeers(); err != nil {
			n.log.Warn("known peers not saved", "err", err)
		}
	}
}
