package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/internal/netns"
)

// mistake is an operator error that "yui node" must reject at once with a
// message naming the bad value and the fix.
type mistake struct {
	name  string
	args  []string
	env   []string
	setup func(t *testing.T, ns *netns.Namespace, dataDir string)
	// want lists strings the error output must contain, and unwanted
	// strings it must not contain.
	want, unwanted []string
	// knownBug, if set, skips the case: the node does not reject it yet.
	knownBug string
}

func writeFile(content string) func(*testing.T, *netns.Namespace, string) {
	return func(t *testing.T, _ *netns.Namespace, dir string) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "node.key"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// truncatedKey is the first 80 bytes of a valid PEM Ed25519 key.
const truncatedKey = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEII0qMF6BsYvOTncH9z++2ODtpuPp8GgY\n"

// writeRSAKey writes a valid PKCS #8 RSA key, which is not a node key.
func writeRSAKey(t *testing.T, ns *netns.Namespace, dir string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))(t, ns, dir)
}

// holdUDP binds a UDP port on every address of ns without SO_REUSEPORT,
// as an unrelated program would, and returns the port.
func holdUDP(t *testing.T, ns *netns.Namespace, port string) string {
	t.Helper()
	conn := listenUDP(t, ns, "0.0.0.0:"+port)
	_, p, _ := strings.Cut(conn.LocalAddr().String(), ":")
	return p
}

