package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/dashboard"
	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
	"github.com/yuinet/yui/tag"
)

// DashboardConfig configures the web page the node serves.
type DashboardConfig struct {
	// Location is the node's place in the coordinates of the map: metres
	// on the site plan, or longitude as X and latitude as Y. Nil leaves
	// the node off the map.
	Location *tag.Point
	// MapURL is an image drawn under the map, and MapBounds the map
	// coordinates of its corners: min x, min y, max x, max y. A user may
	// set another in the page, which the browser keeps.
	MapURL    string
	MapBounds *[4]float64
}

// Thresholds of a peer's status on the page. A routing contact may stay
// silent for the routing core's ping interval before it is pinged, so
// silence counts only once it lasts longer than that.
const (
	// defaultPingInterval is kademlia.Config's default PingInterval, for
	// a node whose configuration leaves it zero.
	defaultPingInterval = 5 * time.Minute
	// peerUnreachableFailures is how many requests in a row may fail
	// before the page calls a peer unreachable. One failure makes it
	// stale.
	peerUnreachableFailures = 2
)

// dashboardState is the node's part of the page: the newest readings of
// every ingest path and the hub that streams changes to open pages. Both
// are set once when the API starts.
type dashboardState struct {
	readings *dashboard.Readings
	hub      *dashboard.Hub
	probes   *peerProbes

	mu sync.Mutex
	// secrets caches tag secrets by record version; guarded by mu.
	secrets map[secretKey]tag.Secret
}

// dashboardRoutes adds the page and its endpoints to mux. It also puts
// the page's readings cache in front of the node's reading sink, so that
// every ingest path started later feeds it.
func (n *Node) dashboardRoutes(mux *http.ServeMux) {
	d := &dashboardState{readings: dashboard.NewReadings(0), hub: dashboard.NewHub(),
		probes:  &peerProbes{results: make(map[identity.NodeID]probeResult)},
		secrets: make(map[secretKey]tag.Secret)}
	n.dashboard = d
	if n.readings != nil {
		n.readings = dashboardSink{next: n.readings, state: d}
	}

	mux.HandleFunc("GET /{$}", dashboard.Index)
	mux.Handle("GET "+api.PathDashboard, dashboard.Handler(api.PathDashboard))
	mux.HandleFunc("GET "+api.PathDashboardState, n.serveDashboardState)
	mux.HandleFunc("GET "+api.PathDashboardStream, n.serveDashboardStream)
}

// dashboardSink stores readings with next and then shows them on the page.
type dashboardSink struct {
	next  sensor.Sink
	state *dashboardState
}

func (s dashboardSink) Write(ctx context.Context, user, namespace string, readings []sensor.Reading) error {
	if err := s.next.Write(ctx, user, namespace, readings); err != nil {
		return err
	}
	s.state.add(namespace, readings)
	return nil
}

// add records readings and streams the sensors they changed to open pages.
func (d *dashboardState) add(namespace string, readings []sensor.Reading) {
	changed := d.readings.Add(namespace, readings, time.Now())
	if len(changed) == 0 || d.hub.Len() == 0 {
		return
	}
	sensors := d.readings.Sensors(namespace, changed)
	for i := range sensors {
		for j, s := range sensors[i].Series {
			sensors[i].Series[j].Points = s.Points[len(s.Points)-1:]
		}
	}
	data, err := json.Marshal(api.DashboardReadings{Namespace: namespace, Sensors: sensors})
	if err != nil {
		return
	}
	d.hub.Publish(dashboard.Event{Name: api.DashboardReadingsEvent, Namespace: namespace, Data: data})
}

// dashboardQuery holds the parameters of a state or stream request.
type dashboardQuery struct {
	user, namespace, network string
}

// parseDashboardQuery reads user=, ns= and network=. On failure it
// writes the error response and returns false.
func (n *Node) parseDashboardQuery(w http.ResponseWriter, r *http.Request) (dashboardQuery, bool) {
	v := r.URL.Query()
	q := dashboardQuery{user: v.Get("user"), namespace: v.Get("ns"), network: v.Get("network")}
	if q.network == "" {
		q.network = api.DefaultTagNetwork
	}
	var err error
	switch {
	case q.user != "" && api.ValidateUserName(q.user) != nil:
		err = fmt.Errorf("user=%q: %w", q.user, api.ValidateUserName(q.user))
	case q.namespace != "" && seal.ValidateNamespace(q.namespace) != nil:
		err = fmt.Errorf("%w: ns=%q: %v", api.ErrInvalid, q.namespace, seal.ValidateNamespace(q.namespace))
	case seal.ValidateNamespace(api.SightingsNamespace(q.network)) != nil:
		err = fmt.Errorf("%w: network=%q: not a valid relay network name", api.ErrInvalid, q.network)
	}
	if err != nil {
		n.writeStoreError(w, r, err)
		return q, false
	}
	return q, true
}

