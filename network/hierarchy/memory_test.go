package hierarchy_test

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/hierarchy/hierarchytest"
	"github.com/yuinet/yui/network/wire"
)

var memStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// groupRecords returns the records of a group of n random nodes.
func groupRecords(rng *rand.Rand, n int) []wire.Member {
	recs := make([]wire.Member, n)
	for i := range recs {
		recs[i] = wire.Member{
			Contact: wire.Contact{ID: randomID(rng), Addr: hierarchytest.Addr(i)},
			Version: uint64(1000 + i), Uptime: 3600, Capacity: 1024, Link: 100,
			Representative: i < 3,
		}
	}
	return recs
}

// joinGroup feeds m a GroupSync with the group's records and answers the
// checks m sends, so that every member is live in m's view.
func joinGroup(m *hierarchy.Machine, now time.Time, recs []wire.Member) {
	m.HandleRequest(now, recs[0].Contact, 1, &wire.GroupSync{Members: recs})
	answer(m, now, recs, nil)
}

// answer responds to m's requests in place of their addressees: group
// members with their own record, other nodes with a Pong.
func answer(m *hierarchy.Machine, now time.Time, recs []wire.Member, others map[wire.Contact]bool) {
	for out := m.Outbox(); len(out) > 0; out = m.Outbox() {
		for _, o := range out {
			if o.Request == 0 {
				continue
			}
			if others[o.To] {
				m.HandleResponse(now, o.To, o.Request, &wire.Pong{})
				continue
			}
			for _, r := range recs {
				if r.Contact.ID == o.To.ID {
					m.HandleResponse(now, o.To, o.Request, &wire.GroupState{Members: []wire.Member{r}})
				}
			}
		}
	}
	m.Events()
}

func heapBytes() uint64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}

// TestMemoryPerNode measures the heap a Machine holds in a group of 20: as
// a member, and as a representative with a routing table filled from 300
// random DHT contacts. The figures are for the simulator's budget.
func TestMemoryPerNode(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few thousand Machines")
	}
	rng := rand.New(rand.NewPCG(40, 41))
	recs := groupRecords(rng, 20)

	const members = 2000
	before := heapBytes()
	keep := make([]*hierarchy.Machine, members)
	for i := range keep {
		self := wire.Contact{ID: randomID(rng), Addr: hierarchytest.Addr(100 + i)}
		m := hierarchy.New(self, hierarchy.Score{}, hier, rng.Uint64(), memStart)
		joinGroup(m, memStart, recs[:19])
		keep[i] = m
	}
	perMember := float64(heapBytes()-before) / members
	if got := len(keep[0].Group()); got != 19 {
		t.Fatalf("member lists %d group members, want 19", got)
	}
	if keep[0].IsRepresentative() {
		t.Fatal("member claims a seat in a group with 3 representatives")
	}
	keep = nil

	const reps = 200
	contacts := make(map[wire.Contact]bool)
	var external []wire.Contact
	for i := range 300 {
		c := wire.Contact{ID: randomID(rng), Addr: netip.AddrPortFrom(hierarchytest.Addr(10_000+i).Addr(), 4717)}
		contacts[c] = true
		external = append(external, c)
	}
	before = heapBytes()
	keepReps := make([]*hierarchy.Machine, reps)
	tableLen := 0
	for i := range keepReps {
		self := wire.Contact{ID: randomID(rng), Addr: hierarchytest.Addr(100 + i)}
		m := hierarchy.New(self, hierarchy.Score{Uptime: 24 * time.Hour, Capacity: 1 << 20, Link: 1000}, hier, rng.Uint64(), memStart)
		// Two representatives and no third: this node takes the free seat.
		group := append([]wire.Member(nil), recs[:19]...)
		group[2].Representative = false
		joinGroup(m, memStart, group)
		// Contacts arrive a few at a time, as lookups find them.
		for j, c := range external {
			m.AddContact(memStart, c)
			if j%5 == 4 {
				answer(m, memStart, group, contacts)
			}
		}
		tableLen += m.Routing().Len()
		keepReps[i] = m
	}
	perRep := float64(heapBytes()-before) / reps
	if !keepReps[0].IsRepresentative() {
		t.Fatal("node did not take the free seat")
	}
	t.Logf("heap per member in a group of 20: %.0f bytes", perMember)
	t.Logf("heap per representative with %d routing contacts: %.0f bytes", tableLen/reps, perRep)
	if perMember > 8<<10 {
		t.Errorf("a member holds %.0f bytes, want under 8 KiB for a million in one process", perMember)
	}
	runtime.KeepAlive(keepReps)
}
