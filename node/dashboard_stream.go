package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/dashboard"
)

// Intervals of the dashboard stream.
const (
	// dashboardPoll is how often the stream checks the peers and the
	// user's tags for changes. Tag reports may reach any node, so the
	// stream polls the store instead of waiting for a local event.
	dashboardPoll = time.Second
	// dashboardNodesRefresh is how often the stream sends the nodes even
	// when nothing changed, so the ages the page shows stay current.
	dashboardNodesRefresh = 10 * time.Second
	// dashboardHeartbeat is how often the stream sends a heartbeat event.
	dashboardHeartbeat = 5 * time.Second
	// dashboardTagTimeout bounds one poll of the user's tags.
	dashboardTagTimeout = 5 * time.Second
)

// dashboardStream is one open event stream of the page. It is owned by
// the goroutine of its request.
type dashboardStream struct {
	n       *Node
	w       http.ResponseWriter
	flusher http.Flusher
	q       dashboardQuery
	// readable is set when the user may read the namespace, so that
	// readings events of it are passed on.
	readable bool
	// lastNodes is the key of the last nodes event sent, to send only
	// changes.
	lastNodes []byte
	nodesSent time.Time
}

// serveDashboardStream streams changes to the page as server-sent events
// until the client goes away or the node stops.
func (n *Node) serveDashboardStream(w http.ResponseWriter, r *http.Request) {
	q, ok := n.parseDashboardQuery(w, r)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("node: response does not support streaming"))
		return
	}
	ctx := r.Context()
	s := &dashboardStream{n: n, w: w, flusher: flusher, q: q}
	if q.user != "" && q.namespace != "" {
		s.readable = n.canRead(ctx, q.user, q.namespace) == nil
	}

	// Subscribe before the headers go out: a page reads the state once
	// the stream is open, so no change falls in between.
	events, cancel := n.dashboard.hub.Subscribe()
	defer cancel()
	var alerts <-chan *alert.Signed
	if as := n.alerts.Load(); as != nil {
		ch, stop := as.watch()
		defer stop()
		alerts = ch
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": dashboard stream\n\n")
	s.pollNodes()
	s.heartbeat()

	// Locating many tags can take longer than the events may wait, so it
	// runs beside the loop that writes them.
	// Pinging silent peers runs beside it too.
	watchCtx, stopWatches := context.WithCancel(ctx)
	tags := make(chan []byte)
	var watches sync.WaitGroup
	watches.Go(func() { n.watchDashboardTags(watchCtx, q, tags) })
	watches.Go(func() { n.watchDashboardPeers(watchCtx) })
	defer func() {
		stopWatches()
		watches.Wait()
	}()
	s.run(ctx, events, alerts, tags)
}

func (s *dashboardStream) run(ctx context.Context, events <-chan dashboard.Event, alerts <-chan *alert.Signed, tags <-chan []byte) {
	poll := time.NewTicker(dashboardPoll)
	defer poll.Stop()
	heartbeat := time.NewTicker(dashboardHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			s.pollNodes()
		case data := <-tags:
			s.send(api.DashboardTagsEvent, data)
		case <-heartbeat.C:
			s.heartbeat()
		case e, ok := <-events:
			if !ok {
				// The hub dropped a stream that fell behind; the page
				// reconnects and reloads the state.
				return
			}
			if e.Name == api.DashboardReadingsEvent && (!s.readable || e.Namespace != s.q.namespace) {
				continue
			}
			s.send(e.Name, e.Data)
		case a, ok := <-alerts:
			if !ok {
				return
			}
			s.sendJSON(api.DashboardAlertEvent, apiAlert(a))
		}
	}
}

// pollNodes sends the nodes when they changed, and every
// dashboardNodesRefresh regardless.
func (s *dashboardStream) pollNodes() {
	now := time.Now()
	nodes := s.n.dashboardNodes()
	if key := nodesKey(nodes); !bytes.Equal(key, s.lastNodes) || now.Sub(s.nodesSent) >= dashboardNodesRefresh {
		s.sendJSON(api.DashboardNodesEvent, nodes)
		s.lastNodes, s.nodesSent = key, now
	}
}

// watchDashboardTags locates the user's tags every dashboardPoll and hands
// their encoding to out when it changed, until ctx ends. It does nothing
// when no user is signed in.
func (n *Node) watchDashboardTags(ctx context.Context, q dashboardQuery, out chan<- []byte) {
	if q.user == "" {
		return
	}
	var last []byte
	for {
		pollCtx, cancel := context.WithTimeout(ctx, dashboardTagTimeout)
		tags, err := n.userTags(pollCtx, q.user, q.network)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// The state endpoint reports this error to the page; the
			// stream keeps the last positions it sent.
			n.log.Debug("dashboard could not locate tags", "user", q.user, "err", err)
		default:
			data, err := json.Marshal(tags)
			if err == nil && !bytes.Equal(data, last) {
				select {
				case out <- data:
					last = data
				case <-ctx.Done():
					return
				}
			}
		}
		select {
		case <-time.After(dashboardPoll):
		case <-ctx.Done():
			return
		}
	}
}

// nodesKey encodes what of nodes the page would show differently, leaving
// out the round-trip times and ages that change on every poll.
func nodesKey(nodes api.DashboardNodes) []byte {
	peers := make([]api.DashboardNode, len(nodes.Peers))
	for i, p := range nodes.Peers {
		p.LastAgo, p.RTTMs = 0, 0
		peers[i] = p
	}
	nodes.Peers = peers
	key, _ := json.Marshal(nodes)
	return key
}

func (s *dashboardStream) heartbeat() {
	s.sendJSON(api.DashboardHeartbeatEvent, time.Now().UTC())
}

func (s *dashboardStream) sendJSON(name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.n.log.Error("dashboard event does not encode", "event", name, "err", err)
		return
	}
	s.send(name, data)
}

// send writes one event. data is JSON, which holds no newline once
// compacted, so it fits one data line.
func (s *dashboardStream) send(name string, data []byte) {
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data)
	s.flusher.Flush()
}
