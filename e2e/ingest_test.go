package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// ingestCluster is three nodes in one loopback namespace. The first takes
// MQTT on the standard port; the others run without MQTT.
type ingestCluster struct {
	ns    *netns.Namespace
	nodes []*process
	// client reaches the first node's API from the test process, through
	// sockets opened inside the namespace.
	client *api.Client
}

func startIngestCluster(t testing.TB) *ingestCluster {
	t.Helper()
	ns := netns.ForTest(t, "yuiing").NewNamespace(t, "lo")
	c := &ingestCluster{ns: ns}
	first := startNode(t, ns, "ingest-1", append(loopbackArgs, "--mqtt", "127.0.0.1:1883")...)
	first.waitStarted(t)
	c.nodes = append(c.nodes, first)

	addr := listenAddr(t, first)
	for i := 2; i <= 3; i++ {
		p := startNode(t, ns, fmt.Sprintf("ingest-%d", i), append(loopbackArgs, "--mqtt", "off", "--bootstrap", addr)...)
		p.waitStarted(t)
		c.nodes = append(c.nodes, p)
	}
	for _, p := range c.nodes {
		waitPeerCount(t, p, 2)
	}
	c.client = nsClient(t, ns, first)
	return c
}

func listenAddr(t testing.TB, p *process) string {
	t.Helper()
	s, err := p.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Listen
}

func waitPeerCount(t testing.TB, p *process, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ids, err := p.peerIDs(context.Background()); err == nil && len(ids) >= want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not find %d peers", p.name, want)
}

// nsClient returns an API client of p whose connections are opened
// inside the namespace, where the API's 127.0.0.1 address lives.
func nsClient(t testing.TB, ns *netns.Namespace, p *process) *api.Client {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dataDir, api.APIAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(strings.TrimSpace(string(b)))
	c.HTTP = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var conn net.Conn
			err := ns.Do(func() (err error) {
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
	}}
	return c
}

// mosquittoPub publishes with the Mosquitto client inside the namespace.
func (c *ingestCluster) mosquittoPub(t testing.TB, stdin []byte, args ...string) {
	t.Helper()
	if err := c.publish(t, stdin, args...); err != nil {
		t.Fatal(err)
	}
}

// publish is mosquittoPub for goroutines other than the test's own.
func (c *ingestCluster) publish(t testing.TB, stdin []byte, args ...string) error {
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Skip("mosquitto_pub not installed: apt-get install mosquitto-clients (scripts/test installs it when run as root)")
	}
	cmd := c.ns.Command(context.Background(), pub, append([]string{"-h", "127.0.0.1", "-p", "1883"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mosquitto_pub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// query runs 'yui query' on node i and returns the readings it prints.
// Users are local to their node, so only the first node's default user,
// which wrote the readings, may read them without a grant.
func (c *ingestCluster) query(t testing.TB, i int, args ...string) []sensor.Reading {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.nodes[i].yui(ctx, append([]string{"query"}, append(args, "--json")...)...)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("query %v: %v: %s", args, err, exit.Stderr)
	}
	if err != nil {
		t.Fatalf("query %v: %v", args, err)
	}
	var res struct {
		Readings []sensor.Reading `json:"readings"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decode query result %q: %v", out, err)
	}
	return res.Readings
}

func TestIngestMQTTReadingIsQueried(t *testing.T) {
	c := startIngestCluster(t)
	c.mosquittoPub(t, nil, "-q", "1", "-t", "yui/lab/R1-12",
		"-m", `{"time":"2011-03-04T10:00:00Z","fields":{"temperature":21.5,"status":"ok"}}`)

	got := c.query(t, 0, "lab", "--sensor", "R1-12")
	if len(got) != 1 {
		t.Fatalf("query returned %d readings, want the one published", len(got))
	}
	want := sensor.Reading{
		Source: "R1-12",
		Time:   time.Date(2011, 3, 4, 10, 0, 0, 0, time.UTC),
		Fields: []sensor.Field{
			{Name: "temperature", Value: sensor.Number(21.5)},
			{Name: "status", Value: sensor.Text("ok")},
		},
	}
	if !got[0].Equal(&want) {
		t.Errorf("query returned %+v, want %+v", got[0], want)
	}
}

func TestIngestHTTPReadingIsQueried(t *testing.T) {
	c := startIngestCluster(t)
	body := `{"source":"R1-13","time":1299232800000,"fields":{"humidity":51.5},"location":{"x":12.5,"y":3}}
{"source":"R1-13","time":"bad"}
`
	res, err := c.client.PostReadings(context.Background(), "", "lab", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || res.Rejected != 1 || res.Rejections[0].Line != 2 {
		t.Fatalf("result %+v, want 1 stored and line 2 rejected", res)
	}

	got := c.query(t, 0, "lab", "--sensor", "R1-13")
	if len(got) != 1 {
		t.Fatalf("query returned %d readings, want 1", len(got))
	}
	if v, _ := got[0].Get("humidity"); !v.Equal(sensor.Number(51.5)) || got[0].Location == nil || got[0].Location.X != 12.5 {
		t.Errorf("query returned %+v, want humidity 51.5 at x 12.5", got[0])
	}
}

func TestIngestImportIsQueried(t *testing.T) {
	c := startIngestCluster(t)
	path := sharedSensorData(t, "ulb-library1/R1.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := c.nodes[0].yui(ctx, "import", path, "--ns", "library")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "7563 rows read, 7563 stored, 0 rejected") {
		t.Fatalf("import printed %q, want 7563 rows stored", out)
	}

	// The importer run here gives the readings the node must return.
	var want []sensor.Reading
	_, err = importer.ImportFile(path, importer.Options{Logger: slog.New(slog.DiscardHandler)}, func(r sensor.Reading) error {
		if r.Source == "20" {
			want = append(want, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := c.query(t, 0, "library", "--sensor", "20", "--limit", "10000")
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("query of node 20 returned %d readings, the file has %d", len(got), len(want))
	}
	sort.SliceStable(want, func(i, j int) bool { return want[i].Time.Before(want[j].Time) })
	for i := range want {
		if !got[i].Equal(&want[i]) {
			t.Fatalf("reading %d of node 20 = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// sharedSensorData returns the path of a public dataset file in the data
// folder beside the repository, or beside the folder of worktrees.
func sharedSensorData(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "data", "sensors", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("dataset %s not found in shared/data/sensors above the repository", rel)
	return ""
}
