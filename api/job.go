package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Job endpoints:
//
//	POST   /v1/ns/{ns}/jobs   submit a job over the namespace's readings (JobRequest; JobInfo)
//	GET    /v1/jobs           list the jobs submitted through this node ([]JobInfo)
//	GET    /v1/jobs/{id}      a job's progress, and its result once done (JobStatus)
//	DELETE /v1/jobs/{id}      cancel a job (JobStatus)
//
// A job runs on many nodes: the submitting node cuts the namespace's
// matching segments into units, a manager node hands them to workers,
// and the workers read the segments and return partial aggregates.
const PathJobs = "/v1/jobs"

// JobsPath returns the submit endpoint of a namespace.
func JobsPath(namespace string) string {
	return PathNamespaces + url.PathEscape(namespace) + "/jobs"
}

// JobPath returns the endpoint of one job.
func JobPath(id string) string { return PathJobs + "/" + url.PathEscape(id) }

// JobRequest is a job: the readings a QueryRequest's conditions select
// (Limit, Near and Aggregates unused), the aggregates to compute, how to
// group them, and how many workers must agree on each unit.
type JobRequest struct {
	Query QueryRequest `json:"query"`
	// Aggregates names some of count, sum, min, max, mean, histogram
	// and percentiles such as p50 or p99.9 (nearest rank: the value of
	// rank ceil(p/100 × count) in increasing order).
	Aggregates []string `json:"aggregates"`
	// By groups by a comma-separated set of "sensor", "cell" and one of
	// "hour" and "day"; empty means one group.
	By string `json:"by,omitempty"`
	// Histograms are the bucket edges of the histogram aggregate, one
	// entry per field; an entry with no field covers every other field.
	Histograms []HistogramEdges `json:"histograms,omitempty"`
	// CellSize is the side of a location cell when By has "cell":
	// degrees for geo locations, metres for plane ones. 0 means 0.01
	// degrees and 10 metres.
	CellSize float64 `json:"cell_size,omitempty"`
	// Verify is how many distinct workers must return equal results for
	// a unit; 0 or 1 means one. A sealed job whose page sums are stored
	// compares digests of the sums each worker stored instead.
	Verify int `json:"verify,omitempty"`
	// SegmentsPerUnit is how many stored segments one unit reads; 0
	// means the node's default.
	SegmentsPerUnit int `json:"segments_per_unit,omitempty"`
	// Reader is the user each worker node reads the segments as; empty
	// means each worker's "default" user. The namespace's owner must
	// have granted it read access.
	Reader string `json:"reader,omitempty"`
	// Module is the key of a WebAssembly map or filter step stored in the
	// namespace, which each worker runs on its units' readings before
	// aggregating them; ModuleArgs are its arguments.
	Module     string   `json:"module,omitempty"`
	ModuleArgs []string `json:"module_args,omitempty"`
	// Encrypted runs the job over BGV ciphertexts: workers add values
	// they cannot read, and only this node decrypts the result. It
	// computes count, sum and mean. Scale is the fixed-point scale of the
	// values, 0 meaning 100 (two decimals).
	Encrypted bool  `json:"encrypted,omitempty"`
	Scale     int64 `json:"scale,omitempty"`
}

// HistogramEdges are the bucket edges of one field's histogram, in
// increasing order.
type HistogramEdges struct {
	Field string    `json:"field,omitempty"`
	Edges []float64 `json:"edges"`
}

// Histogram is a field's histogram: Counts has one more entry than
// Edges. Counts[0] is the values below Edges[0], Counts[i] those in
// [Edges[i-1], Edges[i]), and the last those at or above the last edge.
type Histogram struct {
	Edges  []float64 `json:"edges"`
	Counts []int64   `json:"counts"`
}

// Cell is a square of the grid a job groups locations by. Kind is "geo"
// or "plane"; Size is its side in degrees (geo) or metres (plane); Min
// is its lowest corner: latitude and longitude for geo, x and y for
// plane. Column and Row number it: floor(lon/Size) and floor(lat/Size),
// or floor(x/Size) and floor(y/Size).
type Cell struct {
	Kind   string     `json:"kind"`
	Size   float64    `json:"size"`
	Min    [2]float64 `json:"min"`
	Column int64      `json:"column"`
	Row    int64      `json:"row"`
}

