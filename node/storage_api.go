package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
)

// valueBuffer is how much of a value a read holds back before it sends
// the response headers. A value that fits is sent with exact headers and
// Content-Length; a larger one streams, and its metadata follows in
// trailers.
const valueBuffer = 64 << 10

// storageRoutes adds the store's endpoints to mux.
func (n *Node) storageRoutes(mux *http.ServeMux) {
	records := api.PathNamespaces + "{ns}/records"
	mux.HandleFunc("PUT "+records+"/{key...}", n.servePut)
	mux.HandleFunc("GET "+records+"/{key...}", n.serveGet)
	mux.HandleFunc("DELETE "+records+"/{key...}", n.serveDelete)
	mux.HandleFunc("GET "+records, n.serveList)
	mux.HandleFunc("POST "+api.PathNamespaces+"{ns}/batch", n.serveBatch)
	mux.HandleFunc("POST "+api.PathNamespaces+"{ns}/read", n.serveReadBatch)
	mux.HandleFunc("POST "+api.PathNamespaces+"{ns}/grants", n.serveGrant)
	mux.HandleFunc("DELETE "+api.PathNamespaces+"{ns}/grants", n.serveGrant)
	mux.HandleFunc("GET "+api.PathNamespaces+"{ns}/grants/{id}", n.serveGrantTask)
	mux.HandleFunc("PUT "+api.PathNamespaces+"{ns}/placement", n.servePlacement)
	mux.HandleFunc("POST "+api.PathUsers, n.serveCreateUser)
	mux.HandleFunc("GET "+api.PathUsers, n.serveUsers)
	mux.HandleFunc("GET "+api.PathStorage, n.serveStorageStats)
	mux.HandleFunc("POST "+api.PathRepair, n.serveRepair)
}

// storeCall is the parsed part every store request shares.
type storeCall struct {
	gw        store.Gateway
	user      string
	namespace string
	key       string
}

// startCall reads the user, namespace and key of a store request. On
// failure it writes the error response and returns false.
func (n *Node) startCall(w http.ResponseWriter, r *http.Request) (storeCall, bool) {
	c := storeCall{
		gw:        n.storage.store,
		user:      r.Header.Get(api.HeaderUser),
		namespace: r.PathValue("ns"),
		key:       r.PathValue("key"),
	}
	if c.user == "" {
		c.user = api.DefaultUser
	}
	if err := api.ValidateUserName(c.user); err != nil {
		n.writeStoreError(w, r, fmt.Errorf("header %s: %w", api.HeaderUser, err))
		return c, false
	}
	return c, true
}

func (n *Node) servePut(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	opts := store.PutOptions{ContentType: r.Header.Get("Content-Type"), Size: r.ContentLength}
	info, err := c.gw.Put(r.Context(), c.user, c.namespace, c.key, r.Body, opts)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiRecord(info))
}

func (n *Node) serveGet(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	vw := &valueWriter{w: w}
	info, err := c.gw.Get(r.Context(), c.user, c.namespace, c.key, vw, store.GetOptions{})
	if err == nil {
		vw.finish(info)
		return
	}
	if !vw.sent {
		n.writeStoreError(w, r, err)
		return
	}

	// The status line has gone out, so the only way left to tell the
	// client is to break the response. The client then receives an
	// incomplete body rather than a short value that looks whole.
	n.log.Warn("record read failed while streaming", "namespace", c.namespace, "key", c.key,
		"user", c.user, "sent_bytes", vw.written, "err", err)
	panic(http.ErrAbortHandler)
}

// valueWriter sends a record's value. It holds back the first valueBuffer
// bytes, so that a small value goes out with its metadata in headers. A
// larger value commits the response and streams, and its metadata follows
// in trailers.
type valueWriter struct {
	w       http.ResponseWriter
	buf     bytes.Buffer
	sent    bool // the status line and headers went out
	written int64
}

func (v *valueWriter) Write(p []byte) (int, error) {
	if !v.sent && v.buf.Len()+len(p) <= valueBuffer {
		return v.buf.Write(p)
	}
	if !v.sent {
		v.startStream()
	}
	n, err := v.w.Write(p)
	v.written += int64(n)
	return n, err
}

