package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/tag"
)

// sseEvent is one server-sent event as a test reads it.
type sseEvent struct {
	name string
	data string
}

// openDashboardStream opens the node's dashboard stream for q and returns
// its events; the stream closes with the test.
func openDashboardStream(t *testing.T, n *Node, q api.DashboardQuery) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url := "http://" + n.APIAddr() + api.PathDashboardStream + "?" + q.Encode()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type %q, want text/event-stream", ct)
	}
	events := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			case line == "" && e.name != "":
				events <- e
				e = sseEvent{}
			}
		}
	}()
	return events
}

// waitEvent returns the first event named name for which match holds,
// skipping the others; it fails after 15 s.
func waitEvent(t *testing.T, events <-chan sseEvent, name string, match func(data string) bool) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("stream closed before a %s event", name)
			}
			if e.name == name && match(e.data) {
				return e.data
			}
		case <-timeout:
			t.Fatalf("no matching %s event within 15 s", name)
		}
	}
}

// planeReadings returns one reading of each source at time at, with a
// temperature of base plus the source's index and a place on the plan.
func planeReadings(sources []string, at time.Time, base float64) []sensor.Reading {
	var out []sensor.Reading
	for i, src := range sources {
		out = append(out, sensor.Reading{
			Source:   src,
			Time:     at,
			Fields:   []sensor.Field{{Name: "temperature", Value: sensor.Number(base + float64(i))}, {Name: "status", Value: sensor.Text("ok")}},
			Location: sensor.PlanePoint(float64(10*i), 5),
		})
	}
	return out
}

func TestDashboardServesPage(t *testing.T) {
	n := startLocal(t, t.TempDir())
	base := "http://" + n.APIAddr()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html", "Yui dashboard"},
		{"/dashboard/", "text/html", "Yui dashboard"},
		{"/dashboard/app.js", "text/javascript", "EventSource"},
		{"/dashboard/app.css", "text/css", "@media"},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", tc.path, resp.Status)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.contentType)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q does not keep connections on the node", tc.path, csp)
		}
	}

	// Paths outside the page still get the API's JSON errors.
	resp, err := http.Get(base + "/no/such/path")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /no/such/path: %s, %s; want a JSON 404", resp.Status, resp.Header.Get("Content-Type"))
	}
}

func TestDashboardNoFileFromTheInternet(t *testing.T) {
	n := startLocal(t, t.TempDir())
	for _, path := range []string{"/", "/dashboard/app.js", "/dashboard/app.css"} {
		resp, err := http.Get("http://" + n.APIAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The only absolute URL the page may hold is the SVG namespace,
		// which names the vocabulary and is never fetched.
		text := strings.ReplaceAll(string(body), "http://www.w3.org/2000/svg", "")
		for _, scheme := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(text, scheme) {
				t.Errorf("%s refers to %q; the page must work with no Internet", path, scheme)
			}
		}
	}
}

