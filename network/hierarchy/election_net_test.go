package hierarchy_test

import (
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
)

// roleLog records every change of role in group 0 while the network runs.
type roleLog struct {
	last    map[int]bool
	changes int
}

func watchRoles(net *hierarchytest.Network) *roleLog {
	l := &roleLog{last: make(map[int]bool)}
	for _, n := range net.GroupNodes(0) {
		l.last[n.Index] = n.Machine.IsRepresentative()
	}
	return l
}

// runFor runs the network for d in steps of one second, counting the
// changes of role among the nodes watched that are alive.
func (l *roleLog) runFor(net *hierarchytest.Network, d time.Duration) {
	for range int(d / time.Second) {
		net.RunFor(time.Second)
		for _, n := range net.GroupNodes(0) {
			rep := n.Machine.IsRepresentative()
			if was, ok := l.last[n.Index]; ok && was != rep {
				l.changes++
			}
			l.last[n.Index] = rep
		}
	}
}

func TestScoreRiseWaitsForHoldTime(t *testing.T) {
	veteran := hierarchy.Score{Uptime: time.Hour, Capacity: 1024, Link: 100}
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 10, Score: fixedScore(veteran)})
	hold := hier.WithDefaults().HoldTime
	reps := representatives(net, 0)
	challenger := members(net, 0)[0]

	// Eight times the capacity is 48 merit points above every
	// representative, three times the margin.
	net.Call(challenger, func(now time.Time, m *hierarchy.Machine) {
		s := m.Score(now)
		s.Capacity *= 8
		m.SetScore(now, s)
	})
	log := watchRoles(net)
	log.runFor(net, hold-30*time.Second)
	if log.changes != 0 || challenger.Machine.IsRepresentative() {
		t.Fatalf("%d changes of role before the hold time passed; challenger representative: %v",
			log.changes, challenger.Machine.IsRepresentative())
	}

	log.runFor(net, time.Minute)
	if !challenger.Machine.IsRepresentative() {
		t.Fatal("challenger with three times the margin is no representative after the hold time")
	}
	if log.changes != 2 {
		t.Errorf("%d changes of role, want 2: the challenger in, one representative out", log.changes)
	}
	if !settled(net, 0, 3) {
		t.Fatal("group did not settle on 3 representatives after the hand-over")
	}
	kept := 0
	for _, r := range reps {
		if r.Machine.IsRepresentative() {
			kept++
		}
	}
	if kept != 2 {
		t.Errorf("%d of the old representatives kept their seat, want 2", kept)
	}
}

func TestScoreRiseBelowMarginChangesNothing(t *testing.T) {
	veteran := hierarchy.Score{Uptime: time.Hour, Capacity: 1024, Link: 100}
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 11, Score: fixedScore(veteran)})
	challenger := members(net, 0)[0]

	// 1.5 times the capacity is about 9 merit points: under the margin.
	net.Call(challenger, func(now time.Time, m *hierarchy.Machine) {
		s := m.Score(now)
		s.Capacity += s.Capacity / 2
		m.SetScore(now, s)
	})
	log := watchRoles(net)
	log.runFor(net, 2*hier.WithDefaults().HoldTime)
	if log.changes != 0 {
		t.Fatalf("%d changes of role after a rise below the margin, want 0", log.changes)
	}
}

// TestFlappingNodeCausesNoHandover restarts a node that would beat every
// representative by far every two minutes, less than the hold time: it
// never holds its lead long enough to take a seat.
func TestFlappingNodeCausesNoHandover(t *testing.T) {
	veteran := hierarchy.Score{Uptime: time.Hour, Capacity: 1024, Link: 100}
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 12, Score: fixedScore(veteran)})
	strong := hierarchy.Score{Capacity: 1 << 30, Link: 1 << 20}
	flapper := net.AddNode(0)
	net.Restart(flapper, strong)
	log := watchRoles(net)

	for range 10 {
		log.runFor(net, 90*time.Second)
		net.Kill(flapper)
		log.runFor(net, 30*time.Second)
		net.Restart(flapper, strong)
	}
	log.runFor(net, time.Minute)
	if log.changes != 0 {
		t.Errorf("%d changes of role among the steady nodes, want 0", log.changes)
	}
	if !settled(net, 0, 3) {
		t.Error("group not settled on 3 representatives after the flapping")
	}

	// Once it stays, it takes a seat after the hold time.
	log.runFor(net, hier.WithDefaults().HoldTime+time.Minute)
	if !flapper.Machine.IsRepresentative() {
		t.Error("strong node that stopped flapping is no representative after the hold time")
	}
}

// TestRepresentativeFailureReplacedAtOnce kills a representative silently:
// the best member takes the seat as soon as the group counts it dead, and
// no hold time applies.
func TestRepresentativeFailureReplacedAtOnce(t *testing.T) {
	net := oneGroup(t, 6, hierarchytest.Options{Seed: 13})
	victim := representatives(net, 0)[0]
	net.Kill(victim)

	// Detection takes a few gossip rounds for the last record to spread,
	// SuspectTimeout and one failed check.
	limit := hier.WithDefaults().SuspectTimeout + 30*time.Second
	if !net.RunUntil(limit, func() bool { return settled(net, 0, 3) }) {
		t.Fatalf("%d representatives %v after one died, want 3", len(representatives(net, 0)), limit)
	}
}

// TestDivergentViewsConverge forms a group while 30% of messages are lost,
// so that nodes decide on different views, then stops the loss: gossip
// must bring every node to the same three representatives.
func TestDivergentViewsConverge(t *testing.T) {
	net := hierarchytest.New(hierarchytest.Options{Seed: 14, Config: hier, Loss: 0.3})
	for range 12 {
		net.AddNode(0)
		net.RunFor(50 * time.Millisecond)
	}
	net.RunFor(time.Minute)
	net.SetLoss(0)

	limit := 2 * hier.WithDefaults().SuspectTimeout
	if !net.RunUntil(limit, func() bool { return settled(net, 0, 3) }) {
		t.Fatalf("views did not converge within %v of the loss stopping: %d claim", limit, len(representatives(net, 0)))
	}
}
