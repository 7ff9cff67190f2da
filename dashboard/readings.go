package dashboard

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/tag"
)

// Limits of the readings a node keeps for its page. They bound memory
// whatever the sensors send: at the defaults, about 64 namespaces × 10,000
// sensors × 8 series × 60 points × 16 bytes at worst.
const (
	// MaxNamespaces is how many namespaces are kept; the one updated
	// longest ago goes first.
	MaxNamespaces = 64
	// MaxSensors is how many sensors of one namespace are kept. Readings
	// of further sensors are counted in Dropped and not shown.
	MaxSensors = 10_000
	// MaxSeries is how many numeric fields of a sensor get a series.
	MaxSeries = 8
	// MaxFields is how many fields of the newest reading are shown.
	MaxFields = 32
	// DefaultPoints is how many values a series keeps.
	DefaultPoints = 60
)

// Readings keeps, per namespace and sensor, the newest reading and the
// recent values of its numeric fields. Every ingest path of a node feeds
// it, so it holds what this node ingested since it started, not what
// other nodes stored.
type Readings struct {
	points int

	mu sync.Mutex
	// namespaces and dropped are guarded by mu.
	namespaces map[string]*namespaceReadings
	dropped    int
}

type namespaceReadings struct {
	updated time.Time
	sensors map[string]*sensorState
}

type sensorState struct {
	latest sensor.Reading
	// series maps a field to its values sorted by time; order lists the
	// fields in the order they were first seen.
	series map[string][][2]float64
	order  []string
}

// NewReadings returns an empty cache that keeps points values per series,
// or DefaultPoints when points is not positive.
func NewReadings(points int) *Readings {
	if points <= 0 {
		points = DefaultPoints
	}
	return &Readings{points: points, namespaces: make(map[string]*namespaceReadings)}
}

// Add records readings of namespace, received at now, and returns the
// sources whose newest reading or series changed, sorted.
func (c *Readings) Add(namespace string, readings []sensor.Reading, now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()

	ns := c.namespace(namespace, now)
	changed := map[string]bool{}
	for i := range readings {
		r := &readings[i]
		s := ns.sensors[r.Source]
		if s == nil {
			if len(ns.sensors) >= MaxSensors {
				c.dropped++
				continue
			}
			s = &sensorState{series: make(map[string][][2]float64)}
			ns.sensors[r.Source] = s
		}
		if c.addReading(s, r) {
			changed[r.Source] = true
		}
	}
	sources := make([]string, 0, len(changed))
	for src := range changed {
		sources = append(sources, src)
	}
	sort.Strings(sources)
	return sources
}

// namespace returns the entry of name, making room for it if it is new.
func (c *Readings) namespace(name string, now time.Time) *namespaceReadings {
	ns := c.namespaces[name]
	if ns == nil {
		if len(c.namespaces) >= MaxNamespaces {
			c.evictOldest()
		}
		ns = &namespaceReadings{sensors: make(map[string]*sensorState)}
		c.namespaces[name] = ns
	}
	ns.updated = now
	return ns
}

func (c *Readings) evictOldest() {
	var oldest string
	var at time.Time
	for name, ns := range c.namespaces {
		if oldest == "" || ns.updated.Before(at) {
			oldest, at = name, ns.updated
		}
	}
	delete(c.namespaces, oldest)
}

// addReading merges r into s and reports whether anything changed.
func (c *Readings) addReading(s *sensorState, r *sensor.Reading) bool {
	changed := false
	if s.latest.Source == "" || !r.Time.Before(s.latest.Time) {
		s.latest = copyReading(r)
		changed = true
	}
	t := float64(r.Time.UnixMilli())
	for _, f := range r.Fields {
		v, ok := f.Value.Number()
		if !ok {
			continue
		}
		points, known := s.series[f.Name]
		if !known {
			if len(s.order) >= MaxSeries {
				continue
			}
			s.order = append(s.order, f.Name)
		}
		points, added := insertPoint(points, [2]float64{t, v}, c.points)
		s.series[f.Name] = points
		changed = changed || added
	}
	return changed
}

// insertPoint adds p to points, which are sorted by time and hold at most
// limit values, dropping the oldest when full. A point older than every
// point of a full series is not added.
func insertPoint(points [][2]float64, p [2]float64, limit int) ([][2]float64, bool) {
	i := sort.Search(len(points), func(i int) bool { return points[i][0] > p[0] })
	if len(points) >= limit {
		if i == 0 {
			return points, false
		}
		points = slices.Delete(points, 0, 1)
		i--
	}
	return slices.Insert(points, i, p), true
}

// copyReading returns r with fields of its own, so the caller's slice may
// be reused once Add returns.
func copyReading(r *sensor.Reading) sensor.Reading {
	out := *r
	out.Fields = slices.Clone(r.Fields[:min(len(r.Fields), MaxFields)])
	if r.Location != nil {
		loc := *r.Location
		out.Location = &loc
	}
	return out
}

// Sensors returns the named sensors of namespace, or all of them when
// sources is nil, sorted by source.
func (c *Readings) Sensors(namespace string, sources []string) []api.DashboardSensor {
	c.mu.Lock()
	defer c.mu.Unlock()

	ns := c.namespaces[namespace]
	out := []api.DashboardSensor{}
	if ns == nil {
		return out
	}
	if sources == nil {
		for src := range ns.sensors {
			sources = append(sources, src)
		}
		sort.Strings(sources)
	}
	for _, src := range sources {
		if s := ns.sensors[src]; s != nil {
			out = append(out, s.view())
		}
	}
	return out
}

func (s *sensorState) view() api.DashboardSensor {
	r := &s.latest
	out := api.DashboardSensor{Source: r.Source, Time: r.Time.UTC(), Fields: []api.DashboardField{}}
	for _, f := range r.Fields {
		field := api.DashboardField{Name: f.Name}
		if v, ok := f.Value.Number(); ok {
			field.Number = &v
		} else if text, ok := f.Value.Text(); ok {
			field.Text = text
		}
		out.Fields = append(out.Fields, field)
	}
	if loc := r.Location; loc != nil {
		switch loc.Kind {
		case sensor.Geo:
			out.Location, out.Geo = &tag.Point{X: loc.Lon, Y: loc.Lat}, true
		case sensor.Plane:
			out.Location = &tag.Point{X: loc.X, Y: loc.Y}
		}
	}
	out.Series = []api.DashboardSeries{}
	for _, name := range s.order {
		out.Series = append(out.Series, api.DashboardSeries{Field: name, Points: slices.Clone(s.series[name])})
	}
	return out
}

// Namespaces returns the names of the namespaces kept, sorted.
func (c *Readings) Namespaces() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.namespaces))
	for name := range c.namespaces {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Dropped returns how many readings were not kept because their namespace
// already had MaxSensors sensors.
func (c *Readings) Dropped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}
