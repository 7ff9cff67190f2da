package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoNode reports that no running node could be found for a data folder.
var ErrNoNode = errors.New("api: no running node")

// maxResponse bounds how much of a response the client reads.
const maxResponse = 16 << 20

// Client calls a node's API.
type Client struct {
	// Base is the API's root URL, such as "http://127.0.0.1:4719".
	Base string
	HTTP *http.Client
}

// NewClient returns a client for the API at addr ("host:port").
func NewClient(addr string) *Client {
	return &Client{Base: "http://" + addr, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// FindNode reads the API address a node wrote into dataDir and returns a
// client for it.
func FindNode(dataDir string) (*Client, error) {
	path := filepath.Join(dataDir, APIAddrFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: %s does not exist; start one with 'yui node --data-dir %s'",
			ErrNoNode, dataDir, path, dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("api: read %s: %w", path, err)
	}
	addr := strings.TrimSpace(string(b))
	if addr == "" {
		return nil, fmt.Errorf("%w in %s: %s is empty", ErrNoNode, dataDir, path)
	}
	return NewClient(addr), nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, PathStatus, nil, &s)
}

// Peers returns the node's routing-table contacts.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var peers []Peer
	return peers, c.do(ctx, http.MethodGet, PathPeers, nil, &peers)
}

// Lookup runs a lookup on the node.
func (c *Client) Lookup(ctx context.Context, req LookupRequest) (*LookupResult, error) {
	var res LookupResult
	return &res, c.do(ctx, http.MethodPost, PathLookup, req, &res)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: encode %s request: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.HTTP.Do(req)
	if err != nil {
		return requestError(c.Base, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("api: read %s response: %w", path, err)
	}

	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("api: %s %s: %s", method, path, e.Error)
		}
		return fmt.Errorf("api: %s %s: %s", method, path, resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: decode %s response: %w", path, err)
	}
	return nil
}

// requestError tells a node that is not there from one that is slow: only
// a failed connection means that no node runs at the address.
func requestError(base, method, path string, err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("%w at %s: %v (is 'yui node' running?)", ErrNoNode, base, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
		return fmt.Errorf("api: %s %s at %s timed out; the node is running but did not answer in time", method, path, base)
	}
	return fmt.Errorf("api: %s %s at %s: %w", method, path, base, err)
}
