package alert

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFlood floods one alert through 1,000 Machines linked in a
// random graph of mean degree 8 and reports the messages per node.
func BenchmarkFlood(b *testing.B) {
	city := testSigner("city", 1)
	auths := testAuthorities(b, city)
	const nodes, degree = 1000, 8
	var sent, delivered int
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		net := newTestNet(b, Config{Authorities: auths}, nodes)
		rng := rand.New(rand.NewPCG(1, 2))
		for j := 1; j < nodes; j++ {
			net.connect(peer(j), peer(rng.IntN(j)))
		}
		for range nodes * (degree/2 - 1) {
			x, y := rng.IntN(nodes), rng.IntN(nodes)
			if x != y {
				net.connect(peer(x), peer(y))
			}
		}
		net.run()
		net.sent = 0
		a := testAlert(b, city, uint64(i+1), epoch)
		b.StartTimer()

		if err := net.machines[peer(0)].Publish(net.now, a); err != nil {
			b.Fatal(err)
		}
		delivered = net.run()
		sent = net.sent
		if got := len(net.holders(a.ID)); got != nodes {
			b.Fatalf("%d of %d nodes hold the alert", got, nodes)
		}
	}
	b.ReportMetric(float64(sent)/nodes, "msgs/node")
	_ = delivered
}

// BenchmarkReceive measures one Machine taking a new alert from a peer:
// hashing, decoding, verifying and holding it.
func BenchmarkReceive(b *testing.B) {
	city := testSigner("city", 1)
	auths := testAuthorities(b, city)
	alerts := make([]*Signed, 4096)
	for i := range alerts {
		alerts[i] = testAlert(b, city, uint64(i+1), epoch)
	}
	cfg := Config{Authorities: auths, SenderBurst: 1 << 30, AuthorityBurst: 1 << 30, MaxPerAuthority: 1 << 20}
	m := New(cfg)
	for i := 0; b.Loop(); i++ {
		if i%len(alerts) == 0 {
			m = New(cfg)
		}
		m.HandleMessage(epoch, peer(1), push(alerts[i%len(alerts)]))
	}
	if m.Counters().Accepted == 0 {
		b.Fatal("no alert accepted")
	}
}