// startStream sends the status line, declaring the metadata headers as
// trailers, and the held-back bytes.
func (v *valueWriter) startStream() {
	h := v.w.Header()
	h.Set("Trailer", strings.Join(slices.Concat(api.RecordHeaders, []string{api.HeaderContentType}), ", "))
	h.Set("Content-Type", "application/octet-stream")
	v.w.WriteHeader(http.StatusOK)
	v.sent = true
	n, _ := v.w.Write(v.buf.Bytes())
	v.written += int64(n)
	v.buf = bytes.Buffer{}
}

// finish completes a read that succeeded.
func (v *valueWriter) finish(info *store.RecordInfo) {
	h := v.w.Header()
	setRecordHeaders(h, info)
	if v.sent {
		// Headers set after the body are sent as the declared trailers.
		h.Set(api.HeaderContentType, info.ContentType)
		return
	}
	if info.ContentType != "" {
		h.Set("Content-Type", info.ContentType)
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Content-Length", strconv.Itoa(v.buf.Len()))
	v.w.WriteHeader(http.StatusOK)
	v.w.Write(v.buf.Bytes())
}

func setRecordHeaders(h http.Header, info *store.RecordInfo) {
	h.Set(api.HeaderVersion, strconv.FormatUint(info.Version, 10))
	h.Set(api.HeaderSize, strconv.FormatUint(info.Size, 10))
	h.Set(api.HeaderOwner, info.Owner)
	h.Set(api.HeaderWriter, info.Writer)
	h.Set(api.HeaderCreated, info.Created.UTC().Format(time.RFC3339Nano))
	h.Set(api.HeaderModified, info.Modified.UTC().Format(time.RFC3339Nano))
	h.Set(api.HeaderChunks, strconv.Itoa(info.Chunks))
}

func (n *Node) serveDelete(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	if err := deleteRecord(r.Context(), c.gw, c.user, c.namespace, c.key); err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (n *Node) serveList(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	infos, err := c.gw.List(r.Context(), c.user, c.namespace, r.URL.Query().Get("prefix"))
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	list := api.RecordList{Records: make([]api.Record, 0, len(infos))}
	for i := range infos {
		list.Records = append(list.Records, apiRecord(&infos[i]))
	}
	writeJSON(w, http.StatusOK, list)
}

func (n *Node) serveBatch(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	records, err := readBatch(http.MaxBytesReader(w, r.Body, api.MaxBatchBody))
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	infos, err := c.gw.PutBatch(r.Context(), c.user, c.namespace, records)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	res := api.BatchResult{Records: make([]api.Record, 0, len(infos))}
	for i := range infos {
		res.Records = append(res.Records, apiRecord(&infos[i]))
	}
	writeJSON(w, http.StatusOK, res)
}

// readBatch decodes a batch body: one api.BatchLine per line, blank lines
// ignored. An error names the line.
func readBatch(body interface{ Read([]byte) (int, error) }) ([]store.BatchRecord, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), api.MaxBatchLine)
	var records []store.BatchRecord
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if len(records) == api.MaxBatchRecords {
			return nil, fmt.Errorf("%w: batch has more than %d records; split it", api.ErrInvalid, api.MaxBatchRecords)
		}
		rec, err := decodeBatchLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: batch line %d: %v", api.ErrInvalid, line, err)
		}
		records = append(records, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, batchReadError(err)
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: batch is empty; send one JSON object per line", api.ErrInvalid)
	}
	return records, nil
}

func decodeBatchLine(text []byte) (store.BatchRecord, error) {
	var l api.BatchLine
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return store.BatchRecord{}, err
	}
	if dec.More() {
		return store.BatchRecord{}, errors.New("more than one JSON value on the line")
	}
	value, err := l.Bytes()
	if err != nil {
		return store.BatchRecord{}, err
	}
	return store.BatchRecord{Key: l.Key, Value: value, ContentType: l.ContentType}, nil
}

func batchReadError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: batch body exceeds %d bytes; split it", api.ErrInvalid, api.MaxBatchBody)
	case errors.Is(err, bufio.ErrTooLong):
		return fmt.Errorf("%w: a batch line exceeds %d bytes; write large values one by one", api.ErrInvalid, api.MaxBatchLine)
	}
	return fmt.Errorf("node: read batch body: %w", err)
}

