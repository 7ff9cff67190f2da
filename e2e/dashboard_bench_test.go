package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/tag"
)

// Sizes of the dashboard load figures.
const (
	figureSensors  = 1000
	figurePoints   = 60
	figureTags     = 100
	figureUpdates  = 20
	figureNetwork  = "dash-figures"
	figureUser     = "alice"
	figureReadings = "city"
)

// TestDashboardLoadFigures measures, in headless Chromium, how long the
// page of a node takes to show 1,000 sensors with 60 readings each and
// 100 located tags, and how long a new reading takes from its ingest
// request to the page. It logs the figures that BENCHMARKS.md records and
// asserts only that everything shows.
func TestDashboardLoadFigures(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("loads 60,000 readings and 100 tags; skipped under -short and -race")
	}
	b := newBrowser(t)
	base := t.TempDir()
	a := startHostNode(t, filepath.Join(base, "a"), figureNetwork)
	startHostNode(t, filepath.Join(base, "b"), figureNetwork, a.status.Listen)
	startHostNode(t, filepath.Join(base, "c"), figureNetwork, a.status.Listen)
	waitAPIPeers(t, a.client, 2)
	ctx := context.Background()
	if _, err := a.client.CreateUser(ctx, figureUser); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	loadFigureSensors(t, a.client)
	loadFigureTags(t, a.client)
	t.Logf("loaded %d readings and %d tags in %v", figureSensors*figurePoints, figureTags, time.Since(start).Round(time.Millisecond))

	// The first request reads every tag's secret; later ones find them
	// in the node's cache.
	for _, run := range []struct {
		name string
		q    api.DashboardQuery
	}{
		{"first, sensors and tags", api.DashboardQuery{User: figureUser, Namespace: figureReadings}},
		{"again, sensors and tags", api.DashboardQuery{User: figureUser, Namespace: figureReadings}},
		{"tags only", api.DashboardQuery{User: figureUser}},
		{"sensors, and tags in a relay network without sightings", api.DashboardQuery{User: figureUser, Namespace: figureReadings, Network: "quiet"}},
	} {
		start = time.Now()
		st, err := a.client.DashboardState(ctx, run.q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("state endpoint, %s: %v for %d sensors and %d tags", run.name, time.Since(start).Round(time.Millisecond), len(st.Sensors), len(st.Tags))
	}

	// The first visit stores the settings in the browser; the timed visit
	// is a reload, as a user who comes back would make.
	page := "http://" + a.status.API + "/"
	b.do("open the page", chromedp.Navigate(page))
	eval[bool](b, fmt.Sprintf(`(localStorage.setItem('yui.user', %q), localStorage.setItem('yui.ns', %q), true)`, figureUser, figureReadings))
	start = time.Now()
	b.do("reload the page", chromedp.Navigate(page))
	b.waitFor("every sensor and tag", fmt.Sprintf(`document.querySelectorAll('#sensors .sensor').length === %d &&
		document.querySelectorAll('.tag-item[data-x]').length === %d`, figureSensors, figureTags), 60*time.Second)
	t.Logf("page load: %v until %d sensors with charts and %d tags show", time.Since(start).Round(time.Millisecond), figureSensors, figureTags)
	b.screenshot("figures")

	latencies := measureReadingLatency(t, b, a.client)
	slices.Sort(latencies)
	t.Logf("reading to page over SSE, %d updates: median %v, max %v", len(latencies),
		latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
}

func loadFigureSensors(t *testing.T, c *api.Client) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	var batch []sensor.Reading
	for p := range figurePoints {
		for s := range figureSensors {
			batch = append(batch, sensor.Reading{
				Source:   fmt.Sprintf("sensor-%04d", s),
				Time:     now.Add(time.Duration(p-figurePoints) * time.Second),
				Fields:   []sensor.Field{{Name: "temperature", Value: sensor.Number(15 + float64((s+p)%20)/2)}, {Name: "humidity", Value: sensor.Number(40 + float64(p%10))}},
				Location: sensor.PlanePoint(float64(s%40)*3, float64(s/40)*3),
			})
		}
		if len(batch) >= 10*figureSensors {
			writeFigureReadings(t, c, batch)
			batch = batch[:0]
		}
	}
	writeFigureReadings(t, c, batch)
}

func writeFigureReadings(t *testing.T, c *api.Client, batch []sensor.Reading) {
	t.Helper()
	if len(batch) == 0 {
		return
	}
	if _, err := c.WriteReadings(context.Background(), figureUser, figureReadings, batch); err != nil {
		t.Fatal(err)
	}
}

// loadFigureTags stores figureTags tags of the user and two minutes of
// their sightings by the 25 relays of a town.
func loadFigureTags(t *testing.T, c *api.Client) {
	t.Helper()
	ctx := context.Background()
	relays := tag.Town(5, 5, 30, 3)
	sim := &tag.Simulation{Model: tag.ULBModel, Range: tag.DefaultRange, Relays: relays,
		Beacon: 5 * time.Second, Speed: tag.WalkingSpeed, Seed: 3}
	tags := tag.NewSimTags("tag", figureTags, 4, relays, rand.New(rand.NewPCG(3, 3)))
	ns := api.TagNamespace(userFingerprint(t, c, figureUser))
	for _, tg := range tags {
		value, _ := json.Marshal(api.TagSecret{Secret: tg.Secret.String(), Created: time.Now().UTC()})
		if _, err := c.PutRecord(ctx, figureUser, ns, tg.Name, bytes.NewReader(value), int64(len(value)), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	byRelay := map[string]*tag.Report{}
	err := sim.Run(tags, time.Now().Add(-2*time.Minute), 2*time.Minute, func(s tag.SimSighting) error {
		rep := byRelay[s.Relay]
		if rep == nil {
			p := relays[s.Relay]
			rep = &tag.Report{Relay: s.Relay, Position: &p}
			byRelay[s.Relay] = rep
		}
		rep.Sightings = append(rep.Sightings, s.Sighting)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range byRelay {
		if _, err := c.PostSightings(ctx, "", "", rep); err != nil {
			t.Fatalf("post report of relay %s: %v", rep.Relay, err)
		}
	}
}

// measureReadingLatency sends one new reading at a time and returns how
// long each took from the start of its ingest request until its value
// showed on the page, by the page's clock, which is the test's.
func measureReadingLatency(t *testing.T, b *browser, c *api.Client) []time.Duration {
	t.Helper()
	eval[bool](b, `(() => {
		window.valueSeen = {};
		new MutationObserver(() => {
			for (const dd of document.querySelectorAll('#sensors dd')) {
				window.valueSeen[dd.textContent] = window.valueSeen[dd.textContent] || Date.now();
			}
		}).observe(document.getElementById('sensors'), {childList: true, subtree: true});
		return true;
	})()`)
	var out []time.Duration
	for i := range figureUpdates {
		// Values of 1000 and more show unrounded and appear nowhere else.
		value := 1000 + float64(i)
		r := sensor.Reading{Source: fmt.Sprintf("sensor-%04d", i*37), Time: time.Now().UTC(),
			Fields: []sensor.Field{{Name: "temperature", Value: sensor.Number(value)}}}
		sent := time.Now()
		writeFigureReadings(t, c, []sensor.Reading{r})
		expr := fmt.Sprintf(`window.valueSeen[%q]`, fmt.Sprint(value))
		b.waitFor("reading "+fmt.Sprint(value)+" on the page", expr, 10*time.Second)
		out = append(out, time.UnixMilli(eval[int64](b, expr)).Sub(sent))
	}
	return out
}
