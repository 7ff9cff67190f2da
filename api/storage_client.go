package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxErrorBody bounds how much of a failed response's body the client
// reads.
const maxErrorBody = 64 << 10

// StatusError is a failed store or user request as the node reported it.
// It unwraps to the sentinel of its code, such as ErrNotFound.
type StatusError struct {
	Method, Path string
	// Status is the HTTP status code.
	Status  int
	Code    string
	Message string
	Fix     string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("api: %s %s: %s", e.Method, e.Path, http.StatusText(e.Status))
	}
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// Unwrap returns the sentinel error of e's code, or nil for an unknown
// code.
func (e *StatusError) Unwrap() error { return codeErrors[e.Code] }

// PutRecord writes value under key, streaming it to the node. Size is the
// value's length, or -1 if unknown. User names the node's local user; ""
// selects DefaultUser.
func (c *Client) PutRecord(ctx context.Context, user, namespace, key string, value io.Reader, size int64, contentType string) (*Record, error) {
	req, err := c.newStoreRequest(ctx, http.MethodPut, RecordPath(namespace, key), user, value)
	if err != nil {
		return nil, err
	}
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	var rec Record
	return &rec, c.doStoreJSON(req, &rec)
}

// GetRecord reads a record's value into w and returns its metadata. A
// stream that ends early fails with ErrInterrupted; what was written to w
// by then is incomplete.
func (c *Client) GetRecord(ctx context.Context, user, namespace, key string, w io.Writer) (*Record, error) {
	req, err := c.newStoreRequest(ctx, http.MethodGet, RecordPath(namespace, key), user, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.sendStore(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	n, err := io.Copy(w, readErrorTagger{resp.Body})
	if err != nil {
		var re readError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: %s after %d bytes: %v", ErrInterrupted, req.URL.Path, n, re.err)
		}
		return nil, fmt.Errorf("api: write value of %s: %w", key, err)
	}

	rec, err := recordFromHeaders(namespace, key, resp)
	if err != nil {
		return nil, err
	}
	if rec.Size != uint64(n) {
		return nil, fmt.Errorf("%w: %s: received %d bytes, record has %d", ErrInterrupted, req.URL.Path, n, rec.Size)
	}
	return rec, nil
}

// DeleteRecord deletes a record.
func (c *Client) DeleteRecord(ctx context.Context, user, namespace, key string) error {
	req, err := c.newStoreRequest(ctx, http.MethodDelete, RecordPath(namespace, key), user, nil)
	if err != nil {
		return err
	}
	return c.doStoreJSON(req, nil)
}

// ListRecords lists a namespace's records whose keys start with prefix.
func (c *Client) ListRecords(ctx context.Context, user, namespace, prefix string) ([]Record, error) {
	path := PathNamespaces + url.PathEscape(namespace) + "/records"
	if prefix != "" {
		path += "?prefix=" + url.QueryEscape(prefix)
	}
	req, err := c.newStoreRequest(ctx, http.MethodGet, path, user, nil)
	if err != nil {
		return nil, err
	}
	var list RecordList
	return list.Records, c.doStoreJSON(req, &list)
}

// PutBatch writes many small records of one namespace in one request.
// The result lists one record per line, in order.
func (c *Client) PutBatch(ctx context.Context, user, namespace string, lines []BatchLine) ([]Record, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			return nil, fmt.Errorf("api: encode batch line of key %q: %w", lines[i].Key, err)
		}
	}
	if body.Len() > MaxBatchBody {
		return nil, fmt.Errorf("%w: batch of %d records is %d bytes, limit %d; split it",
			ErrInvalid, len(lines), body.Len(), MaxBatchBody)
	}

	path := PathNamespaces + url.PathEscape(namespace) + "/batch"
	req, err := c.newStoreRequest(ctx, http.MethodPost, path, user, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/jsonl")
	var res BatchResult
	return res.Records, c.doStoreJSON(req, &res)
}

