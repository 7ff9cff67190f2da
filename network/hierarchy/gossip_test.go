package hierarchy_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
	"github.com/yuinet/yui/network/wire"
)

// TestGossipSendsHeartbeatsNotRecords checks that a settled group's
// gossip keeps every record at one version while the heartbeats rise, and
// that a GroupSync then costs a digest entry per member rather than a
// record per member.
func TestGossipSendsHeartbeatsNotRecords(t *testing.T) {
	const size = 12
	net := oneGroup(t, size, hierarchytest.Options{Seed: 11})
	net.RunFor(2 * time.Minute)
	before := ownRecords(net)
	syncs, syncBytes := net.Stats().Messages[wire.TypeGroupSync], net.Stats().Bytes[wire.TypeGroupSync]

	net.RunFor(5 * time.Minute)
	after := ownRecords(net)
	for _, n := range net.GroupNodes(0) {
		b, a := before[n.Index], after[n.Index]
		if a.Version != b.Version {
			t.Errorf("node %d wrote version %d after %d with nothing changed", n.Index, a.Version, b.Version)
		}
		if a.Beat <= b.Beat {
			t.Errorf("node %d: heartbeat %d did not rise from %d in 5 minutes", n.Index, a.Beat, b.Beat)
		}
	}

	// A digest entry takes at most 28 bytes and a record at least 60, so
	// 40 bytes per member separates the two.
	syncs = net.Stats().Messages[wire.TypeGroupSync] - syncs
	syncBytes = net.Stats().Bytes[wire.TypeGroupSync] - syncBytes
	if syncs == 0 {
		t.Fatal("no GroupSync in 5 minutes")
	}
	if per, limit := syncBytes/syncs, 40*size; per > limit {
		t.Errorf("a GroupSync took %d bytes on average, want at most %d for a digest of %d", per, limit, size)
	}

	// Every node's copy of every other record is at its current version
	// and at most a few rounds behind its heartbeat.
	lag := uint64(4 * hier.WithDefaults().GossipInterval / time.Millisecond)
	for _, n := range net.GroupNodes(0) {
		for _, other := range net.GroupNodes(0) {
			rec, ok := n.Machine.RecordOf(other.Contact.ID)
			own := after[other.Index]
			switch {
			case !ok:
				t.Errorf("node %d holds no record of node %d", n.Index, other.Index)
			case rec.Version != own.Version:
				t.Errorf("node %d holds version %d of node %d, which is at %d", n.Index, rec.Version, other.Index, own.Version)
			case rec.Beat+lag < own.Beat:
				t.Errorf("node %d holds heartbeat %d of node %d, which is at %d", n.Index, rec.Beat, other.Index, own.Beat)
			}
		}
	}
}

func ownRecords(net *hierarchytest.Network) map[int]wire.Member {
	recs := make(map[int]wire.Member)
	for _, n := range net.Nodes() {
		recs[n.Index], _ = n.Machine.RecordOf(n.Contact.ID)
	}
	return recs
}

// TestChangedRecordReachesEveryMember gives one member a new seed while a
// third of the messages are lost: the new version must reach every
// member, pushed at first and then pulled by those whose digests name
// the old one.
func TestChangedRecordReachesEveryMember(t *testing.T) {
	net := oneGroup(t, 12, hierarchytest.Options{Seed: 12})
	net.RunFor(time.Minute)
	net.SetLoss(0.3)

	node := members(net, 0)[0]
	seed := wire.Contact{ID: randomID(rand.New(rand.NewPCG(12, 12))), Addr: hierarchytest.Addr(999)}
	net.Call(node, func(now time.Time, m *hierarchy.Machine) { m.AddContact(now, seed) })

	knowSeed := func() bool {
		for _, n := range net.GroupNodes(0) {
			rec, ok := n.Machine.RecordOf(node.Contact.ID)
			if !ok || !containsContact(rec.Seeds, seed) {
				return false
			}
		}
		return true
	}
	limit := 8 * hier.WithDefaults().GossipInterval
	if !net.RunUntil(limit, knowSeed) {
		missing := 0
		for _, n := range net.GroupNodes(0) {
			if rec, _ := n.Machine.RecordOf(node.Contact.ID); !containsContact(rec.Seeds, seed) {
				missing++
			}
		}
		t.Fatalf("%d of 12 nodes still lack the new seed of node %d after %v with 30%% loss", missing, node.Index, limit)
	}
}

func containsContact(cs []wire.Contact, c wire.Contact) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// TestScoreRepublishedOnlyWhenMeritChanges checks that a new score that
// changes no term of the merit keeps the record's version. A daemon
// measures its score every minute, and each new version sends its record
// to every member. A score that changes the merit is published at once.
func TestScoreRepublishedOnlyWhenMeritChanges(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self := wire.Contact{ID: randomID(rand.New(rand.NewPCG(13, 13))), Addr: hierarchytest.Addr(1)}
	score := hierarchy.Score{Capacity: 1000, Link: 500}
	m := hierarchy.New(self, score, hier, 13, start)
	version := func() uint64 { rec, _ := m.RecordOf(self.ID); return rec.Version }
	v0 := version()

	later := start.Add(time.Minute)
	m.SetScore(later, hierarchy.Score{Uptime: time.Minute, Capacity: 1010, Link: 505})
	if v := version(); v != v0 {
		t.Errorf("capacity 1000→1010 and link 500→505 wrote version %d over %d; the merit is the same", v, v0)
	}
	m.SetScore(later, hierarchy.Score{Uptime: time.Minute, Capacity: 4000, Link: 505})
	if v := version(); v <= v0 {
		t.Errorf("capacity 1000→4000 kept version %d; the merit changed", v)
	}
	v1 := version()
	m.SetScore(later, hierarchy.Score{Uptime: 0, Capacity: 4000, Link: 505})
	if v := version(); v <= v1 {
		t.Errorf("uptime 1m→0 kept version %d; the uptime others compute is a minute off", v)
	}
}
