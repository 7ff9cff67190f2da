package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/identity"
)

// hierLANs and hierHosts shape the lab: LAN l is 10.72.l.0/24 with the
// router at .254 and hosts at .1 to .hierHosts.
const (
	hierLANs  = 3
	hierHosts = 4
)

// hierElectLimit bounds how long the LANs take to elect representatives
// and the representatives to find one another through the router. A node
// waits for its LAN's records before it claims a seat and the DHT forms
// through bootstrap lookups, all within seconds; the limit leaves room for
// a loaded machine.
const hierElectLimit = 40 * time.Second

// newHierLab builds hierLANs bridges joined by one router namespace, with
// hierHosts hosts on each that route to the other LANs through it.
func newHierLab(t *testing.T) [][]*netns.Namespace {
	lab := netns.ForTest(t, "yuihier")
	router := lab.NewNamespace(t, "router")
	hosts := make([][]*netns.Namespace, hierLANs)
	for l := 1; l <= hierLANs; l++ {
		br := lab.NewBridge(t, fmt.Sprintf("lan%d", l))
		router.Attach(t, br, fmt.Sprintf("eth%d", l), netip.MustParsePrefix(fmt.Sprintf("10.72.%d.254/24", l)))
		for h := 1; h <= hierHosts; h++ {
			ns := lab.NewNamespace(t, fmt.Sprintf("l%d-h%d", l, h))
			ns.Attach(t, br, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.72.%d.%d/24", l, h)))
			gateway := netip.MustParseAddr(fmt.Sprintf("10.72.%d.254", l))
			if err := ns.AddRoute(netip.MustParsePrefix("10.72.0.0/16"), gateway); err != nil {
				t.Fatal(err)
			}
			hosts[l-1] = append(hosts[l-1], ns)
		}
	}
	if err := router.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	return hosts
}

// lookupIDs runs "yui lookup" for target on p and returns the IDs found.
func lookupIDs(ctx context.Context, p *process, target identity.NodeID) ([]identity.NodeID, error) {
	out, err := p.yui(ctx, "lookup", target.String(), "--json")
	if err != nil {
		return nil, err
	}
	var res api.LookupResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, err
	}
	var ids []identity.NodeID
	for _, c := range res.Closest {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// lanElected reports whether every node of a LAN agrees on the same
// representatives, as many as the LAN's nodes allow, and lists the LAN's
// other nodes as its group. It returns the representatives' IDs.
func lanElected(ctx context.Context, nodes []*process) ([]identity.NodeID, bool) {
	var reps []identity.NodeID
	for i, p := range nodes {
		s, err := p.status(ctx)
		if err != nil || s.Mode != "hier" || s.Group != len(nodes)-1 || len(s.Representatives) != min(3, len(nodes)) {
			return nil, false
		}
		var ids []identity.NodeID
		for _, c := range s.Representatives {
			ids = append(ids, c.ID)
		}
		slices.SortFunc(ids, identity.Compare)
		if i > 0 && !slices.Equal(ids, reps) {
			return nil, false
		}
		reps = ids
	}
	return reps, true
}

// TestHierarchyAcrossLANs runs three LANs of four nodes in hierarchical
// mode, joined by a router. The nodes of the first LAN have no bootstrap
// address; those of the others are given a node of the first. Each LAN
// must elect three representatives on its own, and a lookup from the
// member of one LAN must find the representatives of every LAN, which are
// the DHT's participants.
func TestHierarchyAcrossLANs(t *testing.T) {
	hosts := newHierLab(t)
	nodes := make([][]*process, hierLANs)
	for l, lanHosts := range hosts {
		for h, ns := range lanHosts {
			args := []string{"--mode", "hier"}
			if l > 0 {
				args = append(args, "--bootstrap", "10.72.1.1:4717")
			}
			nodes[l] = append(nodes[l], startNode(t, ns, fmt.Sprintf("lan%d-%d", l+1, h+1), args...))
		}
	}
	for _, lan := range nodes {
		for _, p := range lan {
			p.waitStarted(t)
		}
	}
	start := time.Now()
	ctx := context.Background()

	// Each LAN elects three representatives from LAN beacons alone.
	var participants []identity.NodeID
	var members []*process
	deadline := start.Add(hierElectLimit)
	for l, lan := range nodes {
		var reps []identity.NodeID
		for {
			var ok bool
			if reps, ok = lanElected(ctx, lan); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("LAN %d did not agree on 3 representatives within %v", l+1, hierElectLimit)
			}
			time.Sleep(200 * time.Millisecond)
		}
		participants = append(participants, reps...)
		for _, p := range lan {
			if s, err := p.status(ctx); err == nil && s.Role == "member" {
				members = append(members, p)
			}
		}
	}
	t.Logf("3 LANs elected their representatives %v after the nodes started", time.Since(start).Round(time.Millisecond))
	if len(members) != hierLANs {
		t.Fatalf("%d members in %d LANs of 4 nodes with 3 representatives each, want one per LAN", len(members), hierLANs)
	}
	slices.SortFunc(participants, identity.Compare)

	// A member's lookup, forwarded to its representatives, finds the
	// representatives of every LAN; members are not in the DHT.
	target := identity.KeyID([]byte("hierarchy e2e"))
	for _, m := range []*process{members[0], members[2]} {
		var got []identity.NodeID
		for {
			ids, err := lookupIDs(ctx, m, target)
			if err == nil {
				got = slices.Clone(ids)
				slices.SortFunc(got, identity.Compare)
				if slices.Equal(got, participants) {
					break
				}
			}
			if time.Now().After(deadline) {
				logPeers(t, nodes)
				t.Fatalf("lookup from %s found %d of the %d representatives (last error %v)", m.name, len(got), len(participants), err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("members' lookups found all %d representatives %v after the nodes started", len(participants), time.Since(start).Round(time.Millisecond))
}

// logPeers logs every node's peer table, to show which contacts a failed
// lookup could not reach.
func logPeers(t *testing.T, lans [][]*process) {
	ctx := context.Background()
	for _, lan := range lans {
		for _, p := range lan {
			out, err := p.yui(ctx, "peers")
			t.Logf("peers of %s (err %v):\n%s", p.name, err, out)
		}
	}
}