// servePlacement sets where a namespace's chunks are stored, creating the
// namespace if it does not exist.
func (n *Node) servePlacement(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	var req api.Placement
	if err := decodeJSONBody(w, r, &req); err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	p, err := store.ParsePlacement(req.Placement)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	if err := n.storage.store.SetPlacement(r.Context(), c.user, c.namespace, p); err != nil {
		if errors.Is(err, store.ErrForbidden) {
			// No grant makes a user an owner, so the usual fix does not apply.
			writeJSON(w, http.StatusForbidden, api.StoreError{Error: err.Error(), Code: api.CodeForbidden,
				Fix: "run the command as an owner of the namespace with --user"})
			return
		}
		n.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseGrant checks a grant's right and the grantee's public keys.
func parseGrant(g *api.Grant) (store.Right, store.PublicUser, error) {
	var right store.Right
	switch g.Right {
	case api.RightRead:
		right = store.Read
	case api.RightWrite:
		right = store.Write
	default:
		return "", store.PublicUser{}, fmt.Errorf("%w: right %q: want read or write", api.ErrInvalid, g.Right)
	}
	if _, err := seal.ParsePublicKeys(g.PublicKeys); err != nil {
		return "", store.PublicUser{}, fmt.Errorf("%w: public keys of user %q: %v; copy them from 'yui user show %s' on the user's node",
			api.ErrInvalid, g.User, err, g.User)
	}
	return right, store.PublicUser{Name: g.User, Keys: g.PublicKeys}, nil
}

func (n *Node) serveCreateUser(w http.ResponseWriter, r *http.Request) {
	var req api.CreateUser
	if err := decodeJSONBody(w, r, &req); err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	if err := api.ValidateUserName(req.Name); err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	pub, err := n.storage.store.CreateUser(req.Name)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiUser(pub))
}

func (n *Node) serveUsers(w http.ResponseWriter, r *http.Request) {
	names, err := n.storage.store.Users()
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	users := make([]api.User, 0, len(names))
	for _, name := range names {
		pub, err := n.storage.store.PublicUser(name)
		if err != nil {
			n.writeStoreError(w, r, err)
			return
		}
		users = append(users, apiUser(pub))
	}
	writeJSON(w, http.StatusOK, users)
}

// apiUser returns the API view of a user: its name, public keys and
// their fingerprint.
func apiUser(p store.PublicUser) api.User {
	return api.User{Name: p.Name, PublicKeys: p.Keys, Fingerprint: api.KeyFingerprint(p.Keys)}
}

func (n *Node) serveStorageStats(w http.ResponseWriter, r *http.Request) {
	st := n.storage.holder.Stats()
	writeJSON(w, http.StatusOK, api.StorageStats{
		Tier:           st.Tier.String(),
		ShardsHeld:     st.ShardsHeld,
		ShardBytes:     st.ShardBytes,
		MetaEntries:    st.MetaEntries,
		MetaBytes:      st.MetaBytes,
		ShardsWritten:  st.ShardsWritten,
		RecordsWritten: st.RecordsWritten,
		CorruptShards:  st.CorruptShards,
		RepairsDone:    st.RepairsDone,
		RepairBytes:    st.RepairBytes,
		Rejected:       st.Rejected,
	})
}

func (n *Node) serveRepair(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rep, indexRep, err := n.repair(r.Context(), false)
	if err != nil {
		n.writeStoreError(w, r, fmt.Errorf("node: repair pass: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, api.RepairReport{
		Namespaces:        rep.Namespaces,
		Directories:       rep.Directories,
		RecordsPushed:     rep.RecordsPushed,
		RecordsPulled:     rep.RecordsPulled,
		HandedOver:        rep.HandedOver,
		Chunks:            rep.Chunks,
		ShardsRebuilt:     rep.ShardsRebuilt,
		ShardsMoved:       rep.ShardsMoved,
		ShardsDropped:     rep.ShardsDropped,
		WrongShards:       rep.WrongShards,
		Lookups:           rep.Lookups,
		ChunksLost:        rep.ChunksLost,
		BytesSent:         rep.BytesSent,
		TombstonesDropped: rep.TombstonesDropped,
		CorruptDropped:    rep.CorruptDropped,
		Errors:            rep.Errors,
		IndexPartitions:   indexRep.Partitions,
		IndexPostingsSent: indexRep.PostingsSent,
		IndexErrors:       indexRep.Errors,
		DurationMs:        float64(time.Since(start)) / float64(time.Millisecond),
	})
}

// decodeJSONBody decodes one JSON value of at most api.MaxJSONBody bytes
// and rejects unknown fields.
func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, api.MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("%w: request body exceeds %d bytes", api.ErrInvalid, api.MaxJSONBody)
		}
		return fmt.Errorf("%w: request body: %v", api.ErrInvalid, err)
	}
	return nil
}

