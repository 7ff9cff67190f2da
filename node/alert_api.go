package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/api"
)

// alertKeepAlive is how often the alert stream sends a comment line, so
// that proxies and clients see a live connection while no alert comes.
const alertKeepAlive = 15 * time.Second

func (n *Node) alertRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathAlerts, n.serveSendAlert)
	mux.HandleFunc("GET "+api.PathAlerts, n.serveAlerts)
	mux.HandleFunc("GET "+api.PathAlertStream, n.serveAlertStream)
}

func (n *Node) serveSendAlert(w http.ResponseWriter, r *http.Request) {
	s := n.alerts.Load()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("node: alerts are not running yet"))
		return
	}
	var req api.SendAlertRequest
	if err := decodeJSONBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	signed, err := alert.Decode(req.Signed)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch err := s.publish(signed); {
	case errors.Is(err, alert.ErrDuplicate):
		// Sending an alert twice is harmless: the node holds it.
	case errors.Is(err, alert.ErrUnknownAuthority):
		writeError(w, http.StatusForbidden, err)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, apiAlert(signed))
}

func (n *Node) serveAlerts(w http.ResponseWriter, r *http.Request) {
	list := []api.Alert{}
	if s := n.alerts.Load(); s != nil {
		for _, a := range s.list() {
			list = append(list, apiAlert(a))
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// serveAlertStream streams every alert the node accepts from now on as a
// server-sent event, after the alerts it holds when the query has
// held=true. It ends when the client goes away or the node stops.
func (n *Node) serveAlertStream(w http.ResponseWriter, r *http.Request) {
	s := n.alerts.Load()
	flusher, ok := w.(http.Flusher)
	if s == nil || !ok {
		writeError(w, http.StatusServiceUnavailable, errors.New("node: alert stream is not available"))
		return
	}
	ch, cancel := s.watch()
	defer cancel()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": watching alerts\n\n")

	// The watch started before the list is read, so no alert falls in
	// between; one that is in both is sent once.
	sent := make(map[alert.ID]bool)
	if r.URL.Query().Get("held") == "true" {
		for _, a := range s.list() {
			sent[a.ID] = true
			writeAlertEvent(w, a)
		}
	}
	flusher.Flush()

	keepAlive := time.NewTicker(alertKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case a, ok := <-ch:
			if !ok {
				return
			}
			if !sent[a.ID] {
				writeAlertEvent(w, a)
			}
		}
		flusher.Flush()
	}
}

func writeAlertEvent(w http.ResponseWriter, a *alert.Signed) {
	b, err := json.Marshal(apiAlert(a))
	if err != nil {
		return
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", api.AlertEvent, b)
}

func apiAlert(s *alert.Signed) api.Alert {
	a := api.Alert{
		ID:        hex.EncodeToString(s.ID[:]),
		Authority: s.Authority,
		KeyID:     s.KeyID.String(),
		Sequence:  s.Sequence,
		Level:     s.Level.String(),
		Issued:    s.Issued,
		Expires:   s.Expires,
		Text:      s.Text,
		Signed:    s.Raw,
	}
	if area := s.Area; !area.IsZero() {
		a.Area = &api.AlertArea{Radius: area.Radius}
		if area.Center != nil {
			a.Area.Lat, a.Area.Lon = area.Center.Lat, area.Center.Lon
		}
		for _, p := range area.Polygon {
			a.Area.Polygon = append(a.Area.Polygon, [2]float64{p.Lat, p.Lon})
		}
	}
	return a
}