// Grant gives a user a right to a key or prefix of a namespace that user
// owns, and for read access waits until the node has re-wrapped the keys
// of the records that exist already.
func (c *Client) Grant(ctx context.Context, owner, namespace string, g Grant) error {
	task, err := c.StartGrant(ctx, owner, namespace, g)
	if err != nil {
		return err
	}
	_, err = c.WaitGrant(ctx, owner, task, nil)
	return err
}

// StartGrant gives a user a right as Grant does, but returns as soon as
// the access is changed. The returned task is still running while the
// node re-wraps existing records for a new reader.
func (c *Client) StartGrant(ctx context.Context, owner, namespace string, g Grant) (*GrantTask, error) {
	return c.sendGrant(ctx, http.MethodPost, owner, namespace, g)
}

// Revoke takes a right away again, for versions written afterwards.
func (c *Client) Revoke(ctx context.Context, owner, namespace string, g Grant) error {
	_, err := c.sendGrant(ctx, http.MethodDelete, owner, namespace, g)
	return err
}

func (c *Client) sendGrant(ctx context.Context, method, owner, namespace string, g Grant) (*GrantTask, error) {
	body, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("api: encode grant: %w", err)
	}
	path := PathNamespaces + url.PathEscape(namespace) + "/grants"
	req, err := c.newStoreRequest(ctx, method, path, owner, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var task GrantTask
	if err := c.doStoreJSON(req, &task); err != nil {
		return nil, err
	}
	return &task, nil
}

// GrantTask returns the current state of a grant task that owner
// started on this node.
func (c *Client) GrantTask(ctx context.Context, owner, namespace, id string) (*GrantTask, error) {
	path := PathNamespaces + url.PathEscape(namespace) + "/grants/" + url.PathEscape(id)
	req, err := c.newStoreRequest(ctx, http.MethodGet, path, owner, nil)
	if err != nil {
		return nil, err
	}
	var task GrantTask
	if err := c.doStoreJSON(req, &task); err != nil {
		return nil, err
	}
	return &task, nil
}

// grantPoll is how often WaitGrant requests a running task's state.
const grantPoll = 250 * time.Millisecond

// WaitGrant requests the state of task until it ends or ctx does, and
// calls progress, if not nil, with each state it receives. A failed
// task returns ErrUnavailable with the node's error and fix. When ctx
// ends first, the node carries on with the task.
func (c *Client) WaitGrant(ctx context.Context, owner string, task *GrantTask, progress func(*GrantTask)) (*GrantTask, error) {
	for task.State == GrantRunning {
		if progress != nil {
			progress(task)
		}
		select {
		case <-ctx.Done():
			return task, fmt.Errorf("api: stopped waiting for the grant on %q to user %q after %d of %d records: %w",
				task.Namespace, task.User, task.Rewrapped, task.Total, ctx.Err())
		case <-time.After(grantPoll):
		}
		next, err := c.GrantTask(ctx, owner, task.Namespace, task.ID)
		if err != nil {
			return task, err
		}
		task = next
	}
	if progress != nil {
		progress(task)
	}
	if task.State == GrantFailed {
		return task, fmt.Errorf("%w: %s; %s", ErrUnavailable, task.Error, task.Fix)
	}
	return task, nil
}