// storeErrorClass maps an error to its HTTP status, API code and fix.
type storeErrorClass struct {
	target error
	status int
	code   string
	fix    string
}

var storeErrorClasses = []storeErrorClass{
	{store.ErrDeleted, http.StatusNotFound, api.CodeNotFound,
		"the record was deleted; write it again to restore it"},
	{store.ErrNoNamespace, http.StatusNotFound, api.CodeNotFound,
		"check the namespace's name; a namespace exists once its owner writes to it ('yui put', 'yui import' or 'yui namespace')"},
	{store.ErrNotFound, http.StatusNotFound, api.CodeNotFound,
		"check the namespace and key; 'yui ls NAMESPACE' lists the keys"},
	{store.ErrForbidden, http.StatusForbidden, api.CodeForbidden,
		"ask the namespace's owner to grant you the right ('yui grant'), or pick another user with --user"},
	{store.ErrInvalid, http.StatusBadRequest, api.CodeInvalid, ""},
	{api.ErrInvalid, http.StatusBadRequest, api.CodeInvalid, ""},
	{seal.ErrInvalidName, http.StatusBadRequest, api.CodeInvalid, ""},
	{io.ErrUnexpectedEOF, http.StatusBadRequest, api.CodeInvalid,
		"the request body ended before its Content-Length; send the whole value"},
	{store.ErrUnknownUser, http.StatusBadRequest, api.CodeInvalid,
		"run 'yui user create NAME', or pick another user with --user"},
	{fs.ErrExist, http.StatusConflict, api.CodeExists, "pick another name"},
	{store.ErrUnavailable, http.StatusServiceUnavailable, api.CodeUnavailable,
		"too few nodes answered to keep the namespace's redundancy; start more nodes or retry later"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, api.CodeUnavailable,
		"the network is slow or partitioned; retry later"},
	{context.Canceled, http.StatusServiceUnavailable, api.CodeUnavailable,
		"the request was cancelled before it finished"},
	{store.ErrCorrupt, http.StatusInternalServerError, api.CodeCorrupt,
		"every copy failed verification, so the value cannot be read; write it again"},
}

// writeStoreError writes err as a StoreError response. Server-side
// failures are logged, because the client may not report them, unless
// the client has gone away.
func (n *Node) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	class := classifyStoreError(err)
	if class.status >= 500 && r.Context().Err() == nil {
		n.log.Warn("store request failed", "method", r.Method, "path", r.URL.Path,
			"user", r.Header.Get(api.HeaderUser), "status", class.status, "err", err)
	}
	writeJSON(w, class.status, api.StoreError{Error: err.Error(), Code: class.code, Fix: class.fix})
}

// classifyStoreError returns the class of the first of storeErrorClasses
// that err matches, or an internal error.
func classifyStoreError(err error) storeErrorClass {
	for _, c := range storeErrorClasses {
		if errors.Is(err, c.target) {
			return c
		}
	}
	return storeErrorClass{status: http.StatusInternalServerError, code: api.CodeInternal,
		fix: "the node's log has the details"}
}

// storeErrorBody describes err as a response body does.
func storeErrorBody(err error) *api.StoreError {
	class := classifyStoreError(err)
	return &api.StoreError{Error: err.Error(), Code: class.code, Fix: class.fix}
}

func apiRecord(info *store.RecordInfo) api.Record {
	return api.Record{
		Namespace:   info.Namespace,
		Key:         info.Key,
		Version:     info.Version,
		Size:        info.Size,
		ContentType: info.ContentType,
		Owner:       info.Owner,
		Writer:      info.Writer,
		Created:     info.Created,
		Modified:    info.Modified,
		Chunks:      info.Chunks,
	}
}