func operatorMistakes() []mistake {
	long := strings.Repeat("x", 65)
	return []mistake{
		{name: "network with space", args: []string{"--network", "a b"}, want: []string{`"a b"`, "printable ASCII"}},
		{name: "network not ASCII", args: []string{"--network", "ゆい"}, want: []string{`"ゆい"`}, unwanted: []string{"ã"}},
		{name: "network too long", args: []string{"--network", long}, want: []string{"65 bytes", "limit 64"}},
		{name: "empty key file", setup: writeFile(""), want: []string{"node.key", "move the file away"}},
		{name: "truncated key file", setup: writeFile(truncatedKey), want: []string{"node.key", "move the file away"}},
		{name: "RSA key file", setup: writeRSAKey, want: []string{"node.key", "Ed25519"}},
		{name: "key file is a folder", setup: func(t *testing.T, _ *netns.Namespace, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "node.key"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"node.key", "is a directory"}},
		{name: "discovery port not a number", env: []string{"YUI_DISCOVERY_PORT=abc"}, want: []string{"YUI_DISCOVERY_PORT", `"abc"`}},
		{name: "discovery port too large", env: []string{"YUI_DISCOVERY_PORT=70000"}, want: []string{"70000", "1-65535"}},
		{name: "discovery port negative", args: []string{"--discovery-port", "-5"}, want: []string{"-5"}},
		{name: "listen port too large", env: []string{"YUI_LISTEN=127.0.0.1:99999"}, want: []string{"99999"}},
		{name: "API address without port", env: []string{"YUI_API=nonsense"}, want: []string{"nonsense", "--api"}},
		{name: "log format", env: []string{"YUI_LOG_FORMAT=xml"}, want: []string{`"xml"`, "text or json"}},
		{name: "log level", env: []string{"YUI_LOG_LEVEL=loud"}, want: []string{`"loud"`, "debug, info, warn or error"}},
		{name: "API port taken", setup: func(t *testing.T, ns *netns.Namespace, _ string) { holdTCP(t, ns, "127.0.0.1:4801") },
			args: []string{"--api", "127.0.0.1:4801"}, want: []string{"127.0.0.1:4801", "--api"}},
		{name: "default API port given and taken", setup: func(t *testing.T, ns *netns.Namespace, _ string) { holdTCP(t, ns, "127.0.0.1:4719") },
			args: []string{"--api", "127.0.0.1:4719"}, want: []string{"127.0.0.1:4719", "--api"}},
		{name: "QUIC port taken", setup: func(t *testing.T, ns *netns.Namespace, _ string) { holdUDP(t, ns, "4802") },
			args: []string{"--listen", "127.0.0.1:4802"}, want: []string{"4802", "--listen"}},
		{name: "discovery port taken", setup: func(t *testing.T, ns *netns.Namespace, _ string) { holdUDP(t, ns, "4803") },
			args: []string{"--discovery-port", "4803"}, want: []string{"4803", "--discovery-port"},
			knownBug: "the error does not name --discovery-port, the flag that picks another port or turns discovery off"},
		{name: "API address file is a folder", setup: func(t *testing.T, _ *netns.Namespace, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "api.addr"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, args: []string{"--discovery-port", "-1"}, want: []string{"api.addr"}},
		{name: "bootstrap without port", args: []string{"--bootstrap", "foo"}, want: []string{`"foo"`, "host:port"}},
		{name: "bootstrap port 0", args: []string{"--bootstrap", "127.0.0.1:0"}, want: []string{"127.0.0.1:0", "port"}},
		{name: "bootstrap port too large", args: []string{"--bootstrap", "127.0.0.1:99999"}, want: []string{"99999", "port"}},
	}
}

// holdTCP listens on a TCP address in ns, as an unrelated program would.
func holdTCP(t *testing.T, ns *netns.Namespace, addr string) {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
}

// TestBreakOperatorMistakes runs "yui node" with bad flags, environment
// variables and data folders. Each must exit with an error that names the
// value and what to do, not start, hang or panic.
func TestBreakOperatorMistakes(t *testing.T) {
	ns := loopbackNS(t)
	for _, m := range operatorMistakes() {
		t.Run(m.name, func(t *testing.T) {
			if m.knownBug != "" {
				knownBug(t, m.knownBug)
			}
			dir := filepath.Join(t.TempDir(), "data")
			if m.setup != nil {
				m.setup(t, ns, dir)
			}
			args := append([]string{"node", "--data-dir", dir}, m.args...)
			out, err := yuiCommand(t, ns, exitLimit, m.env, args...)
			checkRejected(t, out, err, m.want)
			for _, r := range m.unwanted {
				if strings.Contains(out, r) {
					t.Errorf("error output contains %q:\n%s", r, tail(out, 10))
				}
			}
		})
	}
}

// checkRejected checks that a command failed promptly with a one-line
// error containing every string in want, and did not panic.
func checkRejected(t *testing.T, out string, err error, want []string) {
	t.Helper()
	if isTimeout(err) {
		t.Fatalf("command kept running; output:\n%s", tail(out, 20))
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("command succeeded or did not run (err %v); output:\n%s", err, tail(out, 20))
	}
	if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
		t.Fatalf("command panicked:\n%s", out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("error output lacks %q:\n%s", w, tail(out, 10))
		}
	}
}

// TestBreakTwoNodesOneDataDir starts a second node on the data folder of
// a running one, which must fail and leave the first node serving.
func TestBreakTwoNodesOneDataDir(t *testing.T) {
	ns := loopbackNS(t)
	dir := filepath.Join(t.TempDir(), "data")
	first := startDaemon(t, ns, "first", dir, loopbackArgs...)
	id := first.waitStarted(t).ID

	out, err := yuiCommand(t, ns, exitLimit, nil, append([]string{"node", "--data-dir", dir}, loopbackArgs...)...)
	checkRejected(t, out, err, []string{"data folder in use", dir, "--data-dir"})

	if s := first.waitStarted(t); s.ID != id {
		t.Fatalf("first node now reports ID %s, want %s", s.ID.Short(), id.Short())
	}
}

