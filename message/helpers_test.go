package message

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

var epoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testNet runs Machines against each other in one goroutine: requests are
// served at once by the target's Machine, or fail when it is down, and
// lookups return every node that is up.
type testNet struct {
	t     testing.TB
	now   time.Time
	nodes []*testNode
	// ids counts the message IDs handed out, so runs are repeatable.
	ids int
	// log records every request, for the determinism test.
	log []string
}

type testNode struct {
	name    string
	contact wire.Contact
	m       *Machine
	up      bool
	users   map[string]*seal.User
	inbox   []*Item
}

func newTestNet(t testing.TB, nodes int, cfg Config) *testNet {
	n := &testNet{t: t, now: epoch}
	for i := range nodes {
		id := identity.KeyID([]byte(fmt.Sprintf("node %d", i)))
		c := wire.Contact{ID: id, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 4719)}
		nodeCfg := cfg
		nodeCfg.Self = c
		n.nodes = append(n.nodes, &testNode{
			name: fmt.Sprintf("n%d", i), contact: c, m: New(nodeCfg), up: true,
			users: make(map[string]*seal.User),
		})
	}
	return n
}

// addUser creates a user on node i and announces it.
func (n *testNet) addUser(i int, name string) *seal.User {
	n.t.Helper()
	u, err := seal.NewUser()
	if err != nil {
		n.t.Fatal(err)
	}
	n.placeUser(i, u)
	return u
}

// placeUser makes u a user of node i and announces it.
func (n *testNet) placeUser(i int, u *seal.User) {
	node := n.nodes[i]
	node.users[string(u.SigningKey())] = u
	n.setUser(node, u)
}

func (n *testNet) setUser(node *testNode, u *seal.User) {
	n.t.Helper()
	loc, err := NewLocation(u, node.contact, n.now, n.now.Add(10*time.Minute))
	if err != nil {
		n.t.Fatal(err)
	}
	node.m.SetUser(n.now, loc)
	n.settle()
}

// send has from send text to to, and returns the message.
func (n *testNet) send(i int, from *seal.User, to *seal.User, text string, ttl time.Duration) *Item {
	n.t.Helper()
	n.ids++
	var id ID
	copy(id[:], fmt.Sprintf("msg-%d", n.ids))
	it, err := NewMessage(from, to.Public(), id, []byte(text), n.now, n.now.Add(ttl))
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.nodes[i].m.Send(n.now, it); err != nil {
		n.t.Fatal(err)
	}
	n.settle()
	return it
}

// advance moves the clock by d, signs new location records as a node
// does, and ticks every node that is up.
func (n *testNet) advance(d time.Duration) {
	n.now = n.now.Add(d)
	for _, node := range n.nodes {
		if !node.up {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(node.users)) {
			n.setUser(node, node.users[k])
		}
		node.m.Tick(n.now)
	}
	n.settle()
}

// settle runs lookups, requests and events until no node has work left.
func (n *testNet) settle() {
	for round := 0; ; round++ {
		if round > 1000 {
			n.t.Fatal("network did not settle in 1000 rounds")
		}
		busy := false
		for _, node := range n.nodes {
			if !node.up {
				continue
			}
			busy = n.step(node) || busy
		}
		if !busy {
			return
		}
	}
}

func (n *testNet) step(node *testNode) bool {
	busy := false
	for _, target := range node.m.Lookups() {
		busy = true
		node.m.HandleClosest(n.now, target, n.upContacts())
	}
	for _, o := range node.m.Outbox() {
		busy = true
		n.log = append(n.log, fmt.Sprintf("%s %s->%s %v", n.now.Format(time.TimeOnly), node.name, o.To.ID.Short(), o.Msg.Type()))
		peer := n.byID(o.To.ID)
		if peer == nil || !peer.up {
			node.m.HandleFailure(n.now, o.Request)
			continue
		}
		resp := peer.m.HandleRequest(n.now, node.contact.ID, o.Msg)
		node.m.HandleResponse(n.now, o.Request, resp)
	}
	for _, e := range node.m.Events() {
		busy = true
		n.handleEvent(node, e)
	}
	return busy
}

func (n *testNet) handleEvent(node *testNode, e Event) {
	if e.Kind != Received {
		return
	}
	node.inbox = append(node.inbox, e.Item)
	if e.Item.Kind != KindMessage {
		return
	}
	u := node.users[string(e.Item.To)]
	r, err := NewReceipt(u, e.Item, n.now)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := node.m.Send(n.now, r); err != nil {
		n.t.Fatal(err)
	}
}

func (n *testNet) upContacts() []wire.Contact {
	var cs []wire.Contact
	for _, node := range n.nodes {
		if node.up {
			cs = append(cs, node.contact)
		}
	}
	return cs
}

func (n *testNet) byID(id identity.NodeID) *testNode {
	for _, node := range n.nodes {
		if node.contact.ID == id {
			return node
		}
	}
	return nil
}

// received counts the items of kind with id in node i's inbox.
func (n *testNet) received(i int, kind Kind, id ID) int {
	return len(slices.DeleteFunc(slices.Clone(n.nodes[i].inbox), func(it *Item) bool {
		return it.Kind != kind || it.ID != id
	}))
}

func (n *testNet) status(i int, it *Item) Status {
	n.t.Helper()
	st, ok := n.nodes[i].m.Status(it.Key())
	if !ok {
		n.t.Fatalf("node %d has no status for %s %s", i, it.Kind, it.ID)
	}
	return st
}

// heldCount returns how many nodes hold it.
func (n *testNet) heldCount(it *Item) int {
	count := 0
	for _, node := range n.nodes {
		if node.m.held[it.Key()] != nil {
			count++
		}
	}
	return count
}
