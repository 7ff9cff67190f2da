package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/identity"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startLocal starts a node on 127.0.0.1 with discovery off.
func startLocal(t *testing.T, dir string, bootstrap ...string) *Node {
	t.Helper()
	n, err := Start(context.Background(), Config{
		DataDir:       dir,
		Listen:        "127.0.0.1:0",
		API:           "127.0.0.1:0",
		Bootstrap:     bootstrap,
		DiscoveryPort: -1,
		Logger:        testLogger(t).With("dir", filepath.Base(dir)),
	})
	if err != nil {
		t.Fatalf("start node in %s: %v", dir, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, what, 15*time.Second, cond)
}

// waitWithin is waitFor with a given limit.
func waitWithin(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNodesJoinThroughBootstrap(t *testing.T) {
	base := t.TempDir()
	first := startLocal(t, filepath.Join(base, "a"))
	nodes := []*Node{first}
	for _, name := range []string{"b", "c", "d"} {
		nodes = append(nodes, startLocal(t, filepath.Join(base, name), first.Addr().String()))
	}

	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know the 3 others", func() bool { return len(n.Peers()) == 3 })
	}

	target := identity.KeyID([]byte("some key"))
	res, err := nodes[3].Lookup(context.Background(), target)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if len(res.Closest) != 3 {
		t.Fatalf("lookup from d found %d nodes, want the 3 others", len(res.Closest))
	}
	for i := 1; i < len(res.Closest); i++ {
		if identity.CloserTo(target, res.Closest[i].ID, res.Closest[i-1].ID) {
			t.Errorf("closest[%d] is closer than closest[%d]: results not sorted", i, i-1)
		}
	}
}

func TestRestartKeepsID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n")
	n := startLocal(t, dir)
	id := n.ID()
	n.Close()

	again := startLocal(t, dir)
	if again.ID() != id {
		t.Fatalf("ID after restart = %s, want %s", again.ID(), id)
	}
	info, err := os.Stat(filepath.Join(dir, identity.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
}

func TestDataDirInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n")
	startLocal(t, dir)
	_, err := Start(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0", DiscoveryPort: -1, Logger: testLogger(t)})
	if !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second node on one data folder: err = %v, want ErrDataDirInUse", err)
	}
}

func TestAPI(t *testing.T) {
	base := t.TempDir()
	a := startLocal(t, filepath.Join(base, "a"))
	b := startLocal(t, filepath.Join(base, "b"), a.Addr().String())
	waitFor(t, "b to know a", func() bool { return len(b.Peers()) == 1 })

	client, err := api.FindNode(filepath.Join(base, "b"))
	if err != nil {
		t.Fatalf("FindNode: %v", err)
	}
	ctx := context.Background()

	status, err := client.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if status.ID != b.ID() || status.Peers != 1 {
		t.Errorf("status = %s with %d peers, want %s with 1", status.ID.Short(), status.Peers, b.ID().Short())
	}

	peers, err := client.Peers(ctx)
	if err != nil {
		t.Fatalf("Peers: %v", err)
	}
	if len(peers) != 1 || peers[0].ID != a.ID() {
		t.Errorf("peers = %+v, want only %s", peers, a.ID().Short())
	}

	res, err := client.Lookup(ctx, api.LookupRequest{Target: a.ID()})
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if len(res.Closest) == 0 || res.Closest[0].ID != a.ID() {
		t.Errorf("lookup of a's ID returned %+v, want a first", res.Closest)
	}

	resp, err := http.Get("http://" + b.APIAddr() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"yui_peers 1", "yui_messages_total", "yui_lookup_duration_seconds", "yui_connections"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
}

func TestAPIRejectsBadLookup(t *testing.T) {
	n := startLocal(t, filepath.Join(t.TempDir(), "a"))
	for _, body := range []string{"", "{", `{"target":"zz"}`, `{"target":"` + strings.Repeat("0", 64) + `"}`, `{"other":1}`} {
		resp, err := http.Post("http://"+n.APIAddr()+api.PathLookup, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("lookup body %q: status %d, want 400", body, resp.StatusCode)
		}
	}
}

func TestCloseRemovesAPIAddrAndTellsPeers(t *testing.T) {
	base := t.TempDir()
	a := startLocal(t, filepath.Join(base, "a"))
	b := startLocal(t, filepath.Join(base, "b"), a.Addr().String())
	waitFor(t, "a to know b", func() bool { return len(a.Peers()) == 1 })

	b.Close()
	if _, err := os.Stat(filepath.Join(base, "b", api.APIAddrFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("api.addr still present after Close: %v", err)
	}
	waitFor(t, "a to drop b after its Leave", func() bool { return len(a.Peers()) == 0 })
}
