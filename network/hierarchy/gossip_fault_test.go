package hierarchy_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
	"github.com/yuinet/yui/network/wire"
)

// recordsCurrent returns an error naming the first node of group g that
// lacks a live node's record or holds it at another version than the
// node's own.
func recordsCurrent(net *hierarchytest.Network, g int) error {
	nodes := net.GroupNodes(g)
	for _, n := range nodes {
		for _, other := range nodes {
			own, _ := other.Machine.RecordOf(other.Contact.ID)
			rec, ok := n.Machine.RecordOf(other.Contact.ID)
			switch {
			case !ok:
				return fmt.Errorf("node %d holds no record of node %d", n.Index, other.Index)
			case rec.Version != own.Version:
				return fmt.Errorf("node %d holds version %d of node %d, which is at %d", n.Index, rec.Version, other.Index, own.Version)
			}
		}
	}
	return nil
}

// TestGroupHealsAfterSplit cuts a group in halves that lose every message
// between them. The cut lasts long enough for each half to count the other
// dead and elect its own representatives, and in the long case to drop
// the tombstones too. After the cut heals, one beacon between the halves
// and then gossip under 30% loss must bring the group back to one view.
// Every node then lists every other at its current version, and all agree
// on 3 representatives.
func TestGroupHealsAfterSplit(t *testing.T) {
	for _, split := range []time.Duration{3 * time.Minute, 12 * time.Minute} {
		t.Run(split.String(), func(t *testing.T) {
			net := oneGroup(t, 12, hierarchytest.Options{Seed: 21})
			net.RunFor(time.Minute)
			nodes := net.GroupNodes(0)
			net.Split(nodes[:6]...)
			net.RunFor(split)
			for _, half := range [][]*hierarchytest.Node{nodes[:6], nodes[6:]} {
				for _, n := range half {
					if got := len(n.Machine.Group()); got != 5 {
						t.Fatalf("node %d lists %d members during the split, want the 5 of its half", n.Index, got)
					}
				}
			}

			net.Heal()
			net.Call(nodes[0], func(now time.Time, m *hierarchy.Machine) { m.AddNeighbour(now, nodes[6].Contact) })
			net.RunFor(time.Second)
			net.SetLoss(0.3)
			net.RunFor(2 * time.Minute)
			net.SetLoss(0)
			limit := time.Minute
			if !net.RunUntil(limit, func() bool { return settled(net, 0, 3) && recordsCurrent(net, 0) == nil }) {
				t.Fatalf("group not whole 3 minutes after a split of %v: %d representatives, %v",
					split, len(representatives(net, 0)), recordsCurrent(net, 0))
			}
		})
	}
}

// TestRestartWithEarlierClock restarts a node with its wall clock an hour
// behind its previous run, so that its new versions start below the one
// the group holds of it. The node must jump past that version, and the
// group must take in its new record.
func TestRestartWithEarlierClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		down time.Duration
		rep  bool
	}{
		{"member at once", 0, false},
		{"member after death", 2 * time.Minute, false},
		{"representative at once", 0, true},
		{"representative after death", 2 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := oneGroup(t, 8, hierarchytest.Options{Seed: 22})
			net.RunFor(time.Minute)
			node := members(net, 0)[0]
			if tc.rep {
				node = representatives(net, 0)[0]
			}
			old, _ := node.Machine.RecordOf(node.Contact.ID)
			net.Kill(node)
			net.RunFor(tc.down)
			score := hierarchy.Score{Capacity: 77, Link: 77}
			net.RestartSkewed(node, score, -time.Hour)

			recordTaken := func() bool {
				for _, n := range net.GroupNodes(0) {
					if rec, _ := n.Machine.RecordOf(node.Contact.ID); rec.Capacity != score.Capacity {
						return false
					}
				}
				return settled(net, 0, 3) && recordsCurrent(net, 0) == nil
			}
			limit := 2 * time.Minute
			if !net.RunUntil(limit, recordTaken) {
				t.Fatalf("group has not taken in the restarted node's record after %v: %d representatives, %v",
					limit, len(representatives(net, 0)), recordsCurrent(net, 0))
			}
			if rec, _ := node.Machine.RecordOf(node.Contact.ID); rec.Version <= old.Version {
				t.Errorf("restarted node writes version %d, not above %d of its previous run", rec.Version, old.Version)
			}
		})
	}
}

