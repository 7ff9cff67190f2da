package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingHandler keeps what it stores. When block is set, Store waits
// for a value on it before storing.
type recordingHandler struct {
	mu      sync.Mutex
	msgs    []Message
	clients []Client
	batches []int
	entered chan struct{}
	block   chan struct{}
	err     error
	reject  func(Message) error
}

func (h *recordingHandler) Store(ctx context.Context, c Client, msgs []Message) ([]error, error) {
	if h.entered != nil {
		h.entered <- struct{}{}
	}
	if h.block != nil {
		<-h.block
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return nil, h.err
	}
	var rejected []error
	if h.reject != nil {
		rejected = make([]error, len(msgs))
		for i, m := range msgs {
			rejected[i] = h.reject(m)
		}
	}
	for _, m := range msgs {
		m.Payload = bytes.Clone(m.Payload)
		h.msgs = append(h.msgs, m)
		h.clients = append(h.clients, c)
	}
	h.batches = append(h.batches, len(msgs))
	return rejected, nil
}

func (h *recordingHandler) stored() []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Message(nil), h.msgs...)
}

func startServer(t *testing.T, h Handler, limits Limits) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{Handler: h, Limits: limits, Logger: slog.New(slog.DiscardHandler)})
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

// needClient skips the test when a Mosquitto command-line client is
// missing.
func needClient(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: apt-get install mosquitto-clients (scripts/test installs it when run as root)", name)
	}
	return path
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

