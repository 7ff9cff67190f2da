package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Limits of a batched read (POST /v1/ns/{ns}/read).
const (
	// MaxReadKeys bounds the keys of one batched read.
	MaxReadKeys = 4096
	// MaxReadBody bounds the JSON body of a batched read request.
	MaxReadBody = 4 << 20
	// MaxReadValues bounds the value bytes of one batched read response.
	// Records past it get a CodeInvalid error and are read with another
	// request.
	MaxReadValues = 32 << 20
	// maxReadResponse bounds what the client reads of a response: the
	// values in base64 and each record's metadata.
	maxReadResponse = MaxReadValues/3*4 + MaxReadKeys*2048
)

// ReadRequest is the body of a batched read: the keys of one namespace.
type ReadRequest struct {
	Keys []string `json:"keys"`
}

// ReadResult is the response to a batched read: one ReadValue per key,
// in the order of the request.
type ReadResult struct {
	Records []ReadValue `json:"records"`
}

// ReadValue is one key's result in a batched read: the record and its
// value, or the error that reading it returned.
type ReadValue struct {
	Key    string      `json:"key"`
	Record *Record     `json:"record,omitempty"`
	Value  []byte      `json:"value,omitempty"`
	Error  *StoreError `json:"error,omitempty"`
}

// Err returns the value's error, unwrapping to the sentinel of its code
// as a failed request's *StatusError does, or nil.
func (v *ReadValue) Err() error {
	if v.Error == nil {
		return nil
	}
	sentinel, ok := codeErrors[v.Error.Code]
	if !ok {
		return fmt.Errorf("api: read %q: %s", v.Key, v.Error.Error)
	}
	return fmt.Errorf("%w: read %q: %s", sentinel, v.Key, v.Error.Error)
}

// GetBatch reads many records of one namespace with one request. Values
// larger than 64 KiB are not returned; read them with GetRecord.
func (c *Client) GetBatch(ctx context.Context, user, namespace string, keys []string) ([]ReadValue, error) {
	if len(keys) == 0 || len(keys) > MaxReadKeys {
		return nil, fmt.Errorf("%w: batched read of %d keys; send 1 to %d", ErrInvalid, len(keys), MaxReadKeys)
	}
	body, err := json.Marshal(ReadRequest{Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("api: encode batched read: %w", err)
	}
	path := PathNamespaces + url.PathEscape(namespace) + "/read"
	req, err := c.newStoreRequest(ctx, http.MethodPost, path, user, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.sendStore(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res ReadResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReadResponse)).Decode(&res); err != nil {
		return nil, fmt.Errorf("api: decode batched read of %q: %w", namespace, err)
	}
	if len(res.Records) != len(keys) {
		return nil, fmt.Errorf("api: batched read of %d keys returned %d results", len(keys), len(res.Records))
	}
	return res.Records, nil
}