func (n *Node) serveDashboardState(w http.ResponseWriter, r *http.Request) {
	q, ok := n.parseDashboardQuery(w, r)
	if !ok {
		return
	}
	// The state of a thousand sensors runs to megabytes, so it goes out
	// compact, unlike the API's other responses.
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(n.dashboardSnapshot(r.Context(), q)); err != nil && r.Context().Err() == nil {
		n.log.Warn("dashboard state not sent", "user", q.user, "err", err)
	}
}

// dashboardSnapshot gathers everything the page shows for q. A part that
// fails leaves its error in the state instead of failing the rest, so the
// page always has something to show.
func (n *Node) dashboardSnapshot(ctx context.Context, q dashboardQuery) api.DashboardState {
	st := api.DashboardState{
		Time:       time.Now().UTC(),
		Nodes:      n.dashboardNodes(),
		Alerts:     []api.Alert{},
		User:       q.user,
		Namespace:  q.namespace,
		Namespaces: []string{},
		Sensors:    []api.DashboardSensor{},
		Tags:       []api.DashboardTag{},
		MapURL:     n.cfg.Dashboard.MapURL,
		MapBounds:  n.cfg.Dashboard.MapBounds,
	}
	if s := n.alerts.Load(); s != nil {
		for _, a := range s.list() {
			st.Alerts = append(st.Alerts, apiAlert(a))
		}
	}
	if q.user == "" {
		return st
	}

	st.Namespaces = n.readableNamespaces(ctx, q.user)
	if q.namespace != "" {
		if err := n.canRead(ctx, q.user, q.namespace); err != nil {
			st.SensorsError = err.Error()
		} else {
			st.Sensors = n.dashboard.readings.Sensors(q.namespace, nil)
		}
	}
	tags, err := n.userTags(ctx, q.user, q.network)
	if err != nil {
		st.TagsError = err.Error()
	}
	st.Tags = tags
	return st
}

// canRead checks that user may read namespace, with the same check the
// search layer makes before it opens a reading.
func (n *Node) canRead(ctx context.Context, user, namespace string) error {
	_, err := n.storage.store.IndexKey(ctx, user, namespace)
	switch {
	case errors.Is(err, store.ErrForbidden), errors.Is(err, store.ErrUnknownUser):
		return fmt.Errorf("user %s may not read namespace %s; ask its owner for a read grant", user, namespace)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("namespace %s does not exist yet", namespace)
	case err != nil:
		return fmt.Errorf("check access of user %s to namespace %s: %w", user, namespace, err)
	}
	return nil
}

// readableNamespaces returns the namespaces with readings on the page
// that user may read.
func (n *Node) readableNamespaces(ctx context.Context, user string) []string {
	out := []string{}
	for _, ns := range n.dashboard.readings.Namespaces() {
		if n.canRead(ctx, user, ns) == nil {
			out = append(out, ns)
		}
	}
	return out
}

// dashboardNodes returns this node and its peers with their status.
func (n *Node) dashboardNodes() api.DashboardNodes {
	self := api.DashboardNode{
		ID: n.id.ID.String(), Short: n.id.ID.Short(), Addr: n.tr.LocalAddr().String(),
		Link: "self", Status: api.NodeUp, Location: n.cfg.Dashboard.Location,
	}
	n.router.withOverlay(func(m *hierarchy.Machine) {
		self.Mode, self.Role = m.Mode().String(), m.Role().String()
	})

	ping := n.cfg.Kademlia.PingInterval
	if ping <= 0 {
		ping = defaultPingInterval
	}
	now := time.Now()
	peers := []api.DashboardNode{}
	var ids []string
	for _, p := range n.Peers() {
		// A page's own pings count as hearing from the peer, and their
		// failures as the routing core's do.
		heard, failures := p.LastSeen, p.Failures
		probe := n.dashboard.probes.get(p.ID)
		if probe.answered.After(heard) {
			heard = probe.answered
		}
		if probe.failures > 0 && probe.sent.After(p.LastSeen) {
			failures = max(failures, probe.failures)
		}
		peer := api.DashboardNode{
			ID: p.ID.String(), Short: p.ID.Short(), Addr: p.Addr.String(), Link: "routing",
			RTTMs:    float64(p.RTT) / float64(time.Millisecond),
			LastAgo:  now.Sub(heard).Seconds(),
			Failures: failures,
		}
		if p.Bucket < 0 {
			peer.Link = "group"
		}
		peer.Status = peerStatus(now.Sub(heard), failures, ping)
		peers = append(peers, peer)
		ids = append(ids, peer.ID)
	}
	layout := dashboard.Layout(ids)
	for i := range peers {
		peers[i].Position = layout[peers[i].ID]
	}
	return api.DashboardNodes{Self: self, Peers: peers}
}

// peerStatus rates a peer by its failed requests in a row and by how long
// it was silent, against the routing core's ping interval.
func peerStatus(silent time.Duration, failures int, ping time.Duration) string {
	switch {
	case failures >= peerUnreachableFailures || silent > 3*ping:
		return api.NodeUnreachable
	case failures > 0 || silent > ping+ping/2:
		return api.NodeStale
	}
	return api.NodeUp
}
