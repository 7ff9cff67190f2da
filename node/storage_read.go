package node

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/store"
)

// serveReadBatch reads many records of one namespace (api.ReadRequest)
// and returns each value or its error (api.ReadResult).
func (n *Node) serveReadBatch(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	var req api.ReadRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, api.MaxReadBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		n.writeStoreError(w, r, fmt.Errorf("%w: batched read body (at most %d bytes): %v", api.ErrInvalid, api.MaxReadBody, err))
		return
	}
	if len(req.Keys) == 0 || len(req.Keys) > api.MaxReadKeys {
		n.writeStoreError(w, r, fmt.Errorf("%w: batched read names %d keys; send 1 to %d",
			api.ErrInvalid, len(req.Keys), api.MaxReadKeys))
		return
	}
	values, err := c.gw.GetBatch(r.Context(), c.user, c.namespace, req.Keys)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, readResult(req.Keys, values))
}

// readResult converts a batch's values, and turns the records past
// api.MaxReadValues bytes into errors so that the response stays bounded.
func readResult(keys []string, values []store.BatchValue) api.ReadResult {
	res := api.ReadResult{Records: make([]api.ReadValue, len(values))}
	used := 0
	for i, v := range values {
		out := api.ReadValue{Key: keys[i]}
		switch {
		case v.Err != nil:
			out.Error = storeErrorBody(v.Err)
		case used+len(v.Value) > api.MaxReadValues:
			out.Error = &api.StoreError{
				Error: fmt.Sprintf("value of %q not sent: the response reached its limit of %d value bytes", keys[i], api.MaxReadValues),
				Code:  api.CodeInvalid,
				Fix:   "read the remaining keys with another request",
			}
		default:
			used += len(v.Value)
			rec := apiRecord(v.Info)
			out.Record, out.Value = &rec, v.Value
		}
		res.Records[i] = out
	}
	return res
}
