package e2e

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/identity"
)

// BenchmarkLANJoin measures how long five nodes started together on one
// LAN, with no address flags, take until each lists the four others. Each
// iteration starts five fresh nodes (new identities) in the same five
// namespaces. The time counts from the moment every node serves its API,
// so it covers beacons, the QUIC handshakes and the routing-table pings,
// but not process start-up.
func BenchmarkLANJoin(b *testing.B) {
	lab := netns.ForTest(b, "yuibench")
	lan := lab.NewBridge(b, "lan")
	var hosts []*netns.Namespace
	for i := 1; i <= 5; i++ {
		ns := lab.NewNamespace(b, fmt.Sprintf("h%d", i))
		ns.Attach(b, lan, "eth0", netip.MustParsePrefix(fmt.Sprintf("10.72.0.%d/24", i)))
		hosts = append(hosts, ns)
	}

	var total time.Duration
	for i := 0; i < b.N; i++ {
		total += joinOnce(b, hosts, i)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/join")
	b.ReportMetric(0, "ns/op")
}

func joinOnce(b *testing.B, hosts []*netns.Namespace, round int) time.Duration {
	var nodes []*process
	for j, ns := range hosts {
		dir := filepath.Join(b.TempDir(), fmt.Sprintf("r%d-n%d", round, j))
		nodes = append(nodes, startNodeIn(b, ns, fmt.Sprintf("n%d", j), dir))
	}
	ids := make([]identity.NodeID, len(nodes))
	for j, p := range nodes {
		ids[j] = p.waitStarted(b)
	}

	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for j, p := range nodes {
		if got, ok := waitPeers(p, without(ids, j), deadline); !ok {
			b.Fatalf("%s lists %d of 4 peers after 30 s", p.name, len(got))
		}
	}
	elapsed := time.Since(start)
	for _, p := range nodes {
		p.stop()
	}
	return elapsed
}
