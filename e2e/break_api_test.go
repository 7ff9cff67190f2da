package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestBreakAPIAbuse sends a node's HTTP API bad JSON, bodies over the
// limit, unknown fields, a zero target, wrong methods and unknown paths.
// Each must get a 4xx status, and the node must keep serving.
func TestBreakAPIAbuse(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	victim.waitStarted(t)
	c := victim.client()
	zero := strings.Repeat("0", 64)
	validTarget := strings.Repeat("1", 64)

	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
	}{
		{"bad JSON", "POST", api.PathLookup, `{bad`, http.StatusBadRequest},
		{"empty body", "POST", api.PathLookup, ``, http.StatusBadRequest},
		{"short target", "POST", api.PathLookup, `{"target":"zz"}`, http.StatusBadRequest},
		{"zero target", "POST", api.PathLookup, `{"target":"` + zero + `"}`, http.StatusBadRequest},
		{"unknown field", "POST", api.PathLookup, `{"target":"` + validTarget + `","extra":1}`, http.StatusBadRequest},
		{"body over limit", "POST", api.PathLookup, `{"target":"` + strings.Repeat(" ", 3<<20) + `"}`, http.StatusBadRequest},
		{"wrong method", "DELETE", api.PathStatus, ``, http.StatusMethodNotAllowed},
		{"GET lookup", "GET", api.PathLookup, ``, http.StatusMethodNotAllowed},
		{"unknown path", "GET", "/v1/nope", ``, http.StatusNotFound},
		{"path traversal", "GET", "/v1/../../etc/passwd", ``, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, c.Base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.HTTP.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s: status %d, want %d; body %q", tc.method, tc.path, resp.StatusCode, tc.status, body)
			}
		})
	}

	t.Run("error bodies are JSON", func(t *testing.T) {
		for _, path := range []string{"/v1/nope", api.PathStatus} {
			method := map[string]string{"/v1/nope": "GET", api.PathStatus: "DELETE"}[path]
			req, _ := http.NewRequest(method, c.Base+path, nil)
			resp, err := c.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e api.Error
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s %s: body %q is not an api.Error", method, path, body)
			}
		}
	})

	t.Run("huge header", func(t *testing.T) {
		req, _ := http.NewRequest("GET", c.Base+api.PathStatus, nil)
		req.Header.Set("X-Junk", strings.Repeat("j", 2<<20))
		resp, err := c.HTTP.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("2 MiB header: status %d, want 431", resp.StatusCode)
			}
		}
	})

	if s := victim.waitStarted(t); s.Peers != 0 {
		t.Errorf("node lists %d peers after API abuse, want 0", s.Peers)
	}
}

// TestBreakAPISlowBody sends a lookup body one byte every second. The API
// is often reachable by more than its own user, so a client that never
// finishes its request must lose the connection after a bounded time.
func TestBreakAPISlowBody(t *testing.T) {

	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	addr := victim.waitStarted(t).API
	conn, err := nsDialer(ns)(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "POST " + api.PathLookup + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 1000\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}

	// A server bound on reading a request closes the connection, and a
	// write then fails.
	const limit = 60 * time.Second
	start := time.Now()
	for time.Since(start) < limit {
		time.Sleep(time.Second)
		if _, err := conn.Write([]byte(" ")); err != nil {
			return
		}
	}
	t.Fatalf("server still reads a request body sent at 1 byte/s after %v", limit)
}

// TestBreakStaleAPIAddr kills a node with SIGKILL, which leaves its API
// address file behind, and starts a second node on the same API port.
// "yui status" on the first node's data folder must not report the second
// node as if it were the first.
func TestBreakStaleAPIAddr(t *testing.T) {

	ns := loopbackNS(t)
	const apiAddr = "127.0.0.1:4901"
	dirA := filepath.Join(t.TempDir(), "a")
	a := startDaemon(t, ns, "a", dirA, "--listen", "127.0.0.1:0", "--api", apiAddr, "--discovery-port", "-1")
	a.waitStarted(t)
	a.kill()
	b := startDaemon(t, ns, "b", filepath.Join(t.TempDir(), "b"), "--listen", "127.0.0.1:0", "--api", apiAddr, "--discovery-port", "-1")
	bID := b.waitStarted(t).ID

	out, err := yuiCommand(t, ns, exitLimit, nil, "status", "--json", "--data-dir", dirA)
	if err == nil && bytes.Contains([]byte(out), []byte(bID.String())) {
		t.Fatalf("status of the stopped node's folder reports the other node %s:\n%s", bID.Short(), out)
	}
	checkRejected(t, out, err, []string{dirA})
}

// TestBreakStatusUnresponsiveAPI points api.addr at a port that accepts
// connections but never responds, as a hung node or an unrelated program
// that took the port does. "yui status" and "yui peers" must fail within
// 15 s: they read a few fields, and only lookups need the API's 30 s.
func TestBreakStatusUnresponsiveAPI(t *testing.T) {

	ns := loopbackNS(t)
	holdTCP(t, ns, "127.0.0.1:4902")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, api.APIAddrFile), []byte("127.0.0.1:4902\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"status", "peers"} {
		out, err := yuiCommand(t, ns, exitLimit, nil, cmd, "--data-dir", dir)
		checkRejected(t, out, err, []string{"127.0.0.1:4902"})
	}
}
