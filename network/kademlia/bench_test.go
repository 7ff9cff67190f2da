package kademlia_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// BenchmarkLookup200 measures lookups in a 200-node simulated network with
// the default configuration and latency. It reports the virtual time from
// start to result, the FindNode requests and LookupResult.Hops, the request
// rounds along the longest referral chain to a node in the result, in
// which a contact taken from the routing table counts 1. It also reports
// the messages the network carried meanwhile: the lookup's requests and
// responses, the pings that verify the nodes it learned, and any
// background traffic.
func BenchmarkLookup200(b *testing.B) {
	net := buildNetwork(b, 2, 200, 3)
	live := net.Live()
	var virtual time.Duration
	var msgs, queries, hops int

	b.ResetTimer()
	for b.Loop() {
		from := live[net.Rand().IntN(len(live))]
		before := net.Stats().TotalMessages()
		res, err := net.LookupWait(from, randomID(net), time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		virtual += res.Finished.Sub(res.Started)
		msgs += net.Stats().TotalMessages() - before
		queries += res.Queried
		hops += res.Hops
	}

	n := float64(b.N)
	b.ReportMetric(float64(virtual.Microseconds())/1000/n, "virtual-ms/lookup")
	b.ReportMetric(float64(msgs)/n, "msgs/lookup")
	b.ReportMetric(float64(queries)/n, "queries/lookup")
	b.ReportMetric(float64(hops)/n, "hops/lookup")
}

// BenchmarkMemoryPerContact measures the heap a Machine holds per routing
// table contact, with the Machine's own overhead spread over its
// contacts: 100 Machines with 10 full buckets of K = 20 each.
func BenchmarkMemoryPerContact(b *testing.B) {
	const machines, buckets, k = 100, 10, 20
	var perContact, perMachine float64
	for b.Loop() {
		perContact, perMachine = measureTableMemory(b, machines, buckets, k)
	}
	b.ReportMetric(perContact, "bytes/contact")
	b.ReportMetric(perMachine, "bytes/machine")
}

func measureTableMemory(b *testing.B, machines, buckets, k int) (perContact, perMachine float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	built := make([]*kademlia.Machine, machines)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	contacts := 0
	for i := range built {
		self := wire.Contact{ID: randomNodeID(rng), Addr: netip.MustParseAddrPort("192.0.2.1:4242")}
		m := kademlia.New(self, kademlia.Config{K: k}, uint64(i), start)
		for idx := range buckets {
			for j := range k {
				c := wire.Contact{ID: idInBucket(rng, self.ID, idx), Addr: benchAddr(idx*k + j)}
				m.HandleRequest(start, c, 1, &wire.Ping{})
			}
		}
		m.Outbox()
		m.Events()
		contacts += m.Len()
		built[i] = m
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(built)
	if contacts != machines*buckets*k {
		b.Fatalf("tables hold %d contacts, want %d", contacts, machines*buckets*k)
	}
	heap := float64(after.HeapAlloc - before.HeapAlloc)
	return heap / float64(contacts), heap / float64(machines)
}

func randomNodeID(rng *rand.Rand) identity.NodeID {
	var id identity.NodeID
	for i := 0; i < len(id); i += 8 {
		binary.BigEndian.PutUint64(id[i:], rng.Uint64())
	}
	return id
}

// idInBucket returns a random ID sharing exactly idx leading bits with self.
func idInBucket(rng *rand.Rand, self identity.NodeID, idx int) identity.NodeID {
	id := randomNodeID(rng)
	for bit := 0; bit <= idx; bit++ {
		mask := byte(0x80) >> (bit % 8)
		want := self[bit/8] & mask
		if bit == idx {
			want ^= mask
		}
		id[bit/8] = id[bit/8]&^mask | want
	}
	return id
}

// benchAddr puts contact n in its own IPv6 /48 of the documentation prefix.
func benchAddr(n int) netip.AddrPort {
	var ip [16]byte
	ip[0], ip[1], ip[2], ip[3] = 0x20, 0x01, 0x0d, 0xb8
	binary.BigEndian.PutUint16(ip[4:], uint16(n))
	ip[15] = 1
	return netip.AddrPortFrom(netip.AddrFrom16(ip), 4242)
}
