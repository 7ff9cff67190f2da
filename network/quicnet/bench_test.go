package quicnet

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// BenchmarkRequest measures request round trips over loopback: a Ping
// with an empty Pong as response, and a FindNode with 64 contacts, the
// largest routing response. It reports requests per second and the
// median and 99th percentile latency.
func BenchmarkRequest(b *testing.B) {
	nodes := &wire.Nodes{}
	for i := range wire.MaxContacts {
		nodes.Contacts = append(nodes.Contacts, wire.Contact{
			ID:   identity.KeyID([]byte{byte(i)}),
			Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(4000+i)),
		})
	}
	handler := transport.HandlerFunc(func(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
		if msg.Type() == wire.TypeFindNode {
			return nodes
		}
		return &wire.Pong{Observed: from.Addr}
	})
	quiet := func(cfg *Config) { cfg.Logger = nil }
	server := newNode(b, func(cfg *Config) {
		cfg.Logger = nil
		cfg.Handler = handler
	})
	client := newNode(b, quiet)
	to := server.contact()

	cases := []struct {
		name     string
		msg      wire.Message
		parallel bool
	}{
		{"ping/serial", &wire.Ping{}, false},
		{"ping/parallel", &wire.Ping{}, true},
		{"find-node/serial", &wire.FindNode{Target: to.ID}, false},
		{"find-node/parallel", &wire.FindNode{Target: to.ID}, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(exchangeSize(b, c.msg, handler)))
			var latencies []time.Duration
			if c.parallel {
				latencies = requestParallel(b, client, to, c.msg)
			} else {
				latencies = requestSerial(b, client, to, c.msg)
			}
			reportLatency(b, latencies)
		})
	}
}

// exchangeSize returns the bytes of frames a request and its response
// carry.
func exchangeSize(b *testing.B, msg wire.Message, h transport.Handler) int {
	resp := h.HandleMessage(context.Background(), transport.Peer{}, msg, true)
	return len(encodeFrame(b, 1, msg)) + len(encodeFrame(b, 1, resp))
}

func requestSerial(b *testing.B, from *testNode, to wire.Contact, msg wire.Message) []time.Duration {
	var latencies []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := from.Request(context.Background(), to, msg); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
	}
	return latencies
}

func requestParallel(b *testing.B, from *testNode, to wire.Contact, msg wire.Message) []time.Duration {
	var mu sync.Mutex
	var latencies []time.Duration
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			start := time.Now()
			if _, err := from.Request(context.Background(), to, msg); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(start))
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	return latencies
}

func reportLatency(b *testing.B, latencies []time.Duration) {
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	percentile := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(float64(len(latencies))/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(percentile(0.5), "p50-µs")
	b.ReportMetric(percentile(0.99), "p99-µs")
}
