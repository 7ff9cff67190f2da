package node

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/identity"
)

// TestHierarchicalNodesLookUp starts nodes in hierarchical mode on
// loopback, where no LAN beacons run: each node is a group of its own and
// so its own representative, and they form the DHT through bootstrap.
func TestHierarchicalNodesLookUp(t *testing.T) {
	base := t.TempDir()
	start := func(name string, bootstrap ...string) *Node {
		n, err := Start(context.Background(), Config{
			DataDir: filepath.Join(base, name), Listen: "127.0.0.1:0", API: "127.0.0.1:0",
			Bootstrap: bootstrap, DiscoveryPort: -1, Mode: hierarchy.Hierarchical,
			Logger: testLogger(t).With("dir", name),
		})
		if err != nil {
			t.Fatalf("start node %s: %v", name, err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	first := start("a")
	nodes := []*Node{first}
	for _, name := range []string{"b", "c", "d"} {
		nodes = append(nodes, start(name, first.Addr().String()))
	}

	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to be a representative knowing the 3 others", func() bool {
			s := n.Status()
			return s.Role == "representative" && s.Mode == "hier" && len(s.Buckets) > 0 && len(n.Peers()) == 3
		})
	}
	target := identity.KeyID([]byte("some key"))
	res, err := nodes[3].Lookup(context.Background(), target)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if len(res.Closest) != 3 {
		t.Fatalf("lookup found %d nodes, want the 3 others", len(res.Closest))
	}
	if s := nodes[0].Status(); len(s.Representatives) != 1 || s.Representatives[0].ID != nodes[0].ID() {
		t.Errorf("a node alone on its LAN lists representatives %v, want only itself", s.Representatives)
	}
}
