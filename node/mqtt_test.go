package node

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
)

// startMQTTNode starts a node whose MQTT listener takes addr.
func startMQTTNode(t *testing.T, addr string) *Node {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "n")
	n, err := Start(context.Background(), Config{
		DataDir:       dir,
		Listen:        "127.0.0.1:0",
		API:           "127.0.0.1:0",
		DiscoveryPort: -1,
		MQTT:          addr,
		Logger:        testLogger(t),
	})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// useSink makes sink the node's sensor sink for the rest of a test. The
// MQTT session that reads the field runs in a goroutine started before
// and is reached through another process's connection, which the race
// detector cannot see as ordering. A request to the node's API, sent
// after the write, gives it that order through the socket.
func useSink(n *Node, sink sensor.Sink) {
	n.readings = sink
	resp, err := http.Get("http://" + n.APIAddr() + api.PathHealth)
	if err == nil {
		resp.Body.Close()
	}
}

// mosquittoPub runs the Mosquitto client against the node's MQTT
// listener and returns its exit error and output.
func mosquittoPub(t *testing.T, n *Node, args ...string) (string, error) {
	t.Helper()
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Skip("mosquitto_pub not installed: apt-get install mosquitto-clients (scripts/test installs it when run as root)")
	}
	host, port, _ := net.SplitHostPort(n.MQTTAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pub, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	return string(out), err
}

func TestMQTTReadingReachesSink(t *testing.T) {
	n := startMQTTNode(t, "127.0.0.1:0")
	sink := &recordingSink{}
	useSink(n, sink)

	before := time.Now()
	out, err := mosquittoPub(t, n, "-q", "1", "-t", "yui/lab/R1-12",
		"-m", `{"fields":{"temperature":21.5,"status":"ok"},"location":{"x":12.5,"y":3}}`)
	if err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	out, err = mosquittoPub(t, n, "-V", "mqttv5", "-q", "1", "-u", api.DefaultUser, "-t", "yui/lab/R1-13",
		"-m", `{"source":"named","time":"2011-03-04T10:00:00Z","fields":{"t":1}}`)
	if err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}

	writes := sink.all()
	if len(writes) != 2 {
		t.Fatalf("sink got %d writes, want 2", len(writes))
	}
	w := writes[0]
	if w.user != api.DefaultUser || w.namespace != "lab" || len(w.readings) != 1 {
		t.Fatalf("write = %+v, want one reading as the default user to lab", w)
	}
	r := w.readings[0]
	if r.Source != "R1-12" {
		t.Errorf("source = %q, want R1-12 from the topic", r.Source)
	}
	if v, _ := r.Get("temperature"); !v.Equal(sensor.Number(21.5)) {
		t.Errorf("temperature = %v, want 21.5", v)
	}
	if r.Location == nil || *r.Location != *sensor.PlanePoint(12.5, 3) {
		t.Errorf("location = %+v, want x 12.5, y 3", r.Location)
	}
	if r.Time.Before(before.Add(-time.Second)) || r.Time.After(time.Now()) {
		t.Errorf("time = %v, want the arrival time", r.Time)
	}

	named := writes[1].readings[0]
	if named.Source != "named" || !named.Time.Equal(time.Date(2011, 3, 4, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("reading = %q at %v, want its own source and time", named.Source, named.Time)
	}
}

func TestMQTTRejectsBadMessages(t *testing.T) {
	n := startMQTTNode(t, "127.0.0.1:0")
	sink := &recordingSink{}
	useSink(n, sink)

	cases := []struct {
		name, topic, payload, reason string
	}{
		{"topic outside yui", "sensors/R1", `{}`, "Topic Name invalid"},
		{"bad namespace", "yui/Lab/R1", `{}`, "Topic Name invalid"},
		{"bad payload", "yui/lab/R1", `{"fields":{"t":true}}`, "Payload format invalid"},
		{"no fields", "yui/lab/R1", `{"source":"bad"}`, "Payload format invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := mosquittoPub(t, n, "-V", "mqttv5", "-q", "1", "-t", c.topic, "-m", c.payload)
			if err != nil {
				t.Fatalf("mosquitto_pub: %v\n%s", err, out)
			}
			if !strings.Contains(out, c.reason) {
				t.Errorf("mosquitto_pub printed %q, want the reason %q", out, c.reason)
			}
		})
	}
	if got := sink.all(); len(got) != 0 {
		t.Errorf("sink got %d writes from rejected messages, want none", len(got))
	}
	if got := ingestCount(n, "mqtt", "rejected"); got != 4 {
		t.Errorf("rejected readings counter = %v, want 4", got)
	}
}

func TestMQTTWithoutSearchLayer(t *testing.T) {
	n := startMQTTNode(t, "127.0.0.1:0")
	useSink(n, nil) // as before the search layer has started
	out, err := mosquittoPub(t, n, "-q", "1", "-t", "yui/lab/R1", "-m", `{"fields":{"t":1}}`)
	if err == nil {
		t.Fatalf("mosquitto_pub succeeded on a node that cannot store readings:\n%s", out)
	}
	if !strings.Contains(out, "connection was lost") {
		t.Errorf("mosquitto_pub printed %q, want a lost connection", out)
	}
}

func TestMQTTPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	n := startMQTTNode(t, ln.Addr().String())
	if got := n.MQTTAddr(); got != "" {
		t.Errorf("MQTTAddr = %q with the port taken, want none", got)
	}
	if n.PublishMQTT("yui/alerts", []byte("x")) != 0 {
		t.Error("PublishMQTT reached a subscriber without a listener")
	}
}