func mosquittoPub(t *testing.T, addr string, args ...string) {
	t.Helper()
	pub := needClient(t, "mosquitto_pub")
	host, port := hostPort(t, addr)
	cmd := exec.Command(pub, append([]string{"-h", host, "-p", port}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestMosquittoPublish(t *testing.T) {
	for _, version := range []string{"mqttv311", "mqttv5"} {
		for _, qos := range []string{"0", "1"} {
			t.Run(version+"/qos"+qos, func(t *testing.T) {
				h := &recordingHandler{}
				_, addr := startServer(t, h, Limits{})
				payload := `{"fields":{"temperature":21.2}}`
				mosquittoPub(t, addr, "-V", version, "-q", qos, "-i", "mote-7", "-u", "alice",
					"-t", "yui/lab/R1-12", "-m", payload)

				// mosquitto_pub exits without waiting for a QoS 0
				// message to be stored.
				waitUntil(t, "the message to be stored", func() bool { return len(h.stored()) > 0 })
				got := h.stored()
				if len(got) != 1 {
					t.Fatalf("stored %d messages, want 1", len(got))
				}
				if got[0].Topic != "yui/lab/R1-12" || string(got[0].Payload) != payload || fmt.Sprint(got[0].QoS) != qos {
					t.Errorf("stored %+v (%s), want the published message", got[0], got[0].Payload)
				}
				if c := h.clients[0]; c.ID != "mote-7" || c.Username != "alice" {
					t.Errorf("client = %+v, want mote-7 as alice", c)
				}
			})
		}
	}
}

func TestMosquittoManyMessagesInflight(t *testing.T) {
	h := &recordingHandler{}
	_, addr := startServer(t, h, Limits{MaxInflight: 4})
	pub := needClient(t, "mosquitto_pub")
	host, port := hostPort(t, addr)

	var lines strings.Builder
	for i := range 200 {
		fmt.Fprintf(&lines, `{"fields":{"seq":%d}}`+"\n", i)
	}
	cmd := exec.Command(pub, "-h", host, "-p", port, "-q", "1", "-t", "yui/lab/s", "-l")
	cmd.Stdin = strings.NewReader(lines.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l: %v\n%s", err, out)
	}

	got := h.stored()
	if len(got) != 200 {
		t.Fatalf("stored %d messages, want 200", len(got))
	}
	for i, m := range got {
		if want := fmt.Sprintf(`{"fields":{"seq":%d}}`, i); string(m.Payload) != want {
			t.Fatalf("message %d = %s, want %s in order", i, m.Payload, want)
		}
	}
	for _, n := range h.batches {
		if n > 4 {
			t.Fatalf("a batch of %d messages reached the handler, limit 4 in flight", n)
		}
	}
}

func TestMosquittoSubscribe(t *testing.T) {
	for _, version := range []string{"mqttv311", "mqttv5"} {
		t.Run(version, func(t *testing.T) {
			sub := needClient(t, "mosquitto_sub")
			s, addr := startServer(t, &recordingHandler{}, Limits{})
			host, port := hostPort(t, addr)

			cmd := exec.Command(sub, "-h", host, "-p", port, "-V", version, "-t", "yui/alerts", "-t", "yui/+/other", "-C", "2")
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })

			waitUntil(t, "the client to subscribe", func() bool { return s.Publish("yui/alerts", []byte("probe")) == 1 })
			if n := s.Publish("yui/lab/unrelated", []byte("no")); n != 0 {
				t.Errorf("publish to an unsubscribed topic reached %d clients", n)
			}
			s.Publish("yui/x/other", []byte("flood warning"))
			if err := cmd.Wait(); err != nil {
				t.Fatalf("mosquitto_sub: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 2 || lines[0] != "probe" || lines[1] != "flood warning" {
				t.Errorf("subscriber printed %q, want probe then flood warning", lines)
			}
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawClient speaks MQTT over a plain connection, for the cases a
// well-behaved client never produces.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string, version byte, keepAlive uint16) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	c.write(connectPacket(version, "raw", keepAlive, 2))
	if p := c.read(); p.kind != typeConnack || p.body[1] != 0 {
		t.Fatalf("CONNACK = %+v, want accepted", p)
	}
	return c
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() packet {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	p, err := readPacket(c.br, 1<<20)
	if err != nil {
		c.t.Fatalf("read packet: %v", err)
	}
	return p
}

// closed reads until the server closes the connection, and returns the
// packets it sent before.
func (c *rawClient) closed() []packet {
	c.t.Helper()
	var got []packet
	c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		p, err := readPacket(c.br, 1<<20)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return got
		}
		if err != nil {
			c.t.Fatalf("waiting for the server to close: %v", err)
		}
		got = append(got, p)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func TestPubackOnlyAfterStore(t *testing.T) {
	h := &recordingHandler{entered: make(chan struct{}, 1), block: make(chan struct{})}
	_, addr := startServer(t, h, Limits{})
	c := dialRaw(t, addr, version311, 0)

	acked := make(chan packet, 1)
	go func() {
		p, err := readPacket(c.br, 1<<20)
		if err == nil {
			acked <- p
		}
	}()
	c.write(publishPacket(version311, "yui/lab/s", 1, 42, `{}`))
	<-h.entered
	select {
	case p := <-acked:
		t.Fatalf("server sent %+v while the handler had not stored the message", p)
	default:
	}
	close(h.block)
	p := <-acked
	if p.kind != typePuback || !bytes.Equal(p.body, []byte{0, 42}) {
		t.Fatalf("after store: %+v, want PUBACK of packet 42", p)
	}
}

func TestStoreFailureClosesWithoutAck(t *testing.T) {
	h := &recordingHandler{err: errors.New("sink unavailable")}
	_, addr := startServer(t, h, Limits{})
	c := dialRaw(t, addr, version5, 0)
	c.write(publishPacket(version5, "yui/lab/s", 1, 5, `{}`))

	got := c.closed()
	for _, p := range got {
		if p.kind == typePuback {
			t.Fatalf("server acknowledged a message it failed to store")
		}
	}
	if len(got) != 1 || got[0].kind != typeDisconnect || got[0].body[0] != reasonUnspecified {
		t.Errorf("server sent %+v before closing, want one DISCONNECT with reason 0x80", got)
	}
}

func TestRejectedMessageReasonCode(t *testing.T) {
	h := &recordingHandler{reject: func(m Message) error {
		if string(m.Payload) == "bad" {
			return errors.New("invalid payload")
		}
		return nil
	}}
	_, addr := startServer(t, h, Limits{})
	c := dialRaw(t, addr, version5, 0)
	c.write(publishPacket(version5, "yui/lab/s", 1, 1, "bad"))
	if p := c.read(); p.kind != typePuback || !bytes.Equal(p.body, []byte{0, 1, reasonPayloadInvalid}) {
		t.Errorf("rejected message: %+v, want PUBACK with reason 0x99", p)
	}
	c.write(publishPacket(version5, "yui/lab/s", 1, 2, "good"))
	if p := c.read(); p.kind != typePuback || !bytes.Equal(p.body, []byte{0, 2}) {
		t.Errorf("stored message: %+v, want a plain PUBACK", p)
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	_, addr := startServer(t, &recordingHandler{}, Limits{})
	c := dialRaw(t, addr, version5, 1)
	c.write([]byte{typePingreq << 4, 0})
	if p := c.read(); p.kind != typePingresp {
		t.Fatalf("PINGREQ answered with %+v, want PINGRESP", p)
	}
	got := c.closed()
	if len(got) != 1 || got[0].kind != typeDisconnect || got[0].body[0] != reasonKeepAlive {
		t.Errorf("idle client got %+v, want DISCONNECT with reason 0x8d", got)
	}
}

func TestPacketTooLarge(t *testing.T) {
	h := &recordingHandler{}
	_, addr := startServer(t, h, Limits{MaxPacketSize: 1024})
	c := dialRaw(t, addr, version5, 0)
	c.write(publishPacket(version5, "yui/lab/s", 0, 0, strings.Repeat("x", 2000)))
	got := c.closed()
	if len(got) != 1 || got[0].kind != typeDisconnect || got[0].body[0] != connPacketTooLarge5 {
		t.Errorf("oversize packet got %+v, want DISCONNECT with reason 0x95", got)
	}
	if n := len(h.stored()); n != 0 {
		t.Errorf("stored %d messages from an oversize packet", n)
	}
}

func TestConnectRejects(t *testing.T) {
	_, addr := startServer(t, &recordingHandler{}, Limits{})
	cases := []struct {
		name string
		pkt  []byte
		want []byte // CONNACK body
	}{
		{"MQTT 3.1", connectPacket(3, "c", 0, 2), []byte{0, connBadVersion311}},
		{"empty id without clean session", connectPacket(version311, "", 0, 0), []byte{0, connBadClientID311}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
			c.write(tc.pkt)
			got := c.closed()
			if len(got) != 1 || got[0].kind != typeConnack || !bytes.Equal(got[0].body, tc.want) {
				t.Errorf("server sent %+v, want CONNACK %x", got, tc.want)
			}
		})
	}
}

func TestSessionTakeover(t *testing.T) {
	_, addr := startServer(t, &recordingHandler{}, Limits{})
	first := dialRaw(t, addr, version5, 0)
	dialRaw(t, addr, version5, 0) // same client id "raw"
	got := first.closed()
	if len(got) != 1 || got[0].kind != typeDisconnect || got[0].body[0] != reasonSessionTaken {
		t.Errorf("first connection got %+v, want DISCONNECT with reason 0x8e", got)
	}
}

func TestServerCloseTwice(t *testing.T) {
	s, addr := startServer(t, &recordingHandler{}, Limits{})
	c := dialRaw(t, addr, version5, 0)
	s.Close()
	got := c.closed()
	if len(got) != 1 || got[0].kind != typeDisconnect || got[0].body[0] != reasonShuttingDown {
		t.Errorf("client got %+v on shutdown, want DISCONNECT with reason 0x8b", got)
	}
	s.Close()
}

func TestConnectionLimits(t *testing.T) {
	_, addr := startServer(t, &recordingHandler{}, Limits{MaxConnections: 1, ConnectTimeout: 200 * time.Millisecond})
	dialRaw(t, addr, version311, 0)

	// A second connection is closed at once, before its CONNECT.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	over := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	if got := over.closed(); len(got) != 0 {
		t.Errorf("connection over the limit got %+v, want none", got)
	}
}

func TestConnectTimeout(t *testing.T) {
	_, addr := startServer(t, &recordingHandler{}, Limits{ConnectTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	silent := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	if got := silent.closed(); len(got) != 0 {
		t.Errorf("client without CONNECT got %+v, want the connection closed", got)
	}
}
