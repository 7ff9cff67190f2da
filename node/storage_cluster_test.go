package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// skipTenNodes skips a test of 10 nodes in short mode and under the race
// detector, where 10 nodes on 2 cores take longer than the test allows to
// find each other. storage/store runs the placement code under the race
// detector.
func skipTenNodes(t *testing.T) {
	t.Helper()
	if testing.Short() || raceEnabled {
		t.Skip("10 nodes")
	}
}

// clusterNamespaceReadInTurin places namespace "local" by cluster and
// grants read access on it to user "turin" of node 9, in the other cell.
func clusterNamespaceReadInTurin(ctx context.Context, t *testing.T, clients []*api.Client) {
	t.Helper()
	if err := clients[0].SetPlacement(ctx, "", "local", api.PlacementCluster); err != nil {
		t.Fatalf("SetPlacement: %v", err)
	}
	turin, err := clients[9].CreateUser(ctx, "turin")
	if err != nil {
		t.Fatal(err)
	}
	grant := api.Grant{User: "turin", PublicKeys: turin.PublicKeys, Right: api.RightRead}
	if err := clients[0].Grant(ctx, "", "local", grant); err != nil {
		t.Fatal(err)
	}
}

// brusselsAndTurin returns the positions of 8 nodes in Brussels and 2 in
// Turin, two cells far apart.
func brusselsAndTurin() []string {
	positions := make([]string, 10)
	for i := range positions {
		positions[i] = "50.81,4.38"
		if i >= 8 {
			positions[i] = "45.07,7.69"
		}
	}
	return positions
}

