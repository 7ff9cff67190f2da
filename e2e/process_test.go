package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/identity"
)

// process is one yui node process running in a namespace.
type process struct {
	name    string
	ns      *netns.Namespace
	dataDir string
	cancel  context.CancelFunc
	done    chan struct{}

	mu  sync.Mutex
	log bytes.Buffer
}

// safeWriter lets the command write its output into the process's log.
type safeWriter struct{ p *process }

func (w safeWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

// startNode runs "yui node" with args inside ns, with a new data folder.
// The process is stopped when the test ends, and its log is printed if
// the test failed.
func startNode(t testing.TB, ns *netns.Namespace, name string, args ...string) *process {
	t.Helper()
	return startNodeIn(t, ns, name, filepath.Join(t.TempDir(), name), args...)
}

// startNodeIn is startNode with a given data folder, to restart a node.
func startNodeIn(t testing.TB, ns *netns.Namespace, name, dataDir string, args ...string) *process {
	t.Helper()
	p := &process{name: name, ns: ns, dataDir: dataDir, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel

	cmd := ns.Command(ctx, yuiBin, append([]string{"node", "--data-dir", p.dataDir}, args...)...)
	cmd.Stdout, cmd.Stderr = safeWriter{p}, safeWriter{p}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()

	t.Cleanup(func() {
		p.stop()
		if t.Failed() || os.Getenv("YUI_E2E_LOGS") != "" {
			t.Logf("log of %s:\n%s", p.name, p.logText())
		}
	})
	return p
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop sends SIGTERM and waits for the process to exit.
func (p *process) stop() {
	p.cancel()
	<-p.done
}

// yui runs a yui command for this node inside its namespace, where the
// node's API on 127.0.0.1 is reachable.
func (p *process) yui(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--data-dir", p.dataDir)
	out, err := p.ns.Command(ctx, yuiBin, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("yui %v on %s: %w", args, p.name, err)
	}
	return out, nil
}

// status returns the node's status, or an error while it is starting.
func (p *process) status(ctx context.Context) (*api.Status, error) {
	out, err := p.yui(ctx, "status", "--json")
	if err != nil {
		return nil, err
	}
	var s api.Status
	return &s, json.Unmarshal(out, &s)
}

// peerIDs returns the IDs in the node's routing table.
func (p *process) peerIDs(ctx context.Context) (map[identity.NodeID]bool, error) {
	out, err := p.yui(ctx, "peers", "--json")
	if err != nil {
		return nil, err
	}
	var peers []api.Peer
	if err := json.Unmarshal(out, &peers); err != nil {
		return nil, err
	}
	ids := make(map[identity.NodeID]bool)
	for _, peer := range peers {
		ids[peer.ID] = true
	}
	return ids, nil
}

// waitStarted waits until the node serves its API and returns its ID.
func (p *process) waitStarted(t testing.TB) identity.NodeID {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(p.dataDir, api.APIAddrFile)); err == nil {
			if s, err := p.status(context.Background()); err == nil {
				return s.ID
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited while starting", p.name)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not start in 30 s", p.name)
	return identity.NodeID{}
}
