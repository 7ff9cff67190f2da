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
	"strconv"
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
	// knownPeersPatience is how long after the start a node that reached
	// none of its known peers says so.
	knownPeersPatience = 30 * time.Second
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

// decodeKnownPeers reads a file written by encodeKnownPeers. It returns
// the peers of the good lines, and an error naming the first bad line,
// if any, so that one damaged line does not cost the others. A file
// without the header, or larger than any this node writes, gives no
// peers.
func decodeKnownPeers(data []byte) ([]wire.Contact, error) {
	if len(data) > maxKnownPeersBytes {
		return nil, fmt.Errorf("node: %s is larger than %d bytes, so this node did not write it", knownPeersFile, maxKnownPeersBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 256), maxKnownPeersBytes)
	if !sc.Scan() || sc.Text() != knownPeersHeader {
		return nil, fmt.Errorf("node: %s does not start with %q", knownPeersFile, knownPeersHeader)
	}
	var (
		peers []wire.Contact
		bad   error
	)
	for line := 2; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" {
			continue
		}
		if len(peers) == maxKnownPeers {
			return peers, fmt.Errorf("node: %s has more than %d peers; using the first %d", knownPeersFile, maxKnownPeers, maxKnownPeers)
		}
		c, err := parseKnownPeer(text)
		if err != nil {
			if bad == nil {
				bad = fmt.Errorf("node: %s line %d: %w", knownPeersFile, line, err)
			}
			continue
		}
		peers = append(peers, c)
	}
	if err := sc.Err(); err != nil {
		return peers, fmt.Errorf("node: read %s: %w", knownPeersFile, err)
	}
	return peers, bad
}

// quoteShort quotes text for an error, cut to 80 bytes, since a damaged
// file can hold a line of any length.
func quoteShort(text string) string {
	if len(text) > 80 {
		return strconv.Quote(text[:80]) + "..."
	}
	return strconv.Quote(text)
}

func parseKnownPeer(text string) (wire.Contact, error) {
	idText, addrText, ok := strings.Cut(text, " ")
	if !ok {
		return wire.Contact{}, fmt.Errorf("%s is not \"ID ADDRESS\"", quoteShort(text))
	}
	id, err := identity.ParseID(idText)
	if err != nil {
		return wire.Contact{}, fmt.Errorf("node ID %s is not %d hex digits", quoteShort(idText), 2*identity.IDLen)
	}
	addr, err := netip.ParseAddrPort(addrText)
	if err != nil || !addr.IsValid() || addr.Port() == 0 {
		return wire.Contact{}, fmt.Errorf("address %s is not IP:port", quoteShort(addrText))
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
		n.log.Warn("known peers file damaged; using its good lines, and rewriting it within a minute", "file", path,
			"peers", len(peers), "err", err)
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

// checkKnownPeers warns when, knownPeersPatience after the start, the
// node has reached none of the known peers it contacted nor any other:
// they all left or moved, and the node needs another way in.
func (n *Node) checkKnownPeers(known int) {
	select {
	case <-n.router.stop:
		return
	case <-time.After(knownPeersPatience):
	}
	if len(n.Peers()) == 0 {
		n.log.Warn("none of the peers known from the last run answered; pass --bootstrap HOST:PORT of a running node, or check that LAN discovery reaches one",
			"known", known, "file", filepath.Join(n.cfg.DataDir, knownPeersFile))
	}
}
