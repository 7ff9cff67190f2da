package node

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
)

// jobRoutes adds the job endpoints to mux.
func (n *Node) jobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathNamespaces+"{ns}/jobs", n.serveJobSubmit)
	mux.HandleFunc("POST "+api.PathNamespaces+"{ns}/seal", n.serveSeal)
	mux.HandleFunc("GET "+api.PathJobs, n.serveJobList)
	mux.HandleFunc("GET "+api.PathJobs+"/{id}", n.serveJobStatus)
	mux.HandleFunc("DELETE "+api.PathJobs+"/{id}", n.serveJobStatus)
}

func (n *Node) serveJobSubmit(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	var req api.JobRequest
	if err := decodeJSONBody(w, r, &req); err != nil {
		n.writeJobError(w, r, err)
		return
	}
	spec, err := jobSpec(c.namespace, &req)
	if err != nil {
		n.writeJobError(w, r, err)
		return
	}
	id, err := n.SubmitJob(r.Context(), c.user, spec, SubmitOptions{SegmentsPerUnit: req.SegmentsPerUnit, ScaleGiven: req.Scale != 0})
	if err != nil {
		n.writeJobError(w, r, err)
		return
	}
	for _, j := range n.Jobs() {
		if j.ID == id {
			writeJSON(w, http.StatusOK, apiJobInfo(j))
			return
		}
	}
	writeJSON(w, http.StatusOK, api.JobInfo{ID: id})
}

func (n *Node) serveSeal(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	var req api.SealRequest
	if err := decodeJSONBody(w, r, &req); err != nil {
		n.writeJobError(w, r, err)
		return
	}
	if req.Scale == 0 {
		req.Scale = defaultScale
	}
	if req.Max == 0 {
		req.Max = defaultSealBound
	}
	cfg, err := n.SealNamespace(r.Context(), c.user, c.namespace, req.Scale, req.Max)
	if err != nil {
		n.writeJobError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.SealInfo{Namespace: c.namespace, Owner: cfg.Owner, Scale: cfg.Scale, Max: cfg.Bound})
}

// jobSpec turns a request into a job spec; SubmitJob checks it.
func jobSpec(ns string, req *api.JobRequest) (job.Spec, error) {
	spec := job.Spec{Namespace: ns, Aggs: req.Aggregates, By: req.By, Verify: req.Verify, Reader: req.Reader,
		Module: req.Module, Args: req.ModuleArgs, Encrypted: req.Encrypted, Scale: encryptedScale(req), CellSize: req.CellSize}
	for _, h := range req.Histograms {
		spec.Histograms = append(spec.Histograms, job.Histogram{Field: h.Field, Edges: h.Edges})
	}
	// Validate checks By itself. The size check stays here, since a spec
	// stored before it may have a size without the grouping.
	if g, err := job.ParseBy(req.By); err == nil && req.CellSize != 0 && !g.PerCell {
		return spec, fmt.Errorf("%w: cell_size %v needs \"cell\" in by, such as \"cell\" or \"cell,hour\"", job.ErrInvalid, req.CellSize)
	}
	if req.Query.Near != nil || req.Query.Limit != 0 || len(req.Query.Aggregates) > 0 {
		return spec, fmt.Errorf("%w: a job's query takes sensor, from, to and where; near, limit and aggregates are not supported there",
			search.ErrInvalidQuery)
	}
	q, err := parseQuery(ns, &req.Query)
	if err != nil {
		return spec, err
	}
	spec.Sensor = q.Sensor
	if !q.From.IsZero() {
		spec.From = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		spec.To = q.To.UnixNano()
	}
	for _, c := range q.Where {
		jc := job.Condition{Field: c.Field, Op: string(c.Op)}
		if x, ok := c.Value.Number(); ok {
			jc.Number = &x
		} else if s, ok := c.Value.Text(); ok {
			jc.Text = &s
		}
		spec.Where = append(spec.Where, jc)
	}
	return spec, nil
}

func (n *Node) serveJobList(w http.ResponseWriter, r *http.Request) {
	if err := n.loadRecords(r.Context()); err != nil {
		n.log.Warn("job records not read; listing the jobs in memory", "err", err)
		// Header values end at a line break.
		reason := strings.ReplaceAll(err.Error(), "\n", "; ")
		w.Header().Set(api.HeaderIncomplete, "job records not read, so jobs submitted before the last restart may be missing: "+reason)
	}
	out := []api.JobInfo{}
	for _, j := range n.Jobs() {
		out = append(out, apiJobInfo(j))
	}
	writeJSON(w, http.StatusOK, out)
}

func apiJobInfo(j jobSummary) api.JobInfo {
	return api.JobInfo{ID: j.ID, Namespace: j.Namespace, User: j.User, Created: j.Created, Manager: j.Manager, Backup: j.Backup,
		State: j.State}
}

// serveJobStatus answers GET with the job's progress and DELETE by
// canceling the job.
func (n *Node) serveJobStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := n.JobStatus(r.Context(), id, r.Method == http.MethodDelete)
	if err != nil {
		n.writeJobError(w, r, err)
		return
	}
	res, err := n.jobStatusResult(id, st)
	if err != nil {
		n.writeJobError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// submittedSpec returns the spec of a job submitted here.
func (n *Node) submittedSpec(id string) *job.Spec {
	n.jobs.mu.Lock()
	defer n.jobs.mu.Unlock()
	if sj := n.jobs.submitted[id]; sj != nil {
		return sj.spec
	}
	return &job.Spec{Aggs: job.Aggregates}
}

func apiJobStatus(st *wire.JobStatus, spec *job.Spec) (api.JobStatus, error) {
	res := api.JobStatus{ID: st.JobID, Epoch: st.Epoch, Units: int(st.Units), Committed: int(st.Committed),
		Failed: int(st.Failed), Workers: int(st.Workers), Done: st.Done, Canceled: st.Canceled, Error: st.Err,
		LeftOut: int(st.LeftOut), LeftOutError: st.LeftOutErr, FailedError: st.FailedErr,
		Locality: apiLocality(st)}
	if len(st.Partial) == 0 {
		return res, nil
	}
	p, err := job.DecodePartial(st.Partial)
	if err != nil {
		return res, err
	}
	var dropped string
	res.Groups, dropped = jobGroups(p, spec)
	if res.Error == "" {
		res.Error = dropped
	}
	return res, nil
}

// writeJobError maps job errors to responses, and the rest through
// writeSearchError.
func (n *Node) writeJobError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, job.ErrInvalid), errors.Is(err, ErrReader), errors.Is(err, ErrSealChange):
		err = fmt.Errorf("%w: %w", api.ErrInvalid, err)
	case errors.Is(err, ErrUnknownJob):
		// The store's fix for a missing record names its keys, not jobs.
		writeJSON(w, http.StatusNotFound, api.StoreError{Error: err.Error(), Code: api.CodeNotFound,
			Fix: "'yui job ls' (GET /v1/jobs) lists the jobs submitted through this node; ask the node the job was submitted to"})
		return
	}
	n.writeSearchError(w, r, err)
}
