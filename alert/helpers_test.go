package alert

import (
	"crypto/ed25519"
	"crypto/sha256"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// fatalf is the part of testing.TB and rapid.T the helpers use.
type fatalf interface {
	Helper()
	Fatal(args ...any)
}

var epoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testSigner returns a signer with a key derived from seed, so that tests
// are repeatable.
func testSigner(name string, seed byte) Signer {
	sum := sha256.Sum256([]byte{seed})
	key := ed25519.NewKeyFromSeed(sum[:])
	return Signer{Name: name, Key: key}
}

func testAuthorities(t fatalf, signers ...Signer) Authorities {
	t.Helper()
	var list []Authority
	for _, s := range signers {
		list = append(list, s.Authority())
	}
	auths, err := NewAuthorities(list)
	if err != nil {
		t.Fatal(err)
	}
	return auths
}

// testAlert signs an evacuation alert valid for an hour from issued.
func testAlert(t fatalf, s Signer, seq uint64, issued time.Time) *Signed {
	t.Helper()
	signed, err := Sign(Alert{
		Sequence: seq,
		Level:    Evacuate,
		Issued:   issued,
		Expires:  issued.Add(time.Hour),
		Text:     "Evacuate to the school on the hill.",
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func peer(i int) Peer {
	var p identity.NodeID
	p[0], p[1] = byte(i>>8), byte(i)
	p[31] = 1
	return p
}

// message is one message in flight in a testNet.
type message struct {
	from, to Peer
	msg      wire.Message
}

// testNet runs Machines over links that deliver every message in order,
// with no delay, while the link is up.
type testNet struct {
	t        fatalf
	now      time.Time
	machines map[Peer]*Machine
	order    []Peer
	links    map[[2]Peer]bool // key sorted; value true while up
	accepted map[Peer][]ID
	sent     int
	// drop, when set, decides for each message on an up link whether the
	// link loses it.
	drop func() bool
}

func newTestNet(t fatalf, cfg Config, n int) *testNet {
	net := &testNet{
		t: t, now: epoch,
		machines: make(map[Peer]*Machine),
		links:    make(map[[2]Peer]bool),
		accepted: make(map[Peer][]ID),
	}
	for i := range n {
		net.machines[peer(i)] = New(cfg)
		net.order = append(net.order, peer(i))
	}
	return net
}

func linkKey(a, b Peer) [2]Peer {
	if identity.Compare(a, b) > 0 {
		a, b = b, a
	}
	return [2]Peer{a, b}
}

// connect brings the link between a and b up and calls NeighbourUp on both
// ends.
func (n *testNet) connect(a, b Peer) {
	n.links[linkKey(a, b)] = true
	n.machines[a].NeighbourUp(n.now, b)
	n.machines[b].NeighbourUp(n.now, a)
}

// cut takes the link down and calls NeighbourDown on both ends. Messages on
// a link that is down are lost.
func (n *testNet) cut(a, b Peer) {
	n.links[linkKey(a, b)] = false
	n.machines[a].NeighbourDown(n.now, b)
	n.machines[b].NeighbourDown(n.now, a)
}

// run delivers messages until every outbox is empty and returns the
// number of messages delivered.
func (n *testNet) run() int {
	delivered := 0
	for {
		var queue []message
		for _, p := range n.order {
			m := n.machines[p]
			for _, ev := range m.Events() {
				if ev.Kind == Accepted {
					n.accepted[p] = append(n.accepted[p], ev.Alert.ID)
				}
			}
			for _, out := range m.Outbox() {
				queue = append(queue, message{from: p, to: out.To, msg: out.Msg})
			}
		}
		if len(queue) == 0 {
			return delivered
		}
		for _, msg := range queue {
			n.sent++
			if !n.links[linkKey(msg.from, msg.to)] || (n.drop != nil && n.drop()) {
				continue
			}
			delivered++
			n.machines[msg.to].HandleMessage(n.now, msg.from, msg.msg)
		}
	}
}

// advance moves the clock by d and ticks every machine.
func (n *testNet) advance(d time.Duration) {
	n.now = n.now.Add(d)
	for _, p := range n.order {
		n.machines[p].Tick(n.now)
	}
	n.run()
}

// holders returns the peers holding the alert with ID id.
func (n *testNet) holders(id ID) []Peer {
	var list []Peer
	for _, p := range n.order {
		if _, ok := n.machines[p].held[id]; ok {
			list = append(list, p)
		}
	}
	return list
}
