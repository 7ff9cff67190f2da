package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
)

// maxRequestBody bounds the JSON body of an API request.
const maxRequestBody = 1 << 20

// lookupTimeout bounds a lookup started through the API.
const lookupTimeout = 30 * time.Second

type apiServer struct {
	addr     string
	addrFile string
	srv      *http.Server
	done     chan struct{}
}

// startAPI listens on the configured API address, falling back to a free
// port on the same host when the default port is taken, and records the
// address in the data folder for the CLI.
func (n *Node) startAPI() error {
	ln, err := listenTCP(n.cfg.API, n.cfg.apiFallback)
	if err != nil {
		return err
	}
	// Port 0 requests a free port, so a different address is expected
	// then. Only a fallback from a fixed port is logged.
	if got := ln.Addr().String(); got != n.cfg.API && !strings.HasSuffix(n.cfg.API, ":0") {
		n.log.Info("default API port taken, using a free one", "wanted", n.cfg.API, "addr", got)
	}
	s := &apiServer{
		addr:     ln.Addr().String(),
		addrFile: filepath.Join(n.cfg.DataDir, api.APIAddrFile),
		done:     make(chan struct{}),
	}
	// No ReadTimeout or WriteTimeout: record values stream through this
	// server for as long as they take. Handlers of JSON bodies set their
	// own read deadline instead.
	s.srv = &http.Server{
		Handler:           jsonErrors(n.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if err := writeFileAtomic(s.addrFile, []byte(s.addr+"\n")); err != nil {
		ln.Close()
		return err
	}
	n.api = s

	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("API server stopped", "addr", s.addr, "err", err)
		}
	}()
	return nil
}

func listenTCP(addr string, fallback bool) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if !fallback || !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("node: API address %s: %w (pass another with --api)", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}

func (s *apiServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	<-s.done
	removeFile(s.addrFile)
}

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET "+api.PathStatus, n.serveStatus)
	mux.HandleFunc("GET "+api.PathPeers, n.servePeers)
	mux.HandleFunc("POST "+api.PathLookup, n.serveLookup)
	n.storageRoutes(mux)
	n.alertRoutes(mux)
	n.searchRoutes(mux)
	n.msgRoutes(mux)
	n.ingestRoutes(mux)
	n.tagRoutes(mux)
	n.dashboardRoutes(mux)
	n.jobRoutes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// Status returns the node's status as the API reports it.
func (n *Node) Status() api.Status {
	s := api.Status{
		ID:      n.id.ID,
		Network: n.cfg.Network,
		Version: Version,
		Listen:  n.tr.LocalAddr().String(),
		API:     n.api.addr,
		DataDir: n.cfg.DataDir,
		Started: n.started.UTC(),
		Uptime:  time.Since(n.started).Seconds(),
		Buckets: []api.Bucket{},
	}
	if n.disc != nil {
		s.Discovery = n.disc.Addr()
	}
	n.fillPlace(&s)
	n.router.withOverlay(func(m *hierarchy.Machine) {
		s.Peers = m.Len()
		s.Mode, s.Role = m.Mode().String(), m.Role().String()
		s.Group = len(m.Group())
		for _, c := range m.Representatives() {
			s.Representatives = append(s.Representatives, api.Contact{ID: c.ID, Addr: c.Addr.String()})
		}
		if r := m.Routing(); r != nil {
			for _, b := range r.Buckets() {
				s.Buckets = append(s.Buckets, api.Bucket{Index: b.Index, Contacts: b.Contacts, Replacements: b.Replacements})
			}
		}
	})
	return s
}

func (n *Node) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) servePeers(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	peers := []api.Peer{}
	for _, p := range n.Peers() {
		peers = append(peers, api.Peer{
			ID:       p.ID,
			Addr:     p.Addr.String(),
			Bucket:   p.Bucket,
			RTTMs:    float64(p.RTT) / float64(time.Millisecond),
			Uptime:   now.Sub(p.FirstSeen).Seconds(),
			LastAgo:  now.Sub(p.LastSeen).Seconds(),
			Failures: p.Failures,
		})
	}
	writeJSON(w, http.StatusOK, peers)
}

func (n *Node) serveLookup(w http.ResponseWriter, r *http.Request) {
	var req api.LookupRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid lookup request: %v", err))
		return
	}
	if req.Target.IsZero() {
		writeError(w, http.StatusBadRequest, errors.New("lookup request has no target"))
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	res, err := n.Lookup(ctx, req.Target)
	if err != nil {
		writeError(w, http.StatusGatewayTimeout, err)
		return
	}
	writeJSON(w, http.StatusOK, lookupResult(res))
}

func lookupResult(res *kademlia.LookupResult) api.LookupResult {
	out := api.LookupResult{
		Target:     res.Target,
		Closest:    []api.Contact{},
		Hops:       res.Hops,
		Queried:    res.Queried,
		Failed:     res.Failed,
		DurationMs: float64(res.Finished.Sub(res.Started)) / float64(time.Millisecond),
	}
	for _, c := range res.Closest {
		out.Closest = append(out.Closest, api.Contact{
			ID:       c.ID,
			Addr:     c.Addr.String(),
			Distance: identity.Xor(c.ID, res.Target).String(),
		})
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: err.Error()})
}

// jsonBodyTimeout bounds how long a client may take to send a JSON body,
// so a slow client cannot hold a connection open indefinitely.
const jsonBodyTimeout = 10 * time.Second

// decodeJSON reads exactly one JSON value of at most maxRequestBody bytes
// into v, rejecting unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(jsonBodyTimeout))
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// jsonErrors answers requests that match no route with a JSON error body,
// as every other error of the API has, instead of the mux's plain text.
func jsonErrors(h http.Handler) http.Handler {
	mux, ok := h.(*http.ServeMux)
	if !ok {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if rec.code/100 == 3 {
			// A redirect to the cleaned path, which clients follow.
			mux.ServeHTTP(w, r)
			return
		}
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		code := rec.code
		if code == 0 || code/100 == 2 {
			code = http.StatusNotFound
		}
		writeError(w, code, fmt.Errorf("%s %s: %s", r.Method, r.URL.Path, strings.ToLower(http.StatusText(code))))
	})
}

// statusRecorder captures the status and headers of a response it drops.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.code = code }

// writeFileAtomic replaces path with data so readers never see half a file.
// Each call writes its own temporary file, so two goroutines replacing one
// path at once leave one whole version, never a mix of both.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("node: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("node: install %s: %w", path, err)
	}
	return nil
}
