package hierarchy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
	"github.com/yuinet/yui/network/identity"
)

// settleLimit bounds how long a small group takes to agree on its
// representatives: beacons are exchanged at once and every change of role
// is announced, so a few gossip rounds suffice.
const settleLimit = time.Minute

func oneGroup(t *testing.T, size int, opts hierarchytest.Options) *hierarchytest.Network {
	t.Helper()
	opts.Config.Mode = hierarchy.Hierarchical
	net := hierarchytest.New(opts)
	for range size {
		net.AddNode(0)
		net.RunFor(100 * time.Millisecond)
	}
	if !net.RunUntil(settleLimit, func() bool { return settled(net, 0, 3) }) {
		t.Fatalf("group of %d did not settle on 3 representatives within %v (%d claim)", size, settleLimit, len(representatives(net, 0)))
	}
	return net
}

func TestGroupElectsBestNodes(t *testing.T) {
	// Capacities 1..8 MiB: the last three nodes added are the best.
	var scores []hierarchy.Score
	for i := range 8 {
		scores = append(scores, hierarchy.Score{Capacity: uint32(1) << i})
	}
	net := oneGroup(t, 8, hierarchytest.Options{Seed: 1, Score: fixedScore(scores...)})

	// The first nodes took the free seats. Each better node takes one
	// from the weakest representative by a challenge that lasts HoldTime.
	net.RunFor(4 * hier.WithDefaults().HoldTime)
	var got []int
	for _, n := range representatives(net, 0) {
		got = append(got, n.Index)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{5, 6, 7}) {
		t.Fatalf("representatives are nodes %v, want the three best, [5 6 7]", got)
	}
	for _, n := range net.GroupNodes(0) {
		if g := len(n.Machine.Group()); g != 7 {
			t.Errorf("node %d lists %d group members, want 7", n.Index, g)
		}
		if n.Machine.IsRepresentative() != (n.Machine.Routing() != nil) {
			t.Errorf("node %d: representative %v but routing table present %v",
				n.Index, n.Machine.IsRepresentative(), n.Machine.Routing() != nil)
		}
	}
}

func TestGroupTieBrokenByID(t *testing.T) {
	same := hierarchy.Score{Capacity: 100, Link: 100}
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 2, Score: fixedScore(same)})
	net.RunFor(hier.WithDefaults().HoldTime + time.Minute)

	nodes := net.GroupNodes(0)
	slices.SortFunc(nodes, func(a, b *hierarchytest.Node) int { return identity.Compare(a.Contact.ID, b.Contact.ID) })
	// Every node starts with uptime zero, so merits differ only by the
	// order of joining; the hysteresis margin keeps the first claimants.
	if reps := representatives(net, 0); len(reps) != 3 {
		t.Fatalf("%d representatives, want 3", len(reps))
	}
	if !settled(net, 0, 3) {
		t.Fatal("views of the representatives differ")
	}
}

func TestGroupMemberSilentDeath(t *testing.T) {
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 3})
	victim := members(net, 0)[0]
	net.Kill(victim)

	limit := hier.WithDefaults().SuspectTimeout + 10*time.Second
	gone := func() bool {
		for _, n := range net.GroupNodes(0) {
			if slices.Contains(contactIDs(n.Machine.Group()), victim.Contact.ID) {
				return false
			}
		}
		return true
	}
	if !net.RunUntil(limit, gone) {
		t.Fatalf("dead member still listed after %v", limit)
	}
	if !settled(net, 0, 3) {
		t.Fatal("group did not keep 3 agreed representatives after a member died")
	}
}

func TestGroupMemberLeave(t *testing.T) {
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 4})
	leaver := members(net, 0)[0]
	net.Leave(leaver)
	net.RunFor(10 * time.Millisecond)

	for _, n := range net.GroupNodes(0) {
		if slices.Contains(contactIDs(n.Machine.Group()), leaver.Contact.ID) {
			t.Errorf("node %d still lists the member that left", n.Index)
		}
	}
}

func TestRepresentativeLeaveReplacedAtOnce(t *testing.T) {
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 5})
	leaver := representatives(net, 0)[0]
	net.Leave(leaver)

	// Leave reaches every member within a millisecond, and the best member
	// claims the free seat as soon as it hears.
	if !net.RunUntil(time.Second, func() bool { return settled(net, 0, 3) }) {
		t.Fatalf("%d representatives one second after one left, want 3", len(representatives(net, 0)))
	}
}

func TestGroupRestartedNodeRejoins(t *testing.T) {
	net := oneGroup(t, 5, hierarchytest.Options{Seed: 6})
	node := members(net, 0)[0]
	net.Kill(node)
	net.RunFor(hier.WithDefaults().SuspectTimeout + 10*time.Second)
	net.Restart(node, hierarchy.Score{})

	if !net.RunUntil(settleLimit, func() bool { return settled(net, 0, 3) && len(net.GroupNodes(0)) == 5 }) {
		t.Fatal("restarted node did not rejoin its group")
	}
	for _, n := range net.GroupNodes(0) {
		if n != node && !slices.Contains(contactIDs(n.Machine.Group()), node.Contact.ID) {
			t.Errorf("node %d does not list the restarted node", n.Index)
		}
	}
}

// TestLenCountsEachPeerOnce checks that a representative, whose group
// members may also be routing contacts, counts each of them once.
func TestLenCountsEachPeerOnce(t *testing.T) {
	net := buildNetwork(t, hierarchytest.Options{Seed: 3, Config: hier}, 2, 5)
	net.RunFor(time.Minute)
	overlap := 0
	for _, n := range net.Nodes() {
		m := n.Machine
		if got, want := m.Len(), len(m.Peers()); got != want {
			t.Errorf("node %d: Len() = %d, len(Peers()) = %d", n.Index, got, want)
		}
		if m.Routing() == nil {
			continue
		}
		for _, c := range m.Group() {
			if m.Routing().Contains(c.ID) {
				overlap++
			}
		}
	}
	if overlap == 0 {
		t.Fatal("no group member is also a routing contact; the test checks nothing")
	}
}