func TestMQTTOff(t *testing.T) {
	n := startMQTTNode(t, MQTTOff)
	if got := n.MQTTAddr(); got != "" {
		t.Errorf("MQTTAddr = %q with MQTT off, want none", got)
	}
}

func TestMQTTInvalidAddress(t *testing.T) {
	_, err := Start(context.Background(), Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", DiscoveryPort: -1,
		MQTT: "no-port", Logger: testLogger(t),
	})
	if err == nil || !strings.Contains(err.Error(), "--mqtt") {
		t.Fatalf("Start with MQTT address no-port: %v, want an error naming --mqtt", err)
	}
}

func TestPublishMQTTReachesSubscriber(t *testing.T) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Skip("mosquitto_sub not installed: apt-get install mosquitto-clients (scripts/test installs it when run as root)")
	}
	n := startMQTTNode(t, "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(n.MQTTAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "-t", "yui/alerts", "-C", "1")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "mosquitto_sub to subscribe", func() bool { return n.PublishMQTT("yui/alerts", []byte("flood at the river")) == 1 })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	if got := strings.TrimSpace(out.String()); got != "flood at the river" {
		t.Errorf("subscriber printed %q, want the alert", got)
	}
}

func TestAlertReachesMQTTSubscriber(t *testing.T) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Skip("mosquitto_sub not installed: apt-get install mosquitto-clients (scripts/test installs it when run as root)")
	}
	dir := filepath.Join(t.TempDir(), "n")
	city := trustCity(t, dir)
	n, err := Start(context.Background(), Config{
		DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0", DiscoveryPort: -1,
		MQTT: "127.0.0.1:0", Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })

	host, port, _ := net.SplitHostPort(n.MQTTAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "-t", AlertTopic, "-C", "2")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The subscriber gets exactly one probe, the one that first reaches it.
	waitFor(t, "mosquitto_sub to subscribe", func() bool { return n.PublishMQTT(AlertTopic, []byte("probe")) == 1 })

	signed := signTestAlert(t, city, 1, "Evacuate the valley")
	if _, err := api.NewClient(n.APIAddr()).SendAlert(context.Background(), signed.Raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0] != "probe" {
		t.Fatalf("subscriber printed %q, want the probe and then the alert", out.String())
	}
	var got api.Alert
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil {
		t.Fatalf("subscriber printed %q after the probe, want an alert in JSON: %v", lines[1], err)
	}
	if got.Text != "Evacuate the valley" || got.Level != "evacuate" {
		t.Errorf("subscriber got %+v, want the evacuation alert", got)
	}
}

// TestMQTTUnauthorizedWriterRejected publishes as a user who may not
// write the namespace: a 5.0 client hears "Not authorized" at once
// instead of losing its connection to resend what can never be stored.
func TestMQTTUnauthorizedWriterRejected(t *testing.T) {
	n := startMQTTNode(t, "127.0.0.1:0")
	c := api.NewClient(n.APIAddr())
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, "eve"); err != nil {
		t.Fatal(err)
	}
	out, err := mosquittoPub(t, n, "-V", "mqttv5", "-q", "1", "-t", "yui/lab/R1-12", "-m", `{"fields":{"t":1}}`)
	if err != nil {
		t.Fatalf("mosquitto_pub as the owner: %v\n%s", err, out)
	}

	out, err = mosquittoPub(t, n, "-V", "mqttv5", "-q", "1", "-u", "eve", "-t", "yui/lab/R1-12", "-m", `{"fields":{"t":2}}`)
	if err != nil {
		t.Fatalf("mosquitto_pub as eve: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Not authorized") {
		t.Errorf("mosquitto_pub as eve printed %q, want the reason Not authorized", out)
	}
	if got := ingestCount(n, "mqtt", "rejected"); got != 1 {
		t.Errorf("rejected readings counter = %v, want 1", got)
	}
}

// TestMQTTSealedRejectionAcknowledged publishes a value that a sealed
// namespace's scale does not hold. Resending it cannot help, so the node
// must acknowledge it with a reason rather than leave it for the client
// to send forever, and keep the valid reading.
func TestMQTTSealedRejectionAcknowledged(t *testing.T) {
	n := startMQTTNode(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.SealNamespace(ctx, "", "mq", 100, 10000); err != nil {
		t.Fatal(err)
	}
	out, err := mosquittoPub(t, n, "-V", "mqttv5", "-q", "1", "-t", "yui/mq/m1", "-m", `{"time":1163438041250,"fields":{"t":21.555}}`)
	if err != nil {
		t.Fatalf("mosquitto_pub of a value the scale does not hold: %v\n%s", err, out)
	}
	if got := ingestCount(n, "mqtt", "rejected"); got != 1 {
		t.Errorf("rejected readings counter = %v, want 1", got)
	}
	out, err = mosquittoPub(t, n, "-V", "mqttv5", "-q", "1", "-t", "yui/mq/m1", "-m", `{"time":1163438041250,"fields":{"t":21.55}}`)
	if err != nil {
		t.Fatalf("mosquitto_pub of a valid value: %v\n%s", err, out)
	}
	if got := ingestCount(n, "mqtt", "stored"); got != 1 {
		t.Errorf("stored readings counter = %v, want 1", got)
	}
}
