package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

// searchRoutes adds the query endpoint to mux.
func (n *Node) searchRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathNamespaces+"{ns}/query", n.serveQuery)
}

// aggregateNames are the aggregates a QueryRequest may name.
var aggregateNames = []string{"count", "min", "max", "mean"}

func (n *Node) serveQuery(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	var req api.QueryRequest
	if err := decodeJSONBody(w, r, &req); err != nil {
		n.writeSearchError(w, r, err)
		return
	}
	q, err := parseQuery(c.namespace, &req)
	if err != nil {
		n.writeSearchError(w, r, err)
		return
	}
	if len(req.Aggregates) > 0 {
		n.serveAggregate(w, r, c.user, q, &req)
		return
	}

	// Asking for one reading more than the limit shows whether more matched.
	limit := req.Limit
	if limit <= 0 || limit > api.MaxQueryReadings {
		limit = api.MaxQueryReadings
	}
	q.Limit = limit + 1
	readings, err := n.search.querier.Query(r.Context(), c.user, q)
	if err != nil {
		n.writeSearchError(w, r, err)
		return
	}
	res := api.QueryResult{Readings: []json.RawMessage{}}
	if len(readings) > limit {
		readings, res.Truncated = readings[:limit], true
	}
	for i := range readings {
		b, err := sensor.AppendJSON(nil, &readings[i])
		if err != nil {
			n.writeSearchError(w, r, err)
			return
		}
		res.Readings = append(res.Readings, b)
	}
	writeJSON(w, http.StatusOK, res)
}

func (n *Node) serveAggregate(w http.ResponseWriter, r *http.Request, user string, q search.Query, req *api.QueryRequest) {
	by, err := search.ParseGroupBy(req.By)
	if err != nil {
		n.writeSearchError(w, r, err)
		return
	}
	for _, a := range req.Aggregates {
		if !slices.Contains(aggregateNames, a) {
			n.writeSearchError(w, r, fmt.Errorf("%w: aggregate %q is unknown; use count, min, max or mean", search.ErrInvalidQuery, a))
			return
		}
	}
	groups, err := n.search.querier.Aggregate(r.Context(), user, q, by)
	if err != nil {
		n.writeSearchError(w, r, err)
		return
	}
	res := api.QueryResult{Groups: []api.AggregateGroup{}}
	for _, g := range groups {
		res.Groups = append(res.Groups, apiGroup(g, req.Aggregates))
	}
	writeJSON(w, http.StatusOK, res)
}

func apiGroup(g search.Group, aggregates []string) api.AggregateGroup {
	out := api.AggregateGroup{Sensor: g.Sensor, Count: g.Count, Fields: make(map[string]api.FieldStats)}
	if !g.Start.IsZero() {
		start := g.Start
		out.Start = &start
	}
	for name, st := range g.Fields {
		fs := api.FieldStats{Count: st.Count}
		for _, a := range aggregates {
			switch a {
			case "min":
				fs.Min = &st.Min
			case "max":
				fs.Max = &st.Max
			case "mean":
				mean := st.Mean()
				fs.Mean = &mean
			case "sum":
				fs.Sum = &st.Sum
			}
		}
		out.Fields[name] = fs
	}
	return out
}

// parseQuery turns a request into a search.Query. Query.Validate checks
// the rest when the query runs.
func parseQuery(ns string, req *api.QueryRequest) (search.Query, error) {
	if req.Limit < 0 {
		return search.Query{}, fmt.Errorf("%w: limit %d: want 0 for up to %d readings, or a positive number",
			search.ErrInvalidQuery, req.Limit, api.MaxQueryReadings)
	}
	q := search.Query{Namespace: ns, Sensor: req.Sensor, Limit: req.Limit}
	if req.From != nil {
		q.From = req.From.UTC()
	}
	if req.To != nil {
		q.To = req.To.UTC()
	}
	for _, c := range req.Where {
		v, err := conditionValue(c)
		if err != nil {
			return q, err
		}
		q.Where = append(q.Where, search.Condition{Field: c.Field, Op: search.Op(c.Op), Value: v})
	}
	if req.Near != nil {
		near, err := parseNear(req.Near)
		if err != nil {
			return q, err
		}
		q.Near = near
	}
	return q, nil
}

// conditionValue reads a condition's value: a JSON number or string.
func conditionValue(c api.Condition) (sensor.Value, error) {
	var s string
	if err := json.Unmarshal(c.Value, &s); err == nil {
		return sensor.Text(s), nil
	}
	var f json.Number
	if err := json.Unmarshal(c.Value, &f); err == nil {
		x, err := strconv.ParseFloat(string(f), 64)
		if err == nil && !math.IsInf(x, 0) {
			return sensor.Number(x), nil
		}
	}
	return sensor.Value{}, fmt.Errorf("%w: condition on %q: value %s is not a JSON number or string",
		search.ErrInvalidQuery, c.Field, c.Value)
}

func parseNear(n *api.Near) (*search.Near, error) {
	switch {
	case n.Lat != nil && n.Lon != nil && n.X == nil && n.Y == nil:
		return &search.Near{Center: *sensor.GeoPoint(*n.Lat, *n.Lon), Radius: n.Radius}, nil
	case n.X != nil && n.Y != nil && n.Lat == nil && n.Lon == nil:
		return &search.Near{Center: *sensor.PlanePoint(*n.X, *n.Y), Radius: n.Radius}, nil
	}
	return nil, fmt.Errorf("%w: near needs either lat and lon or x and y", search.ErrInvalidQuery)
}

// writeSearchError maps the search layer's own errors to responses, and
// the store's through writeStoreError.
func (n *Node) writeSearchError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, search.ErrInvalidQuery) && !errors.Is(err, api.ErrInvalid):
		// A job's caller may have marked the error invalid already.
		err = fmt.Errorf("%w: %w", api.ErrInvalid, err)
	case errors.Is(err, search.ErrUnavailable):
		writeJSON(w, http.StatusServiceUnavailable, api.StoreError{Error: err.Error(), Code: api.CodeUnavailable,
			Fix: "too few index holders answered; start more nodes or retry later"})
		return
	}
	n.writeStoreError(w, r, err)
}
