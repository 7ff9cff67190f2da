package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/yuinet/yui/tag"
)

// PostSightings sends a relay's report to the node, stored under relay
// network network ("" for DefaultTagNetwork) as user.
func (c *Client) PostSightings(ctx context.Context, user, network string, rep *tag.Report) (*SightingsResult, error) {
	body, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("api: encode report: %w", err)
	}
	path := PathSightings
	if network != "" {
		path += "?network=" + url.QueryEscape(network)
	}
	req, err := c.newStoreRequest(ctx, http.MethodPost, path, user, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var res SightingsResult
	return &res, c.doStoreJSON(req, &res)
}

// TagLocation locates owner's tag name as user. It fails with an error
// that wraps ErrForbidden when user may not read the tag's secret.
func (c *Client) TagLocation(ctx context.Context, user, owner, name string, q TagQuery) (*TagLocation, error) {
	v := url.Values{}
	if q.Network != "" {
		v.Set("network", q.Network)
	}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if q.History {
		v.Set("history", "true")
	}
	if q.Area != "" {
		v.Set("area", q.Area)
	}
	if q.Silence > 0 {
		v.Set("silence", q.Silence.String())
	}
	path := PathTags + url.PathEscape(owner) + "/" + url.PathEscape(name)
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	req, err := c.newStoreRequest(ctx, http.MethodGet, path, user, nil)
	if err != nil {
		return nil, err
	}
	var res TagLocation
	return &res, c.doStoreJSON(req, &res)
}