func TestDashboardStateNodesAndReadings(t *testing.T) {
	nodes, clients := startTrio(t)
	c := clients[0]
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}

	st, err := c.DashboardState(ctx, api.DashboardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Nodes.Self.ID != nodes[0].ID().String() || st.Nodes.Self.Link != "self" {
		t.Errorf("self is %+v, want node %s", st.Nodes.Self, nodes[0].ID().Short())
	}
	if len(st.Nodes.Peers) != 2 {
		t.Fatalf("state lists %d peers, want 2", len(st.Nodes.Peers))
	}
	for _, p := range st.Nodes.Peers {
		if p.Status != api.NodeUp {
			t.Errorf("peer %s is %s, want up", p.Short, p.Status)
		}
		if p.Position == (tag.Point{}) {
			t.Errorf("peer %s has no place in the diagram", p.Short)
		}
	}
	if len(st.Sensors) != 0 || len(st.Tags) != 0 {
		t.Errorf("state for nobody has %d sensors and %d tags, want none", len(st.Sensors), len(st.Tags))
	}

	sources := []string{"s1", "s2", "s3"}
	at := time.Now().Truncate(time.Millisecond).UTC()
	for i := range 3 {
		if _, err := c.WriteReadings(ctx, "", "env", planeReadings(sources, at.Add(time.Duration(i)*time.Second), float64(20+i))); err != nil {
			t.Fatal(err)
		}
	}
	st, err = c.DashboardState(ctx, api.DashboardQuery{User: api.DefaultUser, Namespace: "env"})
	if err != nil {
		t.Fatal(err)
	}
	if st.SensorsError != "" {
		t.Fatalf("sensors error for the owner: %s", st.SensorsError)
	}
	if len(st.Sensors) != 3 {
		t.Fatalf("state has %d sensors, want 3", len(st.Sensors))
	}
	s2 := st.Sensors[1]
	if s2.Source != "s2" || !s2.Time.Equal(at.Add(2*time.Second)) {
		t.Errorf("sensor 2 is %s at %v, want s2 at %v", s2.Source, s2.Time, at.Add(2*time.Second))
	}
	if len(s2.Fields) != 2 || s2.Fields[0].Number == nil || *s2.Fields[0].Number != 23 || s2.Fields[1].Text != "ok" {
		t.Errorf("sensor 2 fields %+v, want temperature 23 and status ok", s2.Fields)
	}
	if len(s2.Series) != 1 || len(s2.Series[0].Points) != 3 {
		t.Errorf("sensor 2 series %+v, want one series of 3 values", s2.Series)
	}
	if s2.Location == nil || *s2.Location != (tag.Point{X: 10, Y: 5}) || s2.Geo {
		t.Errorf("sensor 2 location %v (geo %v), want plan point 10,5", s2.Location, s2.Geo)
	}
	if len(st.Namespaces) != 1 || st.Namespaces[0] != "env" {
		t.Errorf("namespaces %v, want [env]", st.Namespaces)
	}

	// Bob may not read env: he gets the reason, no readings and no name.
	st, err = c.DashboardState(ctx, api.DashboardQuery{User: "bob", Namespace: "env"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sensors) != 0 || !strings.Contains(st.SensorsError, "may not read") {
		t.Errorf("bob sees %d sensors, error %q; want none and a permission error", len(st.Sensors), st.SensorsError)
	}
	if len(st.Namespaces) != 0 {
		t.Errorf("bob is offered namespaces %v, want none", st.Namespaces)
	}
}

func TestDashboardStateRejectsBadQuery(t *testing.T) {
	n := startLocal(t, t.TempDir())
	c := api.NewClient(n.APIAddr())
	for _, q := range []api.DashboardQuery{
		{User: "a/b"},
		{User: strings.Repeat("u", api.MaxUserName+1)},
		{User: "default", Namespace: "bad namespace!"},
		{User: "default", Network: strings.Repeat("n", 100)},
	} {
		if _, err := c.DashboardState(context.Background(), q); err == nil {
			t.Errorf("state for %+v succeeded, want an error", q)
		}
	}
}

func TestDashboardTagsGuardianOnly(t *testing.T) {
	nodes, clients := startTrio(t)
	c := clients[0]
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if _, err := c.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	secret := tag.NewSecret()
	addTag(t, c, "alice", "amy", secret)
	reps, truth := simulatedReports(t, secret)
	for _, rep := range reps {
		if _, err := c.PostSightings(ctx, "", "", rep); err != nil {
			t.Fatal(err)
		}
	}

	st, err := c.DashboardState(ctx, api.DashboardQuery{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if st.TagsError != "" || len(st.Tags) != 1 {
		t.Fatalf("alice sees tags %+v, error %q; want amy", st.Tags, st.TagsError)
	}
	amy := st.Tags[0]
	if amy.Name != "amy" || amy.Owner != "alice" || amy.Latest == nil {
		t.Fatalf("alice's tag is %+v, want amy with a position", amy)
	}
	if d := amy.Latest.Position.Dist(truth); d > 3*amy.Latest.Radius {
		t.Errorf("amy is shown %.1f m from the truth, radius %.1f m", d, amy.Latest.Radius)
	}

	// Bob is signed in on the same node and sees no tag of alice, in the
	// state or in the stream.
	st, err = c.DashboardState(ctx, api.DashboardQuery{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tags) != 0 {
		t.Errorf("bob sees tags %+v, want none", st.Tags)
	}
	events := openDashboardStream(t, nodes[0], api.DashboardQuery{User: "bob"})
	data := waitEvent(t, events, api.DashboardTagsEvent, func(string) bool { return true })
	if strings.Contains(data, "amy") {
		t.Errorf("bob's stream shows %s, want no tag of alice", data)
	}
}

func TestDashboardStreamEvents(t *testing.T) {
	base := t.TempDir()
	city := trustCity(t, base+"/a", base+"/b")
	a := startLocal(t, base+"/a")
	b := startLocal(t, base+"/b", a.Addr().String())
	waitFor(t, "the nodes to know each other", func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 })
	ctx := context.Background()
	ca := api.NewClient(a.APIAddr())
	if _, err := ca.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteReadings(ctx, "", "env", planeReadings([]string{"s1"}, time.Now().UTC(), 1)); err != nil {
		t.Fatal(err)
	}

	owner := openDashboardStream(t, a, api.DashboardQuery{User: api.DefaultUser, Namespace: "env"})
	other := openDashboardStream(t, a, api.DashboardQuery{User: "bob", Namespace: "env"})
	data := waitEvent(t, owner, api.DashboardNodesEvent, func(string) bool { return true })
	var nodes api.DashboardNodes
	if err := json.Unmarshal([]byte(data), &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Peers) != 1 || nodes.Peers[0].ID != b.ID().String() {
		t.Errorf("nodes event lists %+v, want peer %s", nodes.Peers, b.ID().Short())
	}
	waitEvent(t, owner, api.DashboardHeartbeatEvent, func(string) bool { return true })

	// An alert sent to b floods to a and reaches a's page.
	signed := signTestAlert(t, city, 1, "Leave the riverside")
	if _, err := api.NewClient(b.APIAddr()).SendAlert(ctx, signed.Raw); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, owner, api.DashboardAlertEvent, func(d string) bool { return strings.Contains(d, "Leave the riverside") })

	// New readings reach the owner's stream, with the newest value only.
	if _, err := ca.WriteReadings(ctx, "", "env", planeReadings([]string{"s1", "s2"}, time.Now().UTC(), 40)); err != nil {
		t.Fatal(err)
	}
	data = waitEvent(t, owner, api.DashboardReadingsEvent, func(string) bool { return true })
	var got api.DashboardReadings
	if err := json.Unmarshal([]byte(data), &got); err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "env" || len(got.Sensors) != 2 || *got.Sensors[1].Fields[0].Number != 41 {
		t.Errorf("readings event %s, want s1 and s2 of env", data)
	}
	if pts := got.Sensors[0].Series[0].Points; len(pts) != 1 || pts[0][1] != 40 {
		t.Errorf("s1's series in the event is %v, want only the newest value 40", pts)
	}

	// Bob may not read env, so his stream gets the alert but no readings.
	waitEvent(t, other, api.DashboardAlertEvent, func(d string) bool { return strings.Contains(d, "riverside") })
	if err := drainFor(other, api.DashboardReadingsEvent, time.Second); err != nil {
		t.Error(err)
	}
}

// drainFor reads events for d and fails on any event named name. It ends
// early only if the stream closes.
func drainFor(events <-chan sseEvent, name string, d time.Duration) error {
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return nil
			}
			if e.name == name {
				return errors.New("unexpected " + name + " event: " + e.data)
			}
		case <-timeout:
			return nil
		}
	}
}