// startCells starts nodes over QUIC on loopback at the given positions,
// waits until each lists all others as peers, and registers every node in its
// cell's directory at once instead of after the first wait.
func startCells(t *testing.T, positions []string) ([]*Node, []*api.Client) {
	t.Helper()
	base := t.TempDir()
	first := startAt(t, filepath.Join(base, "0"), positions[0])
	nodes := []*Node{first}
	for i, pos := range positions[1:] {
		nodes = append(nodes, startAt(t, filepath.Join(base, fmt.Sprint(i+1)), pos, first.Addr().String()))
	}
	var clients []*api.Client
	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know every other node", func() bool { return len(n.Peers()) == len(nodes)-1 })
		clients = append(clients, api.NewClient(n.APIAddr()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range nodes {
		if err := n.storage.store.JoinCluster(ctx, n.jobs.place.cluster()); err != nil {
			t.Fatalf("node %s joining cell %s: %v", n.ID().Short(), n.jobs.place.cluster(), err)
		}
	}
	return nodes, clients
}

// TestNamespacePlacedInCell runs 8 nodes in Brussels and 2 in Turin over
// QUIC. A value of a namespace placed by cluster, written in Brussels,
// is stored only on the Brussels nodes and read back in Turin. A value of
// a namespace without the setting is stored on nodes of both cities.
func TestNamespacePlacedInCell(t *testing.T) {
	skipTenNodes(t)
	nodes, clients := startCells(t, brusselsAndTurin())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if a, b := nodes[0].jobs.place.cluster(), nodes[9].jobs.place.cluster(); a != "50.5,4.0" || b != "45.0,7.5" {
		t.Fatalf("cells %q and %q, want 50.5,4.0 and 45.0,7.5", a, b)
	}

	clusterNamespaceReadInTurin(ctx, t, clients)
	value := make([]byte, 300<<10)
	rand.Read(value)
	if _, err := clients[0].PutRecord(ctx, "", "local", "v", bytes.NewReader(value), int64(len(value)), ""); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	var got bytes.Buffer
	if _, err := clients[9].GetRecord(ctx, "turin", "local", "v", &got); err != nil {
		t.Fatalf("GetRecord in Turin: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Fatalf("Turin read %d bytes that differ from the %d written", got.Len(), len(value))
	}
	// 8 holders in the cell code the chunk as 4+4, one shard each.
	brussels, others := shardsHeld(ctx, t, clients)
	if brussels != 8 || others != 0 {
		t.Errorf("shards held: %d in Brussels and %d in Turin; want 8 and 0", brussels, others)
	}

	// Without the setting, 10 holders code the chunk as 5+5 over both
	// cities.
	if _, err := clients[0].PutRecord(ctx, "", "spread", "v", bytes.NewReader(value), int64(len(value)), ""); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	brussels2, others2 := shardsHeld(ctx, t, clients)
	if brussels2-brussels != 8 || others2-others != 2 {
		t.Errorf("the namespace without placement added %d shards in Brussels and %d in Turin; want 8 and 2",
			brussels2-brussels, others2-others)
	}
}

// shardsHeld returns the shards held by the first 8 nodes and by the
// others.
func shardsHeld(ctx context.Context, t *testing.T, clients []*api.Client) (first8, rest int64) {
	t.Helper()
	for i, c := range clients {
		st, err := c.StorageStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i < 8 {
			first8 += st.ShardsHeld
		} else {
			rest += st.ShardsHeld
		}
	}
	return first8, rest
}

// TestCellWriteAfterHolderKilled kills one of the 8 Brussels nodes, as a
// crash would, after the gateway read the cell's members. The cell's code
// 4+4 has no holder to spare, so the first write used to fail until the
// gateway took the dead node for down. It must succeed within the same
// request, with the eighth shard outside the cell, and read back in
// Turin.
func TestCellWriteAfterHolderKilled(t *testing.T) {
	skipTenNodes(t)
	nodes, clients := startCells(t, brusselsAndTurin())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clusterNamespaceReadInTurin(ctx, t, clients)
	value := make([]byte, 100<<10)
	rand.Read(value)
	if _, err := clients[0].PutRecord(ctx, "", "local", "before", bytes.NewReader(value), int64(len(value)), ""); err != nil {
		t.Fatalf("PutRecord before the kill: %v", err)
	}

	if err := nodes[3].Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	rand.Read(value)
	start := time.Now()
	if _, err := clients[0].PutRecord(ctx, "", "local", "after", bytes.NewReader(value), int64(len(value)), ""); err != nil {
		t.Fatalf("first PutRecord after killing 1 of the 8 Brussels nodes: %v", err)
	}
	t.Logf("the first write after the kill took %v", time.Since(start).Round(time.Millisecond))

	var turinShards int64
	for _, c := range clients[8:] {
		st, err := c.StorageStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		turinShards += st.ShardsHeld
	}
	if turinShards != 1 {
		t.Errorf("Turin holds %d shards, want the 1 that replaced the dead Brussels node's", turinShards)
	}

	var got bytes.Buffer
	if _, err := clients[9].GetRecord(ctx, "turin", "local", "after", &got); err != nil {
		t.Fatalf("GetRecord in Turin: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Fatalf("Turin read %d bytes that differ from the %d written", got.Len(), len(value))
	}
}

// TestGlobalWriteAfterHoldersKilled kills 2 of 10 nodes of a namespace
// placed globally. The 10 nodes the gateway finds code a chunk 5+5 with
// no node to spare, so the first write used to fail as in a cell. It must
// store the value within the same request, and read back.
func TestGlobalWriteAfterHoldersKilled(t *testing.T) {
	skipTenNodes(t)
	positions := make([]string, 10)
	for i := range positions {
		positions[i] = "50.81,4.38"
	}
	nodes, clients := startCells(t, positions)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	value := make([]byte, 100<<10)
	rand.Read(value)
	if _, err := clients[0].PutRecord(ctx, "", "spread", "before", bytes.NewReader(value), int64(len(value)), ""); err != nil {
		t.Fatalf("PutRecord before the kill: %v", err)
	}

	for _, n := range []*Node{nodes[3], nodes[6]} {
		if err := n.Kill(); err != nil {
			t.Fatalf("Kill: %v", err)
		}
	}
	rand.Read(value)
	start := time.Now()
	if _, err := clients[0].PutRecord(ctx, "", "spread", "after", bytes.NewReader(value), int64(len(value)), ""); err != nil {
		t.Fatalf("first PutRecord after killing 2 of 10 nodes: %v", err)
	}
	t.Logf("the first write after the kill took %v", time.Since(start).Round(time.Millisecond))

	var got bytes.Buffer
	if _, err := clients[0].GetRecord(ctx, "", "spread", "after", &got); err != nil {
		t.Fatalf("GetRecord: %v", err)
	}
	if !bytes.Equal(got.Bytes(), value) {
		t.Fatalf("read %d bytes that differ from the %d written", got.Len(), len(value))
	}
}
