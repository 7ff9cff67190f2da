package e2e

// The break tests attack yui node processes as a hostile peer or a careless
// operator would, and check that each node stays healthy, counts what it
// dropped and keeps its routing table clean. Every process and socket lives
// in network namespaces the test creates, so no packet reaches the host's
// own network. Tests that find a bug still open in the code skip with
// "known bug: ..." (see knownBug) and check for the behaviour the fix
// must bring.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/quicnet"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// startLimit bounds how long a node may take to serve its API, and
// exitLimit how long a command that must fail may run. Both only turn a
// hang into a failure on a loaded machine.
const (
	startLimit = 30 * time.Second
	exitLimit  = 15 * time.Second
)

// knownBug skips a test that fails because of a bug still open in the
// code, unless YUI_KNOWN_BUGS is set, so that the engineer who fixes the
// bug can run the test that shows it.
func knownBug(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("YUI_KNOWN_BUGS") == "" {
		t.Skip("known bug: " + bug)
	}
}

// loopbackNS returns a fresh namespace with only its loopback interface.
// Nodes in it reach each other on 127.0.0.0/8 and nothing else, so even
// bogus addresses that a test makes them dial go nowhere.
func loopbackNS(t *testing.T) *netns.Namespace {
	t.Helper()
	return netns.ForTest(t, "yuibrk").NewNamespace(t, "lo")
}

// daemon is a yui node process that a break test starts, signals and
// kills. Unlike process it exposes the process, so tests can send SIGKILL
// and time a clean stop.
type daemon struct {
	name    string
	ns      *netns.Namespace
	dataDir string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	log     lockedBuffer
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loopbackArgs keep a node on 127.0.0.1 with free ports and no discovery.
var loopbackArgs = []string{"--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--discovery-port", "-1"}

// startDaemon runs "yui node --data-dir dataDir args..." in ns. The
// process is killed when the test ends, and its log is printed if the test
// failed.
func startDaemon(t *testing.T, ns *netns.Namespace, name, dataDir string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, ns: ns, dataDir: dataDir, exited: make(chan struct{})}
	args = append([]string{"node", "--data-dir", dataDir, "--log-level", "debug"}, args...)
	d.cmd = ns.Command(context.Background(), yuiBin, args...)
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() || os.Getenv("YUI_E2E_LOGS") != "" {
			t.Logf("log of %s:\n%s", d.name, tail(d.log.String(), 200))
		}
	})
	return d
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines cut]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// kill sends SIGKILL and waits for the process to exit.
func (d *daemon) kill() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// terminate sends SIGTERM and reports how long the process took to exit,
// or false if it still ran after limit; it is then killed.
func (d *daemon) terminate(limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return time.Since(start), true
	case <-time.After(limit):
		d.kill()
		return time.Since(start), false
	}
}

