package store

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// TestStalledDescriptorHoldersCostLittle stalls two of a namespace's three
// descriptor holders, as nodes killed without leaving that lookups still
// list, lets the gateway's cached descriptor expire and reads a record.
// Fetching the descriptor must not wait the whole request timeout for
// the stalled holders, nor push the descriptor to them one after another.
func TestStalledDescriptorHoldersCostLittle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 6, smallParams(2, 2, 3))
		ctx := context.Background()
		gw := c.node(0)
		value := testValue(1000, 3)
		if _, err := gw.store.Put(ctx, "", "stall", "v", bytes.NewReader(value), PutOptions{}); err != nil {
			t.Fatal(err)
		}
		// A first read measures the holders' latency.
		if _, err := gw.store.Get(ctx, "", "stall", "v", &bytes.Buffer{}, GetOptions{}); err != nil {
			t.Fatal(err)
		}

		var stalledAsks, stalledPuts atomic.Int64
		stall := func(ctx context.Context, msg wire.Message) wire.Message {
			switch msg.(type) {
			case *wire.GetNamespace:
				stalledAsks.Add(1)
			case *wire.PutNamespace:
				stalledPuts.Add(1)
			}
			<-ctx.Done()
			return &wire.Error{Code: wire.CodeInternal, Message: "stalled"}
		}
		stalled := 0
		for _, cand := range sortByDistance(NamespaceID("stall"), contactsOf(c.live())) {
			if cand.ID != gw.id.ID && stalled < 2 {
				nodeByID(c, cand).setIntercept(stall)
				stalled++
			}
		}

		// The descriptor cache expires after DescriptorTTL, 10 s.
		time.Sleep(11 * time.Second)
		start := time.Now()
		var got bytes.Buffer
		if _, err := gw.store.Get(ctx, "", "stall", "v", &got, GetOptions{}); err != nil {
			t.Fatalf("Get with stalled descriptor holders: %v", err)
		}
		took := time.Since(start)
		if !bytes.Equal(got.Bytes(), value) {
			t.Fatal("Get with stalled descriptor holders returned different bytes")
		}
		if stalledAsks.Load() == 0 {
			t.Fatal("no stalled holder was asked for the descriptor, so the test shows nothing")
		}
		if n := stalledPuts.Load(); n != 0 {
			t.Errorf("the gateway pushed the descriptor %d times to holders that never responded", n)
		}
		timeout := 10 * time.Second // Config.RequestTimeout's default
		if took > timeout/4 {
			t.Errorf("Get with stalled descriptor holders took %v of virtual time, want at most a quarter of the %v request timeout", took, timeout)
		}
	})
}