// TestBreakReadOnlyDataDir starts a node on a data folder mounted read-only
// in a private mount namespace.
func TestBreakReadOnlyDataDir(t *testing.T) {
	ns := loopbackNS(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare command to make a private read-only mount")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec ip netns exec "$2" "$3" node --data-dir "$1" --listen 127.0.0.1:0 --api 127.0.0.1:0 --discovery-port -1`
	cmd := exec.Command("unshare", "-m", "sh", "-c", script, "sh", dir, ns.Name(), yuiBin)
	cmd.WaitDelay = time.Second
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(exitLimit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("node on a read-only data folder kept running:\n%s", out)
	}
	checkRejected(t, string(out), err, []string{dir, "read-only file system"})
}

// TestBreakUnresolvableBootstrap gives a bootstrap host name that does not
// resolve. The name may resolve later, so the node must run, keep
// retrying and log which name failed.
func TestBreakUnresolvableBootstrap(t *testing.T) {
	ns := loopbackNS(t)
	d := startDaemon(t, ns, "node", filepath.Join(t.TempDir(), "data"),
		append(loopbackArgs, "--bootstrap", "no-such-host.invalid:4717")...)
	d.waitStarted(t)

	deadline := time.Now().Add(exitLimit)
	for !strings.Contains(d.log.String(), `no-such-host.invalid`) {
		if time.Now().After(deadline) {
			t.Fatalf("node did not log the unresolvable bootstrap host:\n%s", tail(d.log.String(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !d.running() {
		t.Fatal("node exited over a bootstrap host that may resolve later")
	}
}

// TestBreakBootstrapToSelf gives a node its own address as the bootstrap
// address. The node cannot join itself, and no retry will change that, so
// it must log that once and stop trying.
func TestBreakBootstrapToSelf(t *testing.T) {

	ns := loopbackNS(t)
	d := startDaemon(t, ns, "node", filepath.Join(t.TempDir(), "data"),
		"--listen", "127.0.0.1:4804", "--api", "127.0.0.1:0", "--discovery-port", "-1", "--bootstrap", "127.0.0.1:4804")
	d.waitStarted(t)

	// The first retry comes 1 s after the first attempt.
	time.Sleep(3 * time.Second)
	if n := strings.Count(d.log.String(), "this node's own"); n != 1 {
		t.Fatalf("node tried its own address %d times, want 1:\n%s", n, tail(d.log.String(), 20))
	}
}

// TestBreakInspectWithoutNode runs the inspection commands on data folders
// where no node runs: no API address file, an empty one, one naming a
// closed port and one holding garbage.
func TestBreakInspectWithoutNode(t *testing.T) {
	ns := loopbackNS(t)
	cases := []struct {
		name    string
		apiAddr *string
		want    []string
	}{
		{"no address file", nil, []string{"api.addr does not exist", "yui node --data-dir"}},
		{"empty address file", ptr(""), []string{"api.addr is empty"}},
		{"closed port", ptr("127.0.0.1:1\n"), []string{"127.0.0.1:1", "is 'yui node' running?"}},
		{"garbage", ptr("not an address\n"), []string{"not an address"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.apiAddr != nil {
				if err := os.WriteFile(filepath.Join(dir, "api.addr"), []byte(*c.apiAddr), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, cmd := range [][]string{{"status"}, {"peers"}, {"lookup", "some-key"}} {
				out, err := yuiCommand(t, ns, exitLimit, nil, append(cmd, "--data-dir", dir)...)
				checkRejected(t, out, err, c.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestBreakJSONLogKeysUnique runs a node with JSON logs and checks that no
// record repeats a key: JSON readers keep only one of two equal keys, so a
// repeated key loses a value.
func TestBreakJSONLogKeysUnique(t *testing.T) {

	ns := loopbackNS(t)
	d := startDaemon(t, ns, "node", filepath.Join(t.TempDir(), "data"), append(loopbackArgs, "--log-format", "json")...)
	d.waitStarted(t)
	d.terminate(exitLimit)

	for i, line := range strings.Split(strings.TrimSpace(d.log.String()), "\n") {
		if key, ok := repeatedKey(line); ok {
			t.Errorf("log record %d repeats key %q: %s", i+1, key, line)
		}
	}
}

// repeatedKey returns the first top-level key that a JSON object repeats.
func repeatedKey(record string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(record))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if seen[key] {
			return key, true
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}
