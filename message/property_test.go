package message

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/yuinet/yui/storage/seal"
)

// TestPropertyChurnDeliversOnce checks that under any schedule of links
// going down and coming back, once every node is up again each message
// reaches its recipient exactly once and its sender gets the receipt.
func TestPropertyChurnDeliversOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("takes about 18 s under -race; a Machine starts no goroutines, so the race detector has nothing to check")
	}
	rapid.Check(t, func(rt *rapid.T) {
		nodes := rapid.IntRange(3, 7).Draw(rt, "nodes")
		n := newTestNet(t, nodes, Config{})
		type user struct {
			node int
			keys *seal.User
		}
		var users []user
		for i := range 3 {
			at := rapid.IntRange(0, nodes-1).Draw(rt, "user node")
			users = append(users, user{node: at, keys: n.addUser(at, string(rune('a'+i)))})
		}
		type sent struct {
			from, to user
			item     *Item
		}
		var all []sent

		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 2).Draw(rt, "action") {
			case 0:
				from := users[rapid.IntRange(0, 2).Draw(rt, "from")]
				to := users[rapid.IntRange(0, 2).Draw(rt, "to")]
				if !n.nodes[from.node].up {
					continue
				}
				it := n.send(from.node, from.keys, to.keys, "p", time.Hour)
				all = append(all, sent{from: from, to: to, item: it})
			case 1:
				i := rapid.IntRange(0, nodes-1).Draw(rt, "toggle")
				n.nodes[i].up = !n.nodes[i].up
				n.settle()
			case 2:
				n.advance(time.Duration(rapid.IntRange(1, 120).Draw(rt, "seconds")) * time.Second)
			}
		}

		for _, node := range n.nodes {
			node.up = true
		}
		for range 4 {
			n.advance(time.Minute)
		}

		for _, s := range all {
			if got := n.received(s.to.node, KindMessage, s.item.ID); got != 1 {
				rt.Fatalf("message %s received %d times, want 1", s.item.ID, got)
			}
			st := n.status(s.from.node, s.item)
			if st.State != StateDelivered || st.Receipt == nil {
				rt.Fatalf("message %s: sender sees %v with receipt %v, want delivered with a receipt",
					s.item.ID, st.State, st.Receipt != nil)
			}
		}
		for _, node := range n.nodes {
			if len(node.m.held) != 0 {
				rt.Fatalf("node %s still holds %d items after all were delivered", node.name, len(node.m.held))
			}
		}
	})
}