// TestUptimeGrowsAfterClockWentBack restarts a node with its clock an
// hour behind, so that its record's version runs ahead of its wall clock.
// Its heartbeat must still count the milliseconds since the version was
// written, so that the group adds them to the uptime the record states.
func TestUptimeGrowsAfterClockWentBack(t *testing.T) {
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 23})
	net.RunFor(time.Minute)
	node := members(net, 0)[0]
	net.Kill(node)
	net.RestartSkewed(node, hierarchy.Score{Capacity: 77, Link: 77}, -time.Hour)
	net.RunFor(10 * time.Minute)

	for _, n := range net.GroupNodes(0) {
		rec, _ := n.Machine.RecordOf(node.Contact.ID)
		uptime := time.Duration(rec.Uptime)*time.Second + time.Duration(rec.Beat)*time.Millisecond
		if uptime < 9*time.Minute {
			t.Errorf("node %d computes an uptime of %v for node %d, restarted 10 minutes ago", n.Index, uptime, node.Index)
		}
	}
}

// forge sends node a GroupSync from a node outside the simulation, as a
// hostile or broken host on the LAN would.
func forge(net *hierarchytest.Network, node *hierarchytest.Node, msg *wire.GroupSync) wire.Message {
	from := wire.Contact{ID: randomID(rand.New(rand.NewPCG(99, 99))), Addr: hierarchytest.Addr(900)}
	var resp wire.Message
	net.Call(node, func(now time.Time, m *hierarchy.Machine) {
		resp = m.HandleRequest(now, from, 1, msg)
	})
	return resp
}

// TestForgedVersionOfRecord gives one member a forged copy of another's
// record at a huge version. A version the owner can jump past must be
// superseded by its next change. A version the owner cannot jump past,
// because the next one would overflow, must be ignored.
func TestForgedVersionOfRecord(t *testing.T) {
	for _, version := range []uint64{1 << 61, 1<<62 + 1, ^uint64(0)} {
		t.Run(fmt.Sprint(version), func(t *testing.T) {
			net := oneGroup(t, 6, hierarchytest.Options{Seed: 24})
			net.RunFor(time.Minute)
			node := members(net, 0)[0]
			rec, _ := node.Machine.RecordOf(node.Contact.ID)
			rec.Version = version
			forge(net, net.GroupNodes(0)[0], &wire.GroupSync{Members: []wire.Member{rec}})
			net.RunFor(time.Minute)

			score := hierarchy.Score{Uptime: time.Hour, Capacity: 1 << 20, Link: 5000}
			net.Call(node, func(now time.Time, m *hierarchy.Machine) { m.SetScore(now, score) })
			net.RunFor(time.Minute)
			if err := recordsCurrent(net, 0); err != nil {
				t.Error(err)
			}
			for _, n := range net.GroupNodes(0) {
				if rec, _ := n.Machine.RecordOf(node.Contact.ID); rec.Capacity != score.Capacity {
					t.Errorf("node %d holds capacity %d of node %d, want %d", n.Index, rec.Capacity, node.Index, score.Capacity)
				}
			}
		})
	}
}