// SetPlacement sets where a namespace's chunks are stored from now on,
// creating the namespace with owner as its owner if it does not exist.
func (c *Client) SetPlacement(ctx context.Context, owner, namespace, placement string) error {
	body, err := json.Marshal(Placement{Placement: placement})
	if err != nil {
		return fmt.Errorf("api: encode placement: %w", err)
	}
	path := PathNamespaces + url.PathEscape(namespace) + "/placement"
	req, err := c.newStoreRequest(ctx, http.MethodPut, path, owner, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.doStoreJSON(req, nil)
}

// CreateUser creates a local user with new keys on the node.
func (c *Client) CreateUser(ctx context.Context, name string) (*User, error) {
	body, err := json.Marshal(CreateUser{Name: name})
	if err != nil {
		return nil, fmt.Errorf("api: encode user request: %w", err)
	}
	req, err := c.newStoreRequest(ctx, http.MethodPost, PathUsers, "", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var u User
	return &u, c.doStoreJSON(req, &u)
}

// Users lists the node's local users.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	req, err := c.newStoreRequest(ctx, http.MethodGet, PathUsers, "", nil)
	if err != nil {
		return nil, err
	}
	var users []User
	return users, c.doStoreJSON(req, &users)
}

// StorageStats returns the node's holder counters.
func (c *Client) StorageStats(ctx context.Context) (*StorageStats, error) {
	req, err := c.newStoreRequest(ctx, http.MethodGet, PathStorage, "", nil)
	if err != nil {
		return nil, err
	}
	var st StorageStats
	return &st, c.doStoreJSON(req, &st)
}

// Repair runs a repair pass on the node now and returns its report. A
// pass already running, such as the node's periodic one, finishes first.
func (c *Client) Repair(ctx context.Context) (*RepairReport, error) {
	req, err := c.newStoreRequest(ctx, http.MethodPost, PathRepair, "", nil)
	if err != nil {
		return nil, err
	}
	var rep RepairReport
	return &rep, c.doStoreJSON(req, &rep)
}

func (c *Client) newStoreRequest(ctx context.Context, method, path, user string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if user != "" {
		req.Header.Set(HeaderUser, user)
	}
	return req, nil
}

// sendStore sends req and returns the response if it succeeded. Values
// may take long to transfer, so the call has no overall timeout of its
// own: the request's context bounds it.
func (c *Client) sendStore(req *http.Request) (*http.Response, error) {
	hc := *c.HTTP
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, fmt.Errorf("api: %s %s: %w", req.Method, req.URL.Path, ctxErr)
		}
		return nil, fmt.Errorf("%w at %s: %v (is 'yui node' running?)", ErrNoNode, c.Base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, statusError(req, resp)
}

func statusError(req *http.Request, resp *http.Response) error {
	e := &StatusError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body StoreError
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message, e.Fix = body.Code, body.Error, body.Fix
	}
	return e
}

// doStoreJSON sends req and decodes a JSON response into out, if out is
// not nil.
func (c *Client) doStoreJSON(req *http.Request, out any) error {
	resp, err := c.sendStore(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxResponse))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("api: decode %s %s response: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// recordFromHeaders reads a record's metadata from the response headers,
// or from its trailers when the node sent them after the value.
func recordFromHeaders(namespace, key string, resp *http.Response) (*Record, error) {
	get := func(name string) string {
		if v := resp.Header.Get(name); v != "" {
			return v
		}
		return resp.Trailer.Get(name)
	}
	rec := &Record{
		Namespace:   namespace,
		Key:         key,
		ContentType: resp.Header.Get("Content-Type"),
		Owner:       get(HeaderOwner),
		Writer:      get(HeaderWriter),
	}
	if _, ok := resp.Trailer[HeaderContentType]; ok {
		rec.ContentType = resp.Trailer.Get(HeaderContentType)
	}
	var err error
	parseUint := func(name string) uint64 {
		v, perr := strconv.ParseUint(get(name), 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("%w: %s: header %s is %q, want a number", ErrInterrupted, resp.Request.URL.Path, name, get(name))
		}
		return v
	}
	rec.Version = parseUint(HeaderVersion)
	rec.Size = parseUint(HeaderSize)
	rec.Chunks = int(parseUint(HeaderChunks))
	rec.Created, _ = time.Parse(time.RFC3339Nano, get(HeaderCreated))
	rec.Modified, _ = time.Parse(time.RFC3339Nano, get(HeaderModified))
	return rec, err
}

// readError marks an error from the response body, as opposed to one
// from the writer the value is copied into.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

type readErrorTagger struct{ r io.Reader }

func (t readErrorTagger) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}
