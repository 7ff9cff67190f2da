package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/tag"
)

// hostNode is a yui node process on this host's loopback interface, with
// LAN discovery off so that it meets only the nodes the test points it at.
type hostNode struct {
	dataDir string
	cmd     *exec.Cmd
	log     lockedBuffer
	done    chan struct{}
	client  *api.Client
	status  *api.Status
}

// startHostNode runs "yui node" on 127.0.0.1 in dataDir and waits until
// its API serves. The process is stopped when the test ends.
func startHostNode(t *testing.T, dataDir, network string, bootstrap ...string) *hostNode {
	t.Helper()
	// MQTT is off: other tests and programs on this host may hold its port.
	args := append([]string{"node", "--data-dir", dataDir, "--network", network, "--mqtt", "off"}, loopbackArgs...)
	for _, b := range bootstrap {
		args = append(args, "--bootstrap", b)
	}
	n := &hostNode{dataDir: dataDir, cmd: exec.Command(yuiBin, args...), done: make(chan struct{})}
	n.cmd.Stdout, n.cmd.Stderr = &n.log, &n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start node in %s: %v", dataDir, err)
	}
	go func() {
		n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("log of the node in %s:\n%s", filepath.Base(dataDir), tail(n.log.String(), 40))
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if addr, err := os.ReadFile(filepath.Join(dataDir, api.APIAddrFile)); err == nil {
			n.client = api.NewClient(strings.TrimSpace(string(addr)))
			if n.status, err = n.client.Status(context.Background()); err == nil {
				return n
			}
		}
		select {
		case <-n.done:
			t.Fatalf("node in %s exited while starting:\n%s", dataDir, n.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("node in %s did not serve its API within 30 s", dataDir)
	return nil
}

// stop sends SIGTERM and waits for the process to exit.
func (n *hostNode) stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}

// chromiumPath returns the Chromium binary the browser test drives, from
// YUI_CHROMIUM or the PATH, or skips the test when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("YUI_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found: install Debian's chromium package (scripts/test does as root) or set YUI_CHROMIUM")
	return ""
}

// artifactDir returns the folder for screenshots: YUI_ARTIFACTS, or a
// temporary folder of the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("YUI_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		// CI runs the tests as root, and Chromium refuses to start its
		// sandbox as root, so the sandbox is off. The browser loads only
		// the test's own pages from loopback.
		chromedp.NoSandbox,
		// Resolve no host name but loopback, so the browser sends nothing
		// past this machine even if the page asked it to.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(412, 915),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return &browser{t: t, ctx: ctx, dir: artifactDir(t)}
}

// do runs steps and fails the test on error, naming what failed.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript expression until it is truthy, for at most
// limit.
func (b *browser) waitFor(what, expression string, limit time.Duration) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](expression, chromedp.WithPollingTimeout(limit)))
}

