package search

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// BenchmarkRepairPass times one index repair pass of a holder that
// stores 100,000 postings of one namespace, spread over its 256
// partitions, in a cluster of 3 nodes that each store all of them.
//
//	go test -run '^$' -bench BenchmarkRepairPass -benchtime 5x ./search/
func BenchmarkRepairPass(b *testing.B) {
	const postings = 100_000
	posts := make([]wire.IndexPosting, postings)
	for i := range posts {
		rand.Read(posts[i].Token[:])
		posts[i].Entry = make([]byte, 60)
		rand.Read(posts[i].Entry)
	}
	ctx := context.Background()
	c := newCluster(b, 3)
	for _, n := range c.all() {
		for batch := range slices.Chunk(posts, wire.MaxIndexPostings) {
			resp := n.index.HandleMessage(ctx, transport.Peer{}, &wire.IndexAdd{Namespace: "bench", Postings: batch})
			if resp.Type() != wire.TypeAck {
				b.Fatalf("IndexAdd: %+v", resp)
			}
		}
	}
	holder := c.node(0)
	r, err := NewRepairer(RepairConfig{Index: holder.index, Network: holder, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}

	// In sync: every holder has every posting, so a pass sends one
	// IndexSync per partition and holder and no posting.
	b.Run("in_sync", func(b *testing.B) {
		for b.Loop() {
			rep, err := r.Run(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if rep.PostingsSent != 0 {
				b.Fatalf("pass over complete holders sent %d postings", rep.PostingsSent)
			}
		}
	})

	// Handover: a fourth node joins, and the holder sends it the postings
	// of the partitions where it is now among the 3 closest. Each
	// iteration starts a new node, so the first pass does the work.
	b.Run("handover_to_new_node", func(b *testing.B) {
		sent := 0
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			n := c.add(3+i, nil)
			b.StartTimer()
			rep, err := r.Run(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sent += rep.PostingsSent
			b.StopTimer()
			c.kill(n)
			b.StartTimer()
		}
		b.ReportMetric(float64(sent)/float64(b.N), "postings_sent/op")
	})
}