// running reports whether the process has not exited.
func (d *daemon) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// waitStarted waits until the node serves its API and returns its status.
func (d *daemon) waitStarted(t *testing.T) *api.Status {
	t.Helper()
	deadline := time.Now().Add(startLimit)
	for time.Now().Before(deadline) {
		if s, err := d.client().Status(context.Background()); err == nil {
			return s
		}
		select {
		case <-d.exited:
			t.Fatalf("%s exited while starting:\n%s", d.name, tail(d.log.String(), 40))
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not serve its API within %v", d.name, startLimit)
	return nil
}

// client returns an API client for the node, found through its data
// folder as the CLI finds it, or a client that fails if the node has not
// written its address yet.
func (d *daemon) client() *api.Client {
	addr, err := os.ReadFile(filepath.Join(d.dataDir, api.APIAddrFile))
	if err != nil {
		addr = []byte("127.0.0.1:1")
	}
	c := api.NewClient(strings.TrimSpace(string(addr)))
	c.HTTP = nsHTTPClient(d.ns, 10*time.Second)
	return c
}

// quicAddr returns the node's QUIC address, as its status reports it.
func (d *daemon) quicAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	s := d.waitStarted(t)
	ap, err := netip.ParseAddrPort(s.Listen)
	if err != nil {
		t.Fatalf("%s reports listen address %q: %v", d.name, s.Listen, err)
	}
	return ap
}

// contact returns the node's ID and QUIC address.
func (d *daemon) contact(t *testing.T) wire.Contact {
	t.Helper()
	return wire.Contact{ID: d.waitStarted(t).ID, Addr: d.quicAddr(t)}
}

// peers returns the node's routing table by ID.
func (d *daemon) peers(t *testing.T) map[identity.NodeID]api.Peer {
	t.Helper()
	list, err := d.client().Peers(context.Background())
	if err != nil {
		t.Fatalf("peers of %s: %v", d.name, err)
	}
	out := make(map[identity.NodeID]api.Peer)
	for _, p := range list {
		out[p.ID] = p
	}
	return out
}

// lookup runs a lookup on the node through its API.
func (d *daemon) lookup(ctx context.Context, target identity.NodeID) (*api.LookupResult, error) {
	c := d.client()
	c.HTTP.Timeout = 0 // ctx bounds the call
	return c.Lookup(ctx, api.LookupRequest{Target: target})
}

// waitPeer polls until the node lists id with address addr (any address
// if addr is the zero value), or limit passes.
func (d *daemon) waitPeer(t *testing.T, id identity.NodeID, addr netip.AddrPort, limit time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		p, ok := d.peers(t)[id]
		if ok && (!addr.IsValid() || p.Addr == addr.String()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metrics returns the node's Prometheus samples, keyed by the metric name
// with its labels as printed, such as `yui_bad_peers_total` or
// `yui_messages_dropped_total{reason="too-large"}`.
func (d *daemon) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	c := d.client()
	resp, err := c.HTTP.Get(c.Base + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", d.name, err)
	}
	defer resp.Body.Close()
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// nsHTTPClient returns an HTTP client whose connections are made inside
// ns, where a node's API on 127.0.0.1 is reachable.
func nsHTTPClient(ns *netns.Namespace, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       nsDialer(ns),
			DisableKeepAlives: true,
		},
	}
}

func nsDialer(ns *netns.Namespace) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := ns.Do(func() (err error) {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// listenUDP opens a UDP socket on addr inside ns.
func listenUDP(t *testing.T, ns *netns.Namespace, addr string) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	err := ns.Do(func() error {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return err
		}
		conn, err = net.ListenUDP("udp", ua)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.Name(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// peerNode is a Yui transport that the test drives itself: an honest
// helper or an attacker with a valid certificate.
type peerNode struct {
	*quicnet.Transport
	id *identity.Identity
}

// startPeer opens a quicnet transport in ns on addr for network "yui"
// with a fresh identity. h serves its incoming messages; nil responds to
// every request with an error.
func startPeer(t *testing.T, ns *netns.Namespace, addr string, h transport.Handler) *peerNode {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	var tr *quicnet.Transport
	err = ns.Do(func() (err error) {
		tr, err = quicnet.Listen(quicnet.Config{
			Identity:       id,
			Addr:           addr,
			Network:        "yui",
			Handler:        h,
			Logger:         slog.New(slog.DiscardHandler),
			RequestTimeout: 5 * time.Second,
		})
		return err
	})
	if err != nil {
		t.Fatalf("start peer transport in %s: %v", ns.Name(), err)
	}
	t.Cleanup(func() { tr.Close() })
	return &peerNode{Transport: tr, id: id}
}

func (p *peerNode) contact() wire.Contact {
	return wire.Contact{ID: p.id.ID, Addr: p.LocalAddr()}
}

// request sends msg to to and returns the response.
func (p *peerNode) request(to wire.Contact, msg wire.Message) (wire.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Request(ctx, to, msg)
}

// rawQUIC is a bare QUIC endpoint in a namespace with a valid node
// certificate, for tests that send frames no Yui node would.
type rawQUIC struct {
	qt   *quic.Transport
	tls  *tls.Config
	id   *identity.Identity
	conf *quic.Config
}

// newRawQUIC opens a UDP socket on 127.0.0.1 in ns for hand-made QUIC
// connections. Its certificate is valid for a fresh node ID.
func newRawQUIC(t *testing.T, ns *netns.Namespace) *rawQUIC {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	udp := listenUDP(t, ns, "127.0.0.1:0")
	r := &rawQUIC{
		qt: &quic.Transport{Conn: udp},
		id: id,
		tls: &tls.Config{
			MinVersion:         tls.VersionTLS13,
			Certificates:       []tls.Certificate{nodeCertificate(t, id)},
			NextProtos:         []string{fmt.Sprintf("yui/%d/yui", wire.Version)},
			InsecureSkipVerify: true, // the test trusts the node it starts
		},
		conf: &quic.Config{MaxIncomingStreams: 1000, MaxIdleTimeout: 30 * time.Second},
	}
	t.Cleanup(func() { r.qt.Close() })
	return r
}

func (r *rawQUIC) dial(t *testing.T, to netip.AddrPort) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qc, err := r.qt.Dial(ctx, net.UDPAddrFromAddrPort(to), r.tls, r.conf)
	if err != nil {
		t.Fatalf("QUIC dial %s: %v", to, err)
	}
	t.Cleanup(func() { qc.CloseWithError(0, "test done") })
	return qc
}

// nodeCertificate returns a self-signed certificate of id's key, as
// quicnet makes one: a peer derives the node ID from the key alone.
func nodeCertificate(t *testing.T, id *identity.Identity) tls.Certificate {
	t.Helper()
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: id.ID.String()},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, id.Public, id.Private)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: ed25519.PrivateKey(id.Private)}
}

// rawExchange writes b on a new bidirectional stream, closes its send
// side and returns what the node sent back, or the error reading ended
// with.
func rawExchange(qc *quic.Conn, b []byte) ([]byte, error) {
	s, err := qc.OpenStream()
	if err != nil {
		return nil, err
	}
	s.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := s.Write(b); err != nil {
		return nil, err
	}
	s.Close()
	return io.ReadAll(s)
}

// frame returns body behind a 4-byte big-endian length, as quicnet frames
// a message.
func frame(body []byte) []byte {
	return append([]byte{byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// encode returns the wire envelope of msg, failing the test on error.
func encode(t *testing.T, request uint64, msg wire.Message) []byte {
	t.Helper()
	b, err := wire.Encode(request, msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustRespond checks that from gets a Pong for a Ping to to.
func mustRespond(t *testing.T, from *peerNode, to wire.Contact, when string) {
	t.Helper()
	resp, err := from.request(to, &wire.Ping{})
	if err != nil {
		t.Fatalf("%s: ping to the node failed: %v", when, err)
	}
	if _, ok := resp.(*wire.Pong); !ok {
		t.Fatalf("%s: ping got %#v, want a pong", when, resp)
	}
}

// yuiCommand runs a yui command in ns and returns its combined output and
// exit error. It fails the test if the command runs longer than limit.
func yuiCommand(t *testing.T, ns *netns.Namespace, limit time.Duration, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := ns.Command(ctx, yuiBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("still running after %v: %w", limit, context.DeadlineExceeded)
	}
	return out.String(), err
}

// isTimeout reports whether yuiCommand stopped a command that ran too long.
func isTimeout(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