func TestPeerStatus(t *testing.T) {
	ping := 5 * time.Minute
	for _, tc := range []struct {
		silent   time.Duration
		failures int
		want     string
	}{
		{0, 0, api.NodeUp},
		{ping, 0, api.NodeUp},
		{ping + ping/2 + time.Second, 0, api.NodeStale},
		{time.Second, 1, api.NodeStale},
		{time.Second, peerUnreachableFailures, api.NodeUnreachable},
		{3*ping + time.Second, 0, api.NodeUnreachable},
	} {
		if got := peerStatus(tc.silent, tc.failures, ping); got != tc.want {
			t.Errorf("peer silent %v with %d failures is %s, want %s", tc.silent, tc.failures, got, tc.want)
		}
	}
}

func TestDashboardStateMapConfig(t *testing.T) {
	dir := t.TempDir()
	n, err := Start(context.Background(), Config{
		DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0", DiscoveryPort: -1, MQTT: MQTTOff,
		Logger: testLogger(t),
		Dashboard: DashboardConfig{
			Location:  &tag.Point{X: 12, Y: 34},
			MapURL:    "/plan.png",
			MapBounds: &[4]float64{0, 0, 100, 80},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	st, err := api.NewClient(n.APIAddr()).DashboardState(context.Background(), api.DashboardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if loc := st.Nodes.Self.Location; loc == nil || *loc != (tag.Point{X: 12, Y: 34}) {
		t.Errorf("self location %v, want 12,34", loc)
	}
	if st.MapURL != "/plan.png" {
		t.Errorf("map URL %q, want /plan.png", st.MapURL)
	}
	if st.MapBounds == nil || *st.MapBounds != [4]float64{0, 0, 100, 80} {
		t.Errorf("map bounds %v, want 0,0,100,80", st.MapBounds)
	}
}

// FuzzDashboardQuery checks that any query string either is rejected or
// yields names the store accepts, and never panics.
func FuzzDashboardQuery(f *testing.F) {
	for _, q := range []string{"", "user=alice&ns=env", "user=a%2Fb", "ns=%00", "network=" + strings.Repeat("n", 80), "user=&ns=&network="} {
		f.Add(q)
	}
	n := &Node{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.NewRequest(http.MethodGet, "/v1/dashboard/state", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = raw
		w := httptest.NewRecorder()
		q, ok := n.parseDashboardQuery(w, r)
		if !ok {
			if w.Code/100 != 4 {
				t.Fatalf("query %q rejected with status %d, want 4xx", raw, w.Code)
			}
			return
		}
		if q.user != "" && api.ValidateUserName(q.user) != nil {
			t.Fatalf("query %q accepted invalid user %q", raw, q.user)
		}
		if q.namespace != "" && seal.ValidateNamespace(q.namespace) != nil {
			t.Fatalf("query %q accepted invalid namespace %q", raw, q.namespace)
		}
		if seal.ValidateNamespace(api.SightingsNamespace(q.network)) != nil {
			t.Fatalf("query %q accepted invalid network %q", raw, q.network)
		}
	})
}

func TestDashboardShowsDeadPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for two failed pings of a dead peer, about 15 s; skipped under -short")
	}
	nodes, clients := startTrio(t)
	openDashboardStream(t, nodes[0], api.DashboardQuery{})
	dead := nodes[2].ID().String()
	nodes[2].Kill()

	deadline := time.Now().Add(40 * time.Second)
	for {
		st, err := clients[0].DashboardState(context.Background(), api.DashboardQuery{})
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]string{}
		for _, p := range st.Nodes.Peers {
			status[p.ID] = p.Status
		}
		if status[dead] == api.NodeUnreachable {
			if live := nodes[1].ID().String(); status[live] != api.NodeUp {
				t.Errorf("live peer is %s, want up", status[live])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed peer is %q after 40 s, want unreachable", status[dead])
		}
		time.Sleep(200 * time.Millisecond)
	}
}