// eval evaluates a JavaScript expression and decodes its value as T.
func eval[T any](b *browser, expression string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// screenshot saves the whole page as name.png in the artifact folder, or
// the visible part of a page too large to capture whole.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		png, err = chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, "dashboard-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// signIn picks a local user and a namespace in the page's settings.
func (b *browser) signIn(user, namespace string) {
	b.t.Helper()
	b.waitFor("the user list to load", fmt.Sprintf(`document.querySelector('#user option[value=%q]')`, user), 10*time.Second)
	eval[bool](b, fmt.Sprintf(`(() => {
		document.getElementById('user').value = %q;
		document.getElementById('ns').value = %q;
		document.getElementById('settings').requestSubmit();
		return true;
	})()`, user, namespace))
}

// tagReports simulates tag amy walking through a 3×3 town of relays for
// two minutes up to now and returns the relays' reports of the first and
// of the second minute.
func tagReports(t *testing.T, secret tag.Secret) (first, second []*tag.Report) {
	t.Helper()
	relays := tag.Town(3, 3, 30, 7)
	sim := &tag.Simulation{Model: tag.ULBModel, Range: tag.DefaultRange, Relays: relays,
		Beacon: 5 * time.Second, Speed: tag.WalkingSpeed, Seed: 11}
	tags := tag.NewSimTags("alice", 1, 6, relays, rand.New(rand.NewPCG(11, 11)))
	tags[0].Secret = secret

	start := time.Now().Add(-2 * time.Minute)
	half := start.Add(time.Minute)
	byRelay := [2]map[string]*tag.Report{{}, {}}
	err := sim.Run(tags, start, 2*time.Minute, func(s tag.SimSighting) error {
		i := 0
		if !s.Sighting.Time.Before(half) {
			i = 1
		}
		rep := byRelay[i][s.Relay]
		if rep == nil {
			p := relays[s.Relay]
			rep = &tag.Report{Relay: s.Relay, Position: &p}
			byRelay[i][s.Relay] = rep
		}
		rep.Sightings = append(rep.Sightings, s.Sighting)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range byRelay[0] {
		first = append(first, rep)
	}
	for _, rep := range byRelay[1] {
		second = append(second, rep)
	}
	return first, second
}

func postReports(t *testing.T, c *api.Client, reps []*tag.Report) {
	t.Helper()
	for _, rep := range reps {
		if _, err := c.PostSightings(context.Background(), "", "", rep); err != nil {
			t.Fatalf("post report of relay %s: %v", rep.Relay, err)
		}
	}
}

// TestDashboardInBrowser loads the page of a real node in headless
// Chromium and checks what the page shows: the node count, an alert soon
// after it is sent, a guardian's tag moving, another user seeing no tag,
// and a page that stays readable when its node stops.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes and a browser; skipped under -short")
	}
	b := newBrowser(t)
	base := t.TempDir()
	network := fmt.Sprintf("dash-e2e-%d", os.Getpid())

	// Node a trusts the authority "city" and holds its key.
	dirA := filepath.Join(base, "a")
	city, err := alert.CreateSigner(dirA, "city")
	if err != nil {
		t.Fatal(err)
	}
	if err := alert.AddAuthority(dirA, city.Authority()); err != nil {
		t.Fatal(err)
	}
	a := startHostNode(t, dirA, network)
	startHostNode(t, filepath.Join(base, "b"), network, a.status.Listen)
	c := startHostNode(t, filepath.Join(base, "c"), network, a.status.Listen)
	ctx := context.Background()
	waitAPIPeers(t, a.client, 2)

	for _, u := range []string{"alice", "bob"} {
		if _, err := a.client.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// Five sensors with ten readings each, one a second, give every sensor
	// a chart.
	readings := []sensor.Reading{}
	now := time.Now().UTC()
	for i := range 5 {
		for j := range 10 {
			readings = append(readings, sensor.Reading{
				Source:   fmt.Sprintf("shelter-%d", i),
				Time:     now.Add(time.Duration(j-10) * time.Second),
				Fields:   []sensor.Field{{Name: "temperature", Value: sensor.Number(20 + float64(i) + float64(j%4)/2)}},
				Location: sensor.PlanePoint(15*float64(i), 10),
			})
		}
	}
	if _, err := a.client.WriteReadings(ctx, "alice", "shelter", readings); err != nil {
		t.Fatal(err)
	}

	page := "http://" + a.status.API + "/"
	b.do("open the page", chromedp.Navigate(page))
	b.waitFor("3 nodes on the page", `document.getElementById('node-count').dataset.count === '3'`, 20*time.Second)
	b.screenshot("nodes")

	// An alert sent to the node shows on the page; the page records when
	// the alert's element appears, on the same clock as the test.
	eval[bool](b, `(() => {
		window.alertSeen = {};
		new MutationObserver(() => {
			for (const li of document.querySelectorAll('#alerts .alert')) {
				window.alertSeen[li.dataset.id] = window.alertSeen[li.dataset.id] || Date.now();
			}
		}).observe(document.getElementById('alerts'), {childList: true, subtree: true});
		return true;
	})()`)
	signed, err := alert.Sign(alert.Alert{Sequence: 1, Level: alert.Evacuate, Issued: time.Now(),
		Expires: time.Now().Add(time.Hour), Text: "Evacuate the river bank now"}, city)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	res, err := a.client.SendAlert(ctx, signed.Raw)
	if err != nil {
		t.Fatal(err)
	}
	b.waitFor("the alert on the page", fmt.Sprintf(`window.alertSeen[%q]`, res.ID), 10*time.Second)
	seen := eval[int64](b, fmt.Sprintf(`window.alertSeen[%q]`, res.ID))
	latency := time.UnixMilli(seen).Sub(sent)
	t.Logf("alert shown %v after it was sent", latency)
	if latency > 2*time.Second {
		t.Errorf("alert shown %v after it was sent, want within 2 s", latency)
	}
	label := eval[string](b, `document.querySelector('#alerts .alert .level').textContent`)
	if label != "EVACUATE" {
		t.Errorf("alert level reads %q, want EVACUATE in words", label)
	}
	b.screenshot("alert")

	// Alice signs in and watches her tag move.
	secret := tag.NewSecret()
	value, _ := json.Marshal(api.TagSecret{Secret: secret.String(), Created: time.Now().UTC()})
	if _, err := a.client.PutRecord(ctx, "alice", api.TagNamespace(userFingerprint(t, a.client, "alice")), "amy", bytes.NewReader(value), int64(len(value)), "application/json"); err != nil {
		t.Fatal(err)
	}
	first, second := tagReports(t, secret)
	postReports(t, a.client, first)
	b.signIn("alice", "shelter")
	b.waitFor("amy's first position", `document.querySelector('.tag-item[data-name="amy"][data-x]')`, 15*time.Second)
	b.waitFor("alice's sensors", `document.querySelectorAll('#sensors .sensor').length === 5`, 10*time.Second)
	x1 := eval[string](b, `document.querySelector('.tag-item[data-name="amy"]').dataset.x`)
	y1 := eval[string](b, `document.querySelector('.tag-item[data-name="amy"]').dataset.y`)
	b.screenshot("tag-first")

	postReports(t, a.client, second)
	b.waitFor("amy to move", fmt.Sprintf(`(() => {
		const li = document.querySelector('.tag-item[data-name="amy"]');
		return li && (li.dataset.x !== %q || li.dataset.y !== %q);
	})()`, x1, y1), 15*time.Second)
	x2 := eval[string](b, `document.querySelector('.tag-item[data-name="amy"]').dataset.x`)
	y2 := eval[string](b, `document.querySelector('.tag-item[data-name="amy"]').dataset.y`)
	t.Logf("amy moved from (%s, %s) to (%s, %s)", x1, y1, x2, y2)
	if n := eval[int](b, `document.querySelectorAll('#map [data-kind="tag"]').length`); n != 1 {
		t.Errorf("map shows %d tags for alice, want 1", n)
	}
	b.screenshot("tag-moved")

	// A background image the user sets is drawn under the map; a data URL
	// keeps the test off the network.
	background := "data:image/svg+xml," + url.PathEscape(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">`+
		`<rect width="10" height="10" fill="#cde"/><path d="M0 5H10M5 0V10" stroke="#888" stroke-width="0.2"/></svg>`)
	eval[bool](b, fmt.Sprintf(`(() => {
		document.getElementById('map-url').value = %q;
		document.getElementById('map-bounds').value = '-10,-10,80,80';
		document.getElementById('settings').requestSubmit();
		return true;
	})()`, background))
	b.waitFor("the map background", fmt.Sprintf(`(document.querySelector('#map image') || {getAttribute: () => ''}).getAttribute('href') === %q`, background), 5*time.Second)
	b.screenshot("map-background")

	// Bob, on the same page and node, gets no tag and no reading of alice.
	b.signIn("bob", "shelter")
	b.waitFor("bob's empty tag list", `document.getElementById('tags-note').textContent === 'bob has no tags.'`, 10*time.Second)
	if n := eval[int](b, `document.querySelectorAll('.tag-item').length + document.querySelectorAll('#map [data-kind="tag"]').length`); n != 0 {
		t.Errorf("bob's page shows %d tag elements, want none", n)
	}
	if n := eval[int](b, `document.querySelectorAll('#sensors .sensor').length`); n != 0 {
		t.Errorf("bob's page shows %d of alice's sensors, want none", n)
	}
	b.screenshot("other-user")

	// A peer that dies shows as unreachable once the node's pings fail.
	c.cmd.Process.Kill()
	b.waitFor("the dead peer's row to read unreachable", fmt.Sprintf(
		`document.querySelector('#nodes tbody tr[data-id=%q]').dataset.status === 'unreachable'`, c.status.ID.String()), 30*time.Second)
	b.screenshot("peer-down")

	// When the node stops, the page keeps what it showed and marks it as old.
	before := eval[string](b, `document.getElementById('node-count').dataset.count`)
	a.stop()
	b.waitFor("the lost-connection notice", `document.getElementById('connection').dataset.state === 'lost'`, 15*time.Second)
	b.waitFor("the stopped node's row to read unreachable",
		`document.querySelector('#nodes tbody tr').dataset.status === 'unreachable'`, 5*time.Second)
	if count := eval[string](b, `document.getElementById('node-count').dataset.count`); count != before {
		t.Errorf("node count reads %q after the node stopped, want the last known %s", count, before)
	}
	b.screenshot("node-down")
}

// waitAPIPeers waits until the node behind c lists want peers.
func waitAPIPeers(t *testing.T, c *api.Client, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		peers, err := c.Peers(context.Background())
		if err == nil && len(peers) >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node lists %d peers after 20 s, want %d (last error %v)", len(peers), want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
