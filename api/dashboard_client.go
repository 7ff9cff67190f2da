package api

import (
	"context"
	"net/http"
	"net/url"
)

// DashboardQuery names what the dashboard shows: a local user, whose
// readings and tags it shows, the readings' namespace and the tags' relay
// network. A zero query shows nodes and alerts only.
type DashboardQuery struct {
	User      string
	Namespace string
	Network   string
}

// Encode returns q as the query string of the dashboard endpoints.
func (q DashboardQuery) Encode() string {
	v := url.Values{}
	if q.User != "" {
		v.Set("user", q.User)
	}
	if q.Namespace != "" {
		v.Set("ns", q.Namespace)
	}
	if q.Network != "" {
		v.Set("network", q.Network)
	}
	return v.Encode()
}

// DashboardState returns what the node's web page shows for q.
func (c *Client) DashboardState(ctx context.Context, q DashboardQuery) (*DashboardState, error) {
	var st DashboardState
	return &st, c.do(ctx, http.MethodGet, PathDashboardState+"?"+q.Encode(), nil, &st)
}