// TestGroupWithSharedPrefix adds two members whose IDs share the 8 bytes
// that name them in a digest. Such a pair takes about 2^32 keys to find.
// The group must still hold both records at their current versions and
// heartbeats, and take in their changes under 30% loss.
func TestGroupWithSharedPrefix(t *testing.T) {
	net := hierarchytest.New(hierarchytest.Options{Seed: 25, Config: hier})
	for range 10 {
		net.AddNode(0)
		net.RunFor(100 * time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(25, 25))
	a, b := randomID(rng), randomID(rng)
	copy(b[:8], a[:8])
	twins := []*hierarchytest.Node{net.AddNodeWithID(0, a), net.AddNodeWithID(0, b)}
	if !net.RunUntil(settleLimit, func() bool { return settled(net, 0, 3) }) {
		t.Fatalf("group of 12 did not settle on 3 representatives within %v", settleLimit)
	}
	net.RunFor(5 * time.Minute)
	if err := recordsCurrent(net, 0); err != nil {
		t.Error(err)
	}
	lag := uint64(4 * hier.WithDefaults().GossipInterval / time.Millisecond)
	for _, n := range net.GroupNodes(0) {
		for _, twin := range twins {
			own, _ := twin.Machine.RecordOf(twin.Contact.ID)
			if rec, _ := n.Machine.RecordOf(twin.Contact.ID); rec.Beat+lag < own.Beat {
				t.Errorf("node %d holds heartbeat %d of node %d, which is at %d", n.Index, rec.Beat, twin.Index, own.Beat)
			}
		}
	}

	net.SetLoss(0.3)
	for i, twin := range twins {
		score := hierarchy.Score{Uptime: time.Hour, Capacity: uint32(1000 << i), Link: 100}
		net.Call(twin, func(now time.Time, m *hierarchy.Machine) { m.SetScore(now, score) })
	}
	limit := 8 * hier.WithDefaults().GossipInterval
	if !net.RunUntil(limit, func() bool { return recordsCurrent(net, 0) == nil }) {
		t.Errorf("new records of the pair not everywhere after %v with 30%% loss: %v", limit, recordsCurrent(net, 0))
	}
}

// TestForgedHeartbeatSuperseded forges a member's heartbeat at 2^64-1,
// which gives it the highest merit in the view of every node but itself.
// The member must write a new version that supersedes it, or else no
// member would fill a free seat: the others wait for the forged one,
// which does not count itself among the best.
func TestForgedHeartbeatSuperseded(t *testing.T) {
	net := oneGroup(t, 8, hierarchytest.Options{Seed: 26})
	net.RunFor(time.Minute)
	node := members(net, 0)[0]
	rec, _ := node.Machine.RecordOf(node.Contact.ID)
	beat := wire.Heartbeat{Prefix: wire.IDPrefix(node.Contact.ID), Version: rec.Version, Beat: ^uint64(0)}
	forge(net, members(net, 0)[1], &wire.GroupSync{Digest: []wire.Heartbeat{beat}})
	net.RunFor(time.Minute)

	own, _ := node.Machine.RecordOf(node.Contact.ID)
	for _, n := range net.GroupNodes(0) {
		if rec, _ := n.Machine.RecordOf(node.Contact.ID); rec.Version == own.Version && rec.Beat > own.Beat {
			t.Errorf("node %d holds heartbeat %d of node %d, which is at %d", n.Index, rec.Beat, node.Index, own.Beat)
		}
	}
	net.Leave(representatives(net, 0)[0])
	if !net.RunUntil(settleLimit, func() bool { return settled(net, 0, 3) }) {
		t.Fatalf("%d representatives %v after one left, want 3", len(representatives(net, 0)), settleLimit)
	}
}

// TestHostileDigests sends one member digests that no honest node sends:
// this node's own prefix at huge numbers, 256 entries of one prefix, 256
// unknown prefixes, and every member's heartbeat at 2^64-1. The response
// must be valid, and within a few minutes the group must be back to one
// view with every heartbeat at most its owner's.
func TestHostileDigests(t *testing.T) {
	net := oneGroup(t, 8, hierarchytest.Options{Seed: 29})
	net.RunFor(time.Minute)
	target := members(net, 0)[0]
	self := wire.IDPrefix(target.Contact.ID)
	other, _ := members(net, 0)[1].Machine.RecordOf(members(net, 0)[1].Contact.ID)

	var repeated, unknown, maxed []wire.Heartbeat
	rng := rand.New(rand.NewPCG(29, 29))
	for i := range wire.MaxGroupMembers {
		h := wire.Heartbeat{Prefix: wire.IDPrefix(other.Contact.ID), Version: other.Version, Beat: other.Beat + uint64(i)}
		repeated = append(repeated, h)
		unknown = append(unknown, wire.Heartbeat{Prefix: rng.Uint64(), Version: rng.Uint64(), Beat: rng.Uint64()})
	}
	for _, n := range net.GroupNodes(0) {
		rec, _ := n.Machine.RecordOf(n.Contact.ID)
		maxed = append(maxed, wire.Heartbeat{Prefix: wire.IDPrefix(n.Contact.ID), Version: rec.Version, Beat: ^uint64(0)})
	}
	digests := map[string][]wire.Heartbeat{
		"own prefix": {
			{Prefix: self, Version: ^uint64(0), Beat: ^uint64(0)},
			{Prefix: self, Version: 1 << 61, Beat: 1 << 62},
			{Prefix: self, Version: 0, Beat: ^uint64(0)},
		},
		"one prefix 256 times": repeated,
		"unknown prefixes":     unknown,
		"every beat maxed":     maxed,
	}
	for _, name := range []string{"own prefix", "one prefix 256 times", "unknown prefixes", "every beat maxed"} {
		resp := forge(net, target, &wire.GroupSync{Digest: digests[name]})
		state, ok := resp.(*wire.GroupState)
		if !ok {
			t.Fatalf("%s: response %T, want a GroupState", name, resp)
		}
		if err := state.Validate(); err != nil {
			t.Errorf("%s: invalid response: %v", name, err)
		}
	}

	// The forged sender counts as a member until its check fails.
	limit := 3 * time.Minute
	if !net.RunUntil(limit, func() bool { return settled(net, 0, 3) && recordsCurrent(net, 0) == nil }) {
		t.Fatalf("group not back to one view %v after the forged digests: %d representatives, %v",
			limit, len(representatives(net, 0)), recordsCurrent(net, 0))
	}
	for _, n := range net.GroupNodes(0) {
		for _, owner := range net.GroupNodes(0) {
			own, _ := owner.Machine.RecordOf(owner.Contact.ID)
			if rec, _ := n.Machine.RecordOf(owner.Contact.ID); rec.Version == own.Version && rec.Beat > own.Beat {
				t.Errorf("node %d holds heartbeat %d of node %d, which is at %d", n.Index, rec.Beat, owner.Index, own.Beat)
			}
		}
	}
}

// TestVersionAboveLimitStillAlive pushes a member past the highest version
// the others take in, with a forged digest at exactly that version. Its
// record then stays at the old version in their views. Its messages must
// still prove it alive, or every other member would check it again as
// soon as each check returned.
func TestVersionAboveLimitStillAlive(t *testing.T) {
	net := oneGroup(t, 8, hierarchytest.Options{Seed: 30})
	net.RunFor(time.Minute)
	node := members(net, 0)[0]
	beat := wire.Heartbeat{Prefix: wire.IDPrefix(node.Contact.ID), Version: 1 << 62}
	forge(net, node, &wire.GroupSync{Digest: []wire.Heartbeat{beat}})
	net.RunFor(2 * time.Minute)

	syncs := net.Stats().Messages[wire.TypeGroupSync]
	net.RunFor(time.Minute)
	// One round a node a GroupSync, six rounds a minute, and a few checks.
	if got, limit := net.Stats().Messages[wire.TypeGroupSync]-syncs, 2*6*8; got > limit {
		t.Errorf("%d GroupSyncs in a minute in a group of 8, want at most %d", got, limit)
	}
	if !settled(net, 0, 3) {
		t.Errorf("group of 8 lost its view: %d representatives", len(representatives(net, 0)))
	}
}

// TestFullGroupResponseValid fills a node's group to MaxGroup and sends it
// a GroupSync from one more node, whose request names every record the
// node holds at a lower heartbeat. The response must still fit the limits
// of a valid message.
func TestFullGroupResponseValid(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self := wire.Contact{ID: randomID(rand.New(rand.NewPCG(31, 0))), Addr: hierarchytest.Addr(0)}
	m := hierarchy.New(self, hierarchy.Score{Capacity: 100, Link: 100}, hier, 31, now)
	rng := rand.New(rand.NewPCG(31, 31))
	var recs []wire.Member
	for i := range hier.WithDefaults().MaxGroup {
		rec := wire.Member{Contact: wire.Contact{ID: randomID(rng), Addr: hierarchytest.Addr(i + 1)}, Version: 1, Beat: 5}
		m.HandleRequest(now, rec.Contact, uint64(i+1), &wire.GroupSync{Members: []wire.Member{rec}})
		recs = append(recs, rec)
	}
	// One gossip round raises the node's own heartbeat above 0.
	now = now.Add(hier.WithDefaults().GossipInterval * 11 / 10)
	m.Tick(now)
	m.Outbox()
	if got := len(m.Group()); got != hier.WithDefaults().MaxGroup {
		t.Fatalf("node lists %d members, want %d", got, hier.WithDefaults().MaxGroup)
	}

	own, _ := m.RecordOf(self.ID)
	msg := &wire.GroupSync{Members: []wire.Member{{Contact: self, Version: own.Version}}}
	for _, rec := range recs {
		msg.Digest = append(msg.Digest, wire.Heartbeat{Prefix: wire.IDPrefix(rec.Contact.ID), Version: rec.Version})
	}
	from := wire.Contact{ID: randomID(rng), Addr: hierarchytest.Addr(900)}
	resp := m.HandleRequest(now, from, 1000, msg)
	state, ok := resp.(*wire.GroupState)
	if !ok {
		t.Fatalf("response %T, want a GroupState", resp)
	}
	if err := state.Validate(); err != nil {
		t.Errorf("invalid response: %v", err)
	}
}

// TestIsolatedNodeReturns cuts one node off its group for longer than a
// tombstone lasts, so that it counts every other node dead and takes a
// seat of its own. When its beacons reach the group again, the group must
// take it back with its current record and return to 3 representatives.
func TestIsolatedNodeReturns(t *testing.T) {
	for _, rep := range []bool{false, true} {
		t.Run(fmt.Sprint("representative ", rep), func(t *testing.T) {
			net := oneGroup(t, 10, hierarchytest.Options{Seed: 32})
			net.RunFor(time.Minute)
			node := members(net, 0)[0]
			if rep {
				node = representatives(net, 0)[0]
			}
			net.Split(node)
			net.RunFor(12 * time.Minute)
			if !node.Machine.IsRepresentative() || len(node.Machine.Group()) != 0 {
				t.Fatalf("isolated node lists %d members, representative %v; want none, true",
					len(node.Machine.Group()), node.Machine.IsRepresentative())
			}

			net.Heal()
			net.Beacon(node)
			limit := time.Minute
			if !net.RunUntil(limit, func() bool { return settled(net, 0, 3) && recordsCurrent(net, 0) == nil }) {
				t.Fatalf("group not whole %v after the isolated node returned: %d representatives, %v",
					limit, len(representatives(net, 0)), recordsCurrent(net, 0))
			}
		})
	}
}
