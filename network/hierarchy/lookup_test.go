package hierarchy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
	"github.com/yuinet/yui/network/kademlia"
)

// smallNetwork builds groups groups of size nodes and runs until every
// group has settled on 3 representatives and two more minutes for the
// DHT to fill.
func smallNetwork(t *testing.T, seed uint64, groups, size int) *hierarchytest.Network {
	t.Helper()
	net := buildNetwork(t, hierarchytest.Options{Seed: seed, Config: hier}, groups, size)
	all := func() bool {
		for g := range groups {
			if !settled(net, g, 3) {
				return false
			}
		}
		return true
	}
	if !net.RunUntil(settleLimit, all) {
		t.Fatal("groups did not settle")
	}
	net.RunFor(2 * time.Minute)
	return net
}

func TestMemberLookupForwarded(t *testing.T) {
	net := smallNetwork(t, 20, 4, 6)
	member := members(net, 0)[0]
	target := representatives(net, 2)[0].Contact.ID

	res, err := net.LookupWait(member, target, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := contactIDs(res.Closest), trueClosest(net, member, target, 20); !slices.Equal(got, want) {
		t.Fatalf("member's lookup found %d nodes %v, want the 12 representatives %v", len(got), got, want)
	}
	// A representative of the member's own group one LAN hop away ran
	// the iterative lookup: the forward is one more hop.
	if res.Hops < 1 {
		t.Errorf("Hops = %d, want at least 1 for the forward", res.Hops)
	}
	if res.Failed != 0 {
		t.Errorf("Failed = %d with every node alive, want 0", res.Failed)
	}
	for _, c := range res.Closest {
		if i := slices.IndexFunc(net.Nodes(), func(n *hierarchytest.Node) bool { return n.Contact.ID == c.ID }); !net.Nodes()[i].Machine.IsRepresentative() {
			t.Errorf("lookup returned node %d, which is no representative", i)
		}
	}
}

// TestForwardFailsOver kills two of a group's three representatives
// without anyone noticing, then starts lookups from every member at once:
// each must succeed through the third.
func TestForwardFailsOver(t *testing.T) {
	net := smallNetwork(t, 21, 4, 8)
	reps := representatives(net, 0)
	net.Kill(reps[0])
	net.Kill(reps[1])
	target := representatives(net, 1)[0].Contact.ID

	failed := 0
	for _, m := range members(net, 0) {
		res, err := net.LookupWait(m, target, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Closest) == 0 || res.Closest[0].ID != target {
			t.Errorf("lookup from node %d did not find the target first: %v", m.Index, contactIDs(res.Closest))
		}
		failed += res.Failed
	}
	if failed == 0 {
		t.Error("no lookup counted a failed forward, so none tried a dead representative first")
	}
}

// TestRepresentativesAllDie kills every representative of one group: the
// members elect new ones, which join the DHT through the seeds the group
// keeps, and the members' lookups succeed again within a bounded time.
func TestRepresentativesAllDie(t *testing.T) {
	net := smallNetwork(t, 22, 5, 8)
	for _, r := range representatives(net, 0) {
		net.Kill(r)
	}
	start := net.Now()

	// The last record of a dead node reaches the last members a few
	// gossip rounds after its death. They count it dead SuspectTimeout
	// later, after one failed check, and claim the seats at once.
	limit := hier.WithDefaults().SuspectTimeout + 30*time.Second
	if !net.RunUntil(limit, func() bool { return settled(net, 0, 3) }) {
		t.Fatalf("group has %d representatives %v after its old ones died", len(representatives(net, 0)), limit)
	}
	t.Logf("new representatives elected %v after the old ones died", net.Now().Sub(start))

	// A new representative's routing table fills once the seeds it pings
	// answer, since the routing core admits only verified contacts.
	net.RunFor(30 * time.Second)
	for _, r := range representatives(net, 0) {
		if r.Machine.Routing() == nil || r.Machine.Routing().Len() == 0 {
			t.Errorf("new representative %d has an empty routing table 30 s after its election", r.Index)
		}
	}

	// Lookups from the group's members and into it work again.
	exact, total := 0, 0
	for _, m := range members(net, 0) {
		for range 4 {
			target := randomID(net.Rand())
			res, err := net.LookupWait(m, target, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			total++
			if slices.Equal(contactIDs(res.Closest), trueClosest(net, m, target, 20)) {
				exact++
			}
		}
	}
	if exact < total*9/10 {
		t.Errorf("%d of %d lookups from the group exact after the failover, want at least 90%%", exact, total)
	}
	other := members(net, 3)[0]
	newRep := representatives(net, 0)[0].Contact.ID
	res, err := net.LookupWait(other, newRep, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Closest) == 0 || res.Closest[0].ID != newRep {
		t.Errorf("lookup from another group does not find a new representative first")
	}
}

// TestRelayedForward sends a member's Forward to another member, as an
// out-of-date view would: the member relays it to a representative, which
// answers the origin, and the path teaches both about the origin.
func TestRelayedForward(t *testing.T) {
	net := smallNetwork(t, 23, 2, 6)
	mems := members(net, 0)
	origin, relay := mems[0], mems[1]
	target := representatives(net, 1)[0].Contact.ID

	var id kademlia.LookupID
	net.Call(origin, func(now time.Time, m *hierarchy.Machine) { id = m.ForwardVia(now, relay.Contact, target) })
	var res kademlia.LookupResult
	done := net.RunUntil(time.Minute, func() bool {
		r, ok := origin.Result(id)
		res = r
		return ok
	})
	if !done {
		t.Fatal("relayed lookup unanswered after a minute")
	}
	if len(res.Closest) == 0 || res.Closest[0].ID != target {
		t.Fatalf("relayed lookup returned %v, want the target first", contactIDs(res.Closest))
	}
	if res.Failed != 0 {
		t.Errorf("Failed = %d, want 0: the relay accepted", res.Failed)
	}
}
