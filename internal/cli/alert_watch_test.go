package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/node"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startWatchedNode(t *testing.T, dir string) *node.Node {
	t.Helper()
	n, err := node.Start(context.Background(), node.Config{
		DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0",
		DiscoveryPort: -1, MQTT: node.MQTTOff, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAlertWatchFollowsRestart stops the watched node and starts it
// again, on a new API port, and checks that watch says so and opens a
// new stream to the restarted node.
func TestAlertWatchFollowsRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	n := startWatchedNode(t, dir)
	var errOut syncBuffer
	w := &alertWatch{g: &globalFlags{dataDir: dir}, out: &bytes.Buffer{}, errOut: &errOut,
		printed: make(map[alertID]bool), retryMax: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx, false) }()
	waitUntil(t, "the first stream", func() bool { return w.streams.Load() == 1 })

	n.Close()
	waitUntil(t, "watch to report the lost node", func() bool {
		return strings.Contains(errOut.String(), "connecting again")
	})
	n = startWatchedNode(t, dir)
	defer n.Close()
	waitUntil(t, "a stream to the restarted node", func() bool { return w.streams.Load() >= 2 })
	for _, line := range []string{"waiting for alerts; press Ctrl-C to stop", "connected again"} {
		if !strings.Contains(errOut.String(), line) {
			t.Errorf("watch wrote %q to stderr, want a line %q", errOut.String(), line)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch ended with %v after the interrupt, want nil", err)
	}
}

// TestAlertWatchSkipsAlertsHeldAtStart checks that watch never prints an
// alert the node held when watch started, even on a later stream that
// starts with every held alert, as the stream after a node restart does.
func TestAlertWatchSkipsAlertsHeldAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	runCLI(t, "authority", "create", "city", "--data-dir", dir)
	n := startWatchedNode(t, dir)
	defer n.Close()
	runCLI(t, "alert", "send", "--data-dir", dir, "Before the watch")

	var out syncBuffer
	w := &alertWatch{g: &globalFlags{dataDir: dir}, out: &out, errOut: &bytes.Buffer{},
		printed: make(map[alertID]bool), retryMax: time.Second}
	first, stopFirst := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.stream(first, false) }()
	waitUntil(t, "the first stream", func() bool { return w.streams.Load() == 1 })
	stopFirst()
	<-done

	runCLI(t, "alert", "send", "--data-dir", dir, "Between the streams")
	second, stopSecond := context.WithCancel(context.Background())
	go func() { done <- w.stream(second, true) }()
	waitUntil(t, "the alert sent between the streams", func() bool {
		return strings.Contains(out.String(), "Between the streams")
	})
	stopSecond()
	<-done

	if strings.Contains(out.String(), "Before the watch") {
		t.Errorf("watch printed an alert the node held before it started:\n%s", out.String())
	}
}

func TestAlertWatchNeedsNodeAtStart(t *testing.T) {
	w := &alertWatch{g: &globalFlags{dataDir: t.TempDir()}, out: &bytes.Buffer{}, errOut: &bytes.Buffer{},
		printed: make(map[alertID]bool), retryMax: time.Second}
	if err := w.run(context.Background(), false); err == nil {
		t.Fatal("watch with no node running returned no error")
	}
}

// TestAlertWatchStopsOnInterrupt runs watch in a child process started
// with SIGINT ignored, as a shell script starts a background command,
// and checks that SIGINT still ends it.
func TestAlertWatchStopsOnInterrupt(t *testing.T) {
	if dir := os.Getenv("YUI_TEST_WATCH_DIR"); dir != "" {
		root := newRootCommand()
		root.SetArgs([]string{"alert", "watch", "--data-dir", dir})
		if err := root.Execute(); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}

	dir := filepath.Join(t.TempDir(), "node")
	n := startWatchedNode(t, dir)
	defer n.Close()
	child := exec.Command(os.Args[0], "-test.run=^TestAlertWatchStopsOnInterrupt$")
	child.Env = append(os.Environ(), "YUI_TEST_WATCH_DIR="+dir)
	// A child inherits ignored signals, so the test ignores SIGINT while
	// it starts the child.
	signal.Ignore(os.Interrupt)
	err := child.Start()
	signal.Reset(os.Interrupt)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()

	// The child ignores a SIGINT that arrives before watch installs its
	// handler, so the signal is sent again until the child ends.
	deadline := time.After(20 * time.Second)
	for {
		child.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("watch ended with %v after SIGINT, want exit status 0", err)
			}
			return
		case <-deadline:
			child.Process.Kill()
			t.Fatal("watch started with SIGINT ignored still runs 20 s after the first SIGINT")
		case <-time.After(250 * time.Millisecond):
		}
	}
}
