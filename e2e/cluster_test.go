package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/identity"
)

// cluster is a set of yui node processes on 127.0.0.1, without network
// namespaces: each listens on a free port, LAN discovery is off, and all
// join through a few seed nodes given with --bootstrap.
type cluster struct {
	t     testing.TB
	base  string
	nodes []*localNode
}

// localNode is one yui node process of a cluster. It can be killed and
// started again on the same data folder and QUIC port.
type localNode struct {
	name    string
	dataDir string
	logPath string
	args    []string

	// mu guards the fields below, which start and waitReady set while
	// other goroutines of a test use the node.
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	id     identity.NodeID
	listen string      // QUIC address, kept across restarts
	client *api.Client // nil until the running process serves its API
}

// apiClient returns a client of the node's API, or nil while the node is
// down or starting.
func (n *localNode) apiClient() *api.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.client
}

// nodeID returns the node's ID, known once it first served its API.
func (n *localNode) nodeID() identity.NodeID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

// liveClient returns a client of the node's API, or an error naming the
// node when it is down.
func (n *localNode) liveClient() (*api.Client, error) {
	client := n.apiClient()
	if client == nil {
		return nil, fmt.Errorf("node %s is down", n.name)
	}
	return client, nil
}

func (n *localNode) process() (*exec.Cmd, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd, n.done
}

// nodeName returns the name of a cluster's i-th node, which is also its
// data folder's name.
func nodeName(i int) string { return fmt.Sprintf("n%02d", i) }

// clusterSeeds is the number of nodes the others bootstrap from.
const clusterSeeds = 3

// newCluster returns an empty cluster in a temporary folder, or under
// $YUI_E2E_KEEP when set, which keeps the nodes' data folders and logs
// after the test. Every node it starts is killed when the test ends, and
// on failure the test prints the end of each node's log.
func newCluster(t testing.TB) *cluster {
	c := &cluster{t: t, base: t.TempDir()}
	if dir := os.Getenv("YUI_E2E_KEEP"); dir != "" {
		c.base = filepath.Join(dir, t.Name())
	}
	t.Cleanup(c.stopAll)
	return c
}

// start starts n nodes and waits until each serves its API. The first
// node starts alone, the next clusterSeeds-1 bootstrap from it, and the
// rest bootstrap from all of those seeds. Extra args go to every 'yui
// node' command.
func (c *cluster) start(n int, args ...string) {
	c.t.Helper()
	var seeds []string
	addSeeds := func(nodes []*localNode) {
		for _, s := range nodes {
			s.mu.Lock()
			seeds = append(seeds, s.listen)
			s.mu.Unlock()
		}
	}
	addSeeds(c.startNodes(0, 1, nil, args))
	addSeeds(c.startNodes(1, min(clusterSeeds, n), seeds, args))
	c.startNodes(min(clusterSeeds, n), n, seeds, args)
}

// startNodes starts nodes first to last-1 in parallel, bootstrapping from
// seeds, and waits for them.
func (c *cluster) startNodes(first, last int, seeds, args []string) []*localNode {
	c.t.Helper()
	var started []*localNode
	for i := first; i < last; i++ {
		name := nodeName(i)
		n := &localNode{
			name:    name,
			dataDir: filepath.Join(c.base, name),
			logPath: filepath.Join(c.base, name+".log"),
			args:    slices.Clone(args),
		}
		if len(seeds) > 0 {
			n.args = append(n.args, "--bootstrap", strings.Join(seeds, ","))
		}
		c.nodes = append(c.nodes, n)
		started = append(started, n)
		if err := n.start(); err != nil {
			c.t.Fatal(err)
		}
	}
	for _, n := range started {
		if err := n.waitReady(30 * time.Second); err != nil {
			c.t.Fatal(err)
		}
	}
	return started
}

// start runs the node's process. On a restart it listens on the port it
// had, so that other nodes' routing tables stay valid.
func (n *localNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	listen := n.listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	args := append([]string{"node", "--data-dir", n.dataDir, "--listen", listen,
		"--api", "127.0.0.1:0", "--discovery-port", "-1"}, n.args...)
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", n.name, err)
	}
	defer logFile.Close()

	// A SIGKILLed node leaves its API address file behind; removing it
	// makes waitReady wait for the new process's address.
	os.Remove(filepath.Join(n.dataDir, api.APIAddrFile))

	cmd := exec.Command(yuiBin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	n.cmd, n.done, n.client = cmd, make(chan struct{}), nil
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(n.done)
	return nil
}

