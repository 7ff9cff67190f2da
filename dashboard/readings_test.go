package dashboard

import (
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/yuinet/yui/sensor"
)

func reading(src string, at time.Time, temp float64) sensor.Reading {
	return sensor.Reading{Source: src, Time: at, Fields: []sensor.Field{
		{Name: "temperature", Value: sensor.Number(temp)},
		{Name: "note", Value: sensor.Text("ok")},
		{Name: "humidity", Value: sensor.Missing()},
	}}
}

func TestReadingsKeepNewest(t *testing.T) {
	c := NewReadings(3)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	changed := c.Add("env", []sensor.Reading{reading("a", t0.Add(2*time.Second), 2), reading("a", t0, 0)}, t0)
	if len(changed) != 1 || changed[0] != "a" {
		t.Fatalf("changed %v, want [a]", changed)
	}

	got := c.Sensors("env", nil)
	if len(got) != 1 {
		t.Fatalf("%d sensors, want 1", len(got))
	}
	a := got[0]
	if !a.Time.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("newest reading at %v, want the later one at %v", a.Time, t0.Add(2*time.Second))
	}
	if *a.Fields[0].Number != 2 || a.Fields[1].Text != "ok" || a.Fields[2].Number != nil || a.Fields[2].Text != "" {
		t.Errorf("fields %+v, want temperature 2, note ok, humidity missing", a.Fields)
	}
	if len(a.Series) != 1 || a.Series[0].Field != "temperature" {
		t.Fatalf("series %+v, want temperature only", a.Series)
	}
	if pts := a.Series[0].Points; len(pts) != 2 || pts[0][1] != 0 || pts[1][1] != 2 {
		t.Errorf("points %v, want 0 then 2 in time order", pts)
	}
}

func TestReadingsSeriesLimit(t *testing.T) {
	c := NewReadings(3)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		c.Add("env", []sensor.Reading{reading("a", t0.Add(time.Duration(i)*time.Second), float64(i))}, t0)
	}
	// A reading older than the whole full series changes nothing.
	if changed := c.Add("env", []sensor.Reading{reading("a", t0.Add(-time.Hour), 99)}, t0); len(changed) != 0 {
		t.Errorf("an old reading changed %v", changed)
	}
	// One inside the window is inserted in order, pushing out the oldest.
	c.Add("env", []sensor.Reading{reading("a", t0.Add(3500*time.Millisecond), 3.5)}, t0)

	pts := c.Sensors("env", nil)[0].Series[0].Points
	want := []float64{3, 3.5, 4}
	if len(pts) != len(want) {
		t.Fatalf("points %v, want values %v", pts, want)
	}
	for i, p := range pts {
		if p[1] != want[i] {
			t.Errorf("point %d is %v, want %v", i, p[1], want[i])
		}
	}
}

func TestReadingsBounds(t *testing.T) {
	c := NewReadings(0)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := range MaxNamespaces + 1 {
		c.Add(fmt.Sprintf("ns%03d", i), []sensor.Reading{reading("a", t0, 1)}, t0.Add(time.Duration(i)*time.Second))
	}
	names := c.Namespaces()
	if len(names) != MaxNamespaces || names[0] != "ns001" {
		t.Errorf("kept %d namespaces starting at %s, want %d without ns000, the oldest", len(names), names[0], MaxNamespaces)
	}

	var many []sensor.Reading
	for i := range MaxSensors + 5 {
		many = append(many, reading(fmt.Sprintf("s%05d", i), t0, 1))
	}
	c.Add("big", many, t0)
	if got := len(c.Sensors("big", nil)); got != MaxSensors {
		t.Errorf("kept %d sensors, want %d", got, MaxSensors)
	}
	if c.Dropped() != 5 {
		t.Errorf("dropped %d readings, want 5", c.Dropped())
	}
}

func TestReadingsCopyFields(t *testing.T) {
	c := NewReadings(0)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	rs := []sensor.Reading{reading("a", t0, 1)}
	c.Add("env", rs, t0)
	rs[0].Fields[0].Value = sensor.Number(42)
	if got := *c.Sensors("env", nil)[0].Fields[0].Number; got != 1 {
		t.Errorf("cache shows %v after the caller reused its slice, want 1", got)
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	h := NewHub()
	slow, cancelSlow := h.Subscribe()
	defer cancelSlow()
	fast, cancelFast := h.Subscribe()

	for i := range subscriberBuffer {
		h.Publish(Event{Name: "e", Data: []byte(fmt.Sprint(i))})
		<-fast
	}
	h.Publish(Event{Name: "overflow"})
	if h.Len() != 1 {
		t.Fatalf("hub has %d subscribers after one fell behind, want 1", h.Len())
	}
	n := 0
	for range slow {
		n++
	}
	if n != subscriberBuffer {
		t.Errorf("slow subscriber got %d events before its channel closed, want %d", n, subscriberBuffer)
	}
	if e := <-fast; e.Name != "overflow" {
		t.Errorf("fast subscriber got %q, want overflow", e.Name)
	}
	cancelFast()
	cancelFast()
	if h.Len() != 0 {
		t.Errorf("hub has %d subscribers after both ended, want 0", h.Len())
	}
}

func TestLayoutDeterministic(t *testing.T) {
	ids := []string{"aa", "bb", "cc", "dd"}
	first := Layout(ids)
	again := Layout([]string{"dd", "cc", "bb", "aa"})
	seen := map[[2]float64]bool{}
	for _, id := range ids {
		if first[id] != again[id] {
			t.Errorf("%s placed at %v, then at %v for the same set", id, first[id], again[id])
		}
		p := first[id]
		if d := p.X*p.X + p.Y*p.Y; d < 0.99*LayoutRadius*LayoutRadius || d > 1.01*LayoutRadius*LayoutRadius {
			t.Errorf("%s at %v is off the ring of radius %d", id, p, LayoutRadius)
		}
		seen[[2]float64{p.X, p.Y}] = true
	}
	if len(seen) != len(ids) {
		t.Errorf("%d distinct places for %d peers", len(seen), len(ids))
	}
}

func TestFiles(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		if _, err := fs.Stat(Files(), name); err != nil {
			t.Errorf("embedded %s: %v", name, err)
		}
	}
}
