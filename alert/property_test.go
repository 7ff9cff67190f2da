package alert

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// randomGraph connects n nodes with a random spanning tree plus extra
// random links, so that the graph is connected.
func randomGraph(t *rapid.T, net *testNet) {
	n := len(net.order)
	for i := 1; i < n; i++ {
		j := rapid.IntRange(0, i-1).Draw(t, fmt.Sprintf("parent%d", i))
		net.connect(net.order[i], net.order[j])
	}
	extra := rapid.IntRange(0, n).Draw(t, "extra")
	for k := range extra {
		i := rapid.IntRange(0, n-1).Draw(t, fmt.Sprintf("extraA%d", k))
		j := rapid.IntRange(0, n-1).Draw(t, fmt.Sprintf("extraB%d", k))
		if i != j {
			net.connect(net.order[i], net.order[j])
		}
	}
	net.run()
}

func TestPropertyFloodReachesConnectedGraph(t *testing.T) {
	city := testSigner("city", 1)
	auths := testAuthorities(t, city)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 40).Draw(t, "nodes")
		net := newTestNet(t, Config{Authorities: auths}, n)
		randomGraph(t, net)

		origin := net.order[rapid.IntRange(0, n-1).Draw(t, "origin")]
		a := testAlert(t, city, 1, epoch)
		if err := net.machines[origin].Publish(net.now, a); err != nil {
			t.Fatal(err)
		}
		net.run()

		if got := len(net.holders(a.ID)); got != n {
			t.Fatalf("%d of %d nodes hold the alert", got, n)
		}
		// Each node accepts it once and forwards it at most once per link
		// direction, so the flood costs at most one push per link end.
		pushes := 0
		for _, p := range net.order {
			c := net.machines[p].Counters()
			if c.Accepted != 1 {
				t.Fatalf("%s accepted %d times, want 1", p.Short(), c.Accepted)
			}
			pushes += int(c.Received)
		}
		if links := len(net.links); pushes > 2*links {
			t.Fatalf("%d alerts received over %d links, want at most %d", pushes, links, 2*links)
		}
	})
}

func TestPropertyForgedReachesNone(t *testing.T) {
	city := testSigner("city", 1)
	thief := testSigner("city", 2)
	auths := testAuthorities(t, city)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 30).Draw(t, "nodes")
		net := newTestNet(t, Config{Authorities: auths}, n)
		randomGraph(t, net)

		good := testAlert(t, city, 5, epoch)
		bad := map[string]*Signed{
			"forged":   resign(t, good, func(b *body) { b.Sequence = 6 }, thief),
			"expired":  testAlert(t, city, 7, epoch.Add(-3*time.Hour)),
			"replayed": resign(t, good, func(b *body) { b.Text = "Same sequence." }, city),
		}
		if err := net.machines[net.order[0]].Publish(net.now, good); err != nil {
			t.Fatal(err)
		}
		net.run()

		// The attacker reaches one node directly, as a neighbour would.
		entry := net.order[rapid.IntRange(0, n-1).Draw(t, "entry")]
		for name, s := range bad {
			net.machines[entry].HandleMessage(net.now, peer(9999), push(s))
			net.run()
			if h := net.holders(s.ID); len(h) != 0 {
				t.Fatalf("%s alert held by %d nodes", name, len(h))
			}
		}
	})
}

func TestPropertyPartitionHealDelivers(t *testing.T) {
	city := testSigner("city", 1)
	auths := testAuthorities(t, city)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 30).Draw(t, "nodes")
		net := newTestNet(t, Config{Authorities: auths}, n)
		randomGraph(t, net)

		// Cut every link between the first k nodes and the rest.
		k := rapid.IntRange(1, n-1).Draw(t, "split")
		side := func(p Peer) bool { return int(p[0])<<8|int(p[1]) < k }
		var cut [][2]Peer
		for l, up := range net.links {
			if up && side(l[0]) != side(l[1]) {
				cut = append(cut, l)
			}
		}
		for _, l := range cut {
			net.cut(l[0], l[1])
		}

		a := testAlert(t, city, 1, epoch)
		origin := net.order[rapid.IntRange(0, n-1).Draw(t, "origin")]
		if err := net.machines[origin].Publish(net.now, a); err != nil {
			t.Fatal(err)
		}
		net.run()
		for _, p := range net.holders(a.ID) {
			if side(p) != side(origin) {
				t.Fatalf("%s holds the alert across the partition", p.Short())
			}
		}

		// The links come back in a random order; each heal makes both ends
		// meet and exchange summaries, with no push from the origin.
		net.now = net.now.Add(time.Minute)
		for _, i := range rapid.Permutation(indexes(len(cut))).Draw(t, "heal order") {
			net.connect(cut[i][0], cut[i][1])
			net.run()
		}
		if got := len(net.holders(a.ID)); got != n {
			t.Fatalf("%d of %d nodes hold the alert after healing", got, n)
		}
	})
}

func TestPropertyLossyLinksConverge(t *testing.T) {
	city := testSigner("city", 1)
	auths := testAuthorities(t, city)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 25).Draw(t, "nodes")
		cfg := Config{Authorities: auths, SyncInterval: 10 * time.Second}
		net := newTestNet(t, cfg, n)
		randomGraph(t, net)

		// Every message is lost with probability loss, as on a radio link;
		// the periodic summaries must make up for it.
		loss := rapid.Float64Range(0, 0.5).Draw(t, "loss")
		seed := rapid.Uint64().Draw(t, "seed")
		rng := rand.New(rand.NewPCG(seed, 1))
		net.drop = func() bool { return rng.Float64() < loss }

		a := testAlert(t, city, 1, epoch)
		if err := net.machines[net.order[0]].Publish(net.now, a); err != nil {
			t.Fatal(err)
		}
		net.run()
		for round := 0; len(net.holders(a.ID)) < n; round++ {
			if round == 200 {
				t.Fatalf("%d of %d nodes hold the alert after %d sync rounds at loss %.2f",
					len(net.holders(a.ID)), n, round, loss)
			}
			net.advance(cfg.SyncInterval)
		}
	})
}

func TestMachineDeterministic(t *testing.T) {
	city := testSigner("city", 1)
	auths := testAuthorities(t, city)
	trace := func() []string {
		net := newTestNet(t, Config{Authorities: auths}, 8)
		for i := range 8 {
			net.connect(peer(i), peer((i+1)%8))
			net.connect(peer(i), peer((i+3)%8))
		}
		var log []string
		for seq := uint64(1); seq <= 3; seq++ {
			m := net.machines[peer(int(seq))]
			if err := m.Publish(net.now, testAlert(t, city, seq, epoch)); err != nil {
				t.Fatal(err)
			}
			for _, p := range net.order {
				for _, o := range net.machines[p].Outbox() {
					log = append(log, fmt.Sprintf("%s>%s %T %v", p.Short(), o.To.Short(), o.Msg, o.Msg))
				}
			}
		}
		return log
	}
	if a, b := trace(), trace(); !reflect.DeepEqual(a, b) {
		t.Errorf("two runs differ:\n%v\n%v", a, b)
	}
}

func indexes(n int) []int {
	list := make([]int, n)
	for i := range list {
		list[i] = i
	}
	return list
}
