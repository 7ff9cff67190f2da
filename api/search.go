package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Sensor query endpoint:
//
//	POST /v1/ns/{ns}/query   search stored readings (QueryRequest; QueryResult)
//
// The node computes the blind-index tokens of the query with the user's
// keys, fetches and decrypts the segments they point at, and returns the
// matching readings in time order, or their aggregates when the request
// names any.

// MaxQueryReadings bounds the readings one query returns. A request with
// no limit or a higher one gets at most this many, and the result is
// marked Truncated when more matched.
//
// NOTE: the client reads at most 16 MiB of response, which holds 10,000
// readings of up to about 1.6 KiB of JSON each; readings with many long
// fields need a lower limit.
const MaxQueryReadings = 10_000

// QueryPath returns the query endpoint of a namespace.
func QueryPath(namespace string) string {
	return PathNamespaces + url.PathEscape(namespace) + "/query"
}

// QueryRequest is a search over one namespace's readings. Every condition
// set must hold.
type QueryRequest struct {
	// Sensor is a source id.
	Sensor string `json:"sensor,omitempty"`
	// From and To bound the readings' times to [From, To).
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	// Where is the list of conditions on field values.
	Where []Condition `json:"where,omitempty"`
	// Near keeps readings within a radius of a point.
	Near *Near `json:"near,omitempty"`
	// Limit keeps the first Limit readings in time order; 0 means
	// MaxQueryReadings. It does not apply to aggregates.
	Limit int `json:"limit,omitempty"`
	// Aggregates names the aggregates to return instead of readings, of
	// count, min, max and mean.
	Aggregates []string `json:"aggregates,omitempty"`
	// By groups aggregates by "sensor", "hour" or "day", or by sensor and
	// a span of time, such as "sensor,hour". Empty means one group of
	// every match.
	By string `json:"by,omitempty"`
}

// Condition compares a field with a value. Op is one of =, !=, <, <=, >
// and >=. Value is a JSON number or string; order comparisons take
// numbers only.
type Condition struct {
	Field string          `json:"field"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value"`
}

// Near is a circle: Lat and Lon in degrees, or X and Y in metres on a
// site's plan, and Radius in metres.
type Near struct {
	Lat    *float64 `json:"lat,omitempty"`
	Lon    *float64 `json:"lon,omitempty"`
	X      *float64 `json:"x,omitempty"`
	Y      *float64 `json:"y,omitempty"`
	Radius float64  `json:"radius"`
}

// QueryResult is the response to a QueryRequest: Readings, each in the
// JSON form of package sensor, or Groups when aggregates were requested.
type QueryResult struct {
	Readings []json.RawMessage `json:"readings,omitempty"`
	// Truncated is set when more readings matched than were returned.
	Truncated bool             `json:"truncated,omitempty"`
	Groups    []AggregateGroup `json:"groups,omitempty"`
}

// AggregateGroup is the aggregates of one group of matching readings.
type AggregateGroup struct {
	// Sensor names the group's source when grouped by sensor, and Start
	// the first instant of its hour or day when grouped by time.
	Sensor string     `json:"sensor,omitempty"`
	Start  *time.Time `json:"start,omitempty"`
	// Count is the number of readings in the group.
	Count int `json:"count"`
	// Fields holds the requested aggregates of each numeric field.
	Fields map[string]FieldStats `json:"fields,omitempty"`
	// Cell is the group's location cell, for jobs grouped by cell; absent
	// there for the readings without a location.
	Cell *Cell `json:"cell,omitempty"`
}

// FieldStats are the aggregates of one numeric field over a group. Count
// is the readings with a number in the field; Min, Max and Mean are over
// them, and are present when requested.
type FieldStats struct {
	Count int      `json:"count"`
	Min   *float64 `json:"min,omitempty"`
	Max   *float64 `json:"max,omitempty"`
	Mean  *float64 `json:"mean,omitempty"`
	// Sum is set for jobs that ask for it.
	Sum *float64 `json:"sum,omitempty"`
	// Percentiles are set for jobs that ask for them, by aggregate name
	// such as "p90": nearest-rank percentiles, each one of the values.
	Percentiles map[string]float64 `json:"percentiles,omitempty"`
	// Histogram is set for jobs that ask for it.
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Query searches a namespace's readings on behalf of user.
func (c *Client) Query(ctx context.Context, user, namespace string, q QueryRequest) (*QueryResult, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("api: encode query: %w", err)
	}
	req, err := c.newStoreRequest(ctx, http.MethodPost, QueryPath(namespace), user, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var res QueryResult
	return &res, c.doStoreJSON(req, &res)
}