// JobInfo names a submitted job.
type JobInfo struct {
	ID        string    `json:"id"`
	Namespace string    `json:"namespace,omitempty"`
	User      string    `json:"user,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Manager   string    `json:"manager,omitempty"`
	Backup    string    `json:"backup,omitempty"`
	// State is "running", "done" or "canceled" as the submitting node last
	// saw it, or "unknown" for a job read back from its record after a
	// restart before it ended.
	State string `json:"state,omitempty"`
}

// JobStatus is a job's progress. Groups hold the result once Done.
type JobStatus struct {
	ID string `json:"id"`
	// Epoch is the manager's epoch: it rises each time a backup takes
	// over.
	Epoch     uint64 `json:"epoch"`
	Units     int    `json:"units"`
	Committed int    `json:"committed"`
	Failed    int    `json:"failed"`
	Workers   int    `json:"workers"`
	Done      bool   `json:"done"`
	Canceled  bool   `json:"canceled,omitempty"`
	Error     string `json:"error,omitempty"`
	// LeftOut counts the workers left out of the job for a while after
	// failing units in a row, such as nodes whose reader lacks a grant,
	// and LeftOutError is the last one's error.
	LeftOut      int    `json:"left_out,omitempty"`
	LeftOutError string `json:"left_out_error,omitempty"`
	// FailedError is the failure reason of the lowest failed unit, such
	// as the error of its last run or the workers whose results
	// disagreed.
	FailedError string           `json:"failed_error,omitempty"`
	Groups      []AggregateGroup `json:"groups,omitempty"`
	// Locality counts the committed units' input bytes by place.
	Locality *JobLocality `json:"locality,omitempty"`
}

// JobLocality counts a job's input bytes by where they were read.
type JobLocality struct {
	// Cluster bytes were read by a worker in the data's location cell,
	// Remote bytes by one outside it, and Unknown bytes where the worker
	// or the data had no cell. Held bytes, counted in those three too,
	// were read on a node that stores them.
	Cluster uint64 `json:"cluster_bytes"`
	Remote  uint64 `json:"remote_bytes"`
	Unknown uint64 `json:"unknown_bytes"`
	Held    uint64 `json:"held_bytes"`
	// InClusterShare is Cluster over Cluster + Remote + Unknown, the
	// share of bytes that stayed inside their cluster, 0 to 1.
	InClusterShare float64 `json:"in_cluster_share"`
	// HeldShare is Held over the same total, the share of bytes read on
	// a node that stores them, 0 to 1.
	HeldShare float64 `json:"held_share"`
}

// SubmitJob submits a job over a namespace on behalf of user.
func (c *Client) SubmitJob(ctx context.Context, user, namespace string, j JobRequest) (*JobInfo, error) {
	body, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("api: encode job: %w", err)
	}
	req, err := c.newStoreRequest(ctx, http.MethodPost, JobsPath(namespace), user, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var info JobInfo
	return &info, c.doStoreJSON(req, &info)
}

// Job returns a job's progress and, once done, its result.
func (c *Client) Job(ctx context.Context, id string) (*JobStatus, error) {
	req, err := c.newStoreRequest(ctx, http.MethodGet, JobPath(id), "", nil)
	if err != nil {
		return nil, err
	}
	var st JobStatus
	return &st, c.doStoreJSON(req, &st)
}

// Jobs lists the jobs submitted through the node.
func (c *Client) Jobs(ctx context.Context) ([]JobInfo, error) {
	jobs, _, err := c.JobList(ctx)
	return jobs, err
}

// HeaderIncomplete, on a job list, says why the list may leave jobs out.
const HeaderIncomplete = "X-Yui-Incomplete"

// JobList lists the jobs submitted through the node, and a reason when
// the list may be incomplete, such as job records the node could not
// read yet; the reason is empty otherwise.
func (c *Client) JobList(ctx context.Context) ([]JobInfo, string, error) {
	req, err := c.newStoreRequest(ctx, http.MethodGet, PathJobs, "", nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.sendStore(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var out []JobInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(&out); err != nil {
		return nil, "", fmt.Errorf("api: decode %s %s response: %w", req.Method, req.URL.Path, err)
	}
	return out, resp.Header.Get(HeaderIncomplete), nil
}

// CancelJob stops a job.
func (c *Client) CancelJob(ctx context.Context, id string) (*JobStatus, error) {
	req, err := c.newStoreRequest(ctx, http.MethodDelete, JobPath(id), "", nil)
	if err != nil {
		return nil, err
	}
	var st JobStatus
	return &st, c.doStoreJSON(req, &st)
}

// SealPath returns the endpoint that seals a namespace:
//
//	POST /v1/ns/{ns}/seal   store numeric fields also as BGV ciphertexts at ingest (SealRequest; SealInfo)
func SealPath(namespace string) string {
	return PathNamespaces + url.PathEscape(namespace) + "/seal"
}

// SealRequest sets a namespace up so that every later write also stores
// the numeric fields of each segment as one BGV ciphertext under the
// calling user's public key, for encrypted jobs that never read the
// plaintext.
type SealRequest struct {
	// Scale is the fixed-point scale: a value v is stored as round(v ×
	// Scale), and a value with more decimals is rejected. 0 means 100.
	Scale int64 `json:"scale,omitempty"`
	// Max is the largest magnitude a value may have; larger ones are
	// rejected. 0 means 10,000.
	Max int64 `json:"max,omitempty"`
}

// SealInfo is a sealed namespace's setting.
type SealInfo struct {
	Namespace string `json:"namespace"`
	// Owner is the user whose BGV key encrypts the values and who alone
	// can decrypt job results.
	Owner string `json:"owner"`
	Scale int64  `json:"scale"`
	Max   int64  `json:"max"`
}

// SealNamespace seals a namespace on behalf of user.
func (c *Client) SealNamespace(ctx context.Context, user, namespace string, s SealRequest) (*SealInfo, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("api: encode seal request: %w", err)
	}
	req, err := c.newStoreRequest(ctx, http.MethodPost, SealPath(namespace), user, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var info SealInfo
	return &info, c.doStoreJSON(req, &info)
}