// waitReady waits until the node serves its API and learns its ID and
// QUIC address.
func (n *localNode) waitReady(limit time.Duration) error {
	_, done := n.process()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if client, err := api.FindNode(n.dataDir); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s, err := client.Status(ctx)
			cancel()
			if err == nil {
				n.mu.Lock()
				n.id, n.listen, n.client = s.ID, s.Listen, client
				n.mu.Unlock()
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting; log:\n%s", n.name, n.logTail(4000))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not serve its API within %s", n.name, limit)
}

// alive reports whether the node's process runs.
func (n *localNode) alive() bool {
	_, done := n.process()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL, as a crash or a pulled plug would, and waits for
// the process to end.
func (n *localNode) kill() { killAll([]*localNode{n}) }

// killAll kills nodes at once: every SIGKILL goes out before the first
// wait. A node's API client is cleared first, so that no request starts
// on a node being killed.
func killAll(nodes []*localNode) {
	for _, n := range nodes {
		n.mu.Lock()
		n.client = nil
		if n.cmd != nil {
			n.cmd.Process.Signal(syscall.SIGKILL)
		}
		n.mu.Unlock()
	}
	for _, n := range nodes {
		if _, done := n.process(); done != nil {
			<-done
		}
	}
}

func (n *localNode) logTail(size int64) string {
	f, err := os.Open(n.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > size {
		f.Seek(info.Size()-size, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// running returns the nodes whose processes run.
func (c *cluster) running() []*localNode {
	var out []*localNode
	for _, n := range c.nodes {
		if n.alive() {
			out = append(out, n)
		}
	}
	return out
}

// waitOverlay waits until every running node has at least minPeers
// contacts in its routing table.
func (c *cluster) waitOverlay(minPeers int, limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for _, n := range c.running() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s, err := statusOf(ctx, n)
			cancel()
			if err == nil && s.Peers >= minPeers {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s has %d peers after %s, want at least %d (err %v)", n.name, peersOf(s), limit, minPeers, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func statusOf(ctx context.Context, n *localNode) (*api.Status, error) {
	client, err := n.liveClient()
	if err != nil {
		return nil, err
	}
	return client.Status(ctx)
}

func peersOf(s *api.Status) int {
	if s == nil {
		return 0
	}
	return s.Peers
}

// repairAll runs repair passes on every running node at once, as each
// node's own repair loop would, until a pass sends nothing or three
// passes have run. It returns
// the chunks the last pass found with fewer than their data shards left.
func (c *cluster) repairAll(ctx context.Context) (lost int) {
	c.t.Helper()
	for pass := 1; pass <= 3; pass++ {
		nodes := c.running()
		var total api.RepairReport
		var mu sync.Mutex
		errs := runParallel(len(nodes), len(nodes), func(i int) error {
			client, err := nodes[i].liveClient()
			if err != nil {
				return err
			}
			rep, err := client.Repair(ctx)
			if err != nil {
				return fmt.Errorf("repair on %s: %w", nodes[i].name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			total.RecordsPushed += rep.RecordsPushed
			total.RecordsPulled += rep.RecordsPulled
			total.HandedOver += rep.HandedOver
			total.ShardsRebuilt += rep.ShardsRebuilt
			total.ShardsMoved += rep.ShardsMoved
			total.ChunksLost += rep.ChunksLost
			total.BytesSent += rep.BytesSent
			total.Errors += rep.Errors
			return nil
		})
		for _, err := range errs {
			c.t.Error(err)
		}
		c.t.Logf("repair pass %d on %d nodes: %d records pushed, %d pulled, %d handed over, %d shards rebuilt, %d moved, %d chunks lost, %d bytes sent, %d failed requests",
			pass, len(nodes), total.RecordsPushed, total.RecordsPulled, total.HandedOver,
			total.ShardsRebuilt, total.ShardsMoved, total.ChunksLost, total.BytesSent, total.Errors)
		lost = total.ChunksLost
		if total.BytesSent == 0 && total.Errors == 0 {
			break
		}
	}
	return lost
}

// stopAll kills every node and, if the test failed, prints the end of
// each node's log.
func (c *cluster) stopAll() {
	killAll(c.nodes)
	if !c.t.Failed() && os.Getenv("YUI_E2E_LOGS") == "" {
		return
	}
	for _, n := range c.nodes {
		c.t.Logf("end of the log of %s (%s):\n%s", n.name, n.nodeID().Short(), n.logTail(3000))
	}
}

// runParallel runs work(i) for i in [0, n) on workers goroutines and returns
// the errors, at most one per i.
func runParallel(n, workers int, work func(i int) error) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := work(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}
