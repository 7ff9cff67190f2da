package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/yuinet/yui/sensor"
)

// Sensor ingest endpoint:
//
//	POST /v1/ns/{ns}/readings   store sensor readings (JSON lines of readings; IngestResult)
//
// The body holds one reading per line in the JSON form described in
// package sensor. Lines that do not decode are rejected one by one and
// listed in the result; the others are stored together. The node responds
// only after its sensor.Sink has stored the readings, so a client may
// treat a response of 200 as durable.

// Limits of one ingest request. A client with more readings sends several
// requests.
const (
	// MaxIngestBody bounds the body, in bytes. A longer body is rejected
	// whole with status 413 and nothing is stored.
	MaxIngestBody = 16 << 20
	// MaxIngestLine bounds one line, in bytes; a longer line is rejected.
	MaxIngestLine = sensor.DefaultMaxJSONLine
	// MaxIngestReadings bounds the readings of one request; more are
	// rejected whole with status 413.
	MaxIngestReadings = 100_000
	// MaxRejectedLines bounds the rejected lines an IngestResult lists.
	// Every rejected line is counted.
	MaxRejectedLines = 1000
)

// CodeTooLarge is the StoreError code of a request body above its limit.
const CodeTooLarge = "too_large"

// ErrTooLarge reports a request above a size limit of the API.
var ErrTooLarge = errors.New("api: request too large")

// IngestResult is the response to an ingest request.
type IngestResult struct {
	// Stored counts the readings stored.
	Stored int `json:"stored"`
	// Rejected counts the lines that gave no reading.
	Rejected int `json:"rejected"`
	// Rejections lists the first MaxRejectedLines rejected lines, in
	// order.
	Rejections []RejectedLine `json:"rejections,omitempty"`
}

// RejectedLine is one line of an ingest body that gave no reading.
type RejectedLine struct {
	// Line counts from 1 and includes blank lines.
	Line int `json:"line"`
	// Error names the value at fault.
	Error string `json:"error"`
}

// ReadingsPath returns the ingest path of a namespace.
func ReadingsPath(namespace string) string {
	return PathNamespaces + url.PathEscape(namespace) + "/readings"
}

// WriteReadings stores readings in a namespace through the node. User
// names the node's local user; "" selects DefaultUser. It fails with
// ErrTooLarge when the readings exceed MaxIngestReadings or encode to more
// than MaxIngestBody bytes, and with sensor.ErrInvalid when one does not
// validate, before sending anything.
func (c *Client) WriteReadings(ctx context.Context, user, namespace string, readings []sensor.Reading) (*IngestResult, error) {
	if len(readings) > MaxIngestReadings {
		return nil, fmt.Errorf("%w: %d readings, limit %d per request; split them", ErrTooLarge, len(readings), MaxIngestReadings)
	}
	body, err := EncodeReadings(nil, readings)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxIngestBody {
		return nil, fmt.Errorf("%w: %d readings are %d bytes of JSON, limit %d per request; split them",
			ErrTooLarge, len(readings), len(body), MaxIngestBody)
	}
	return c.PostReadings(ctx, user, namespace, body)
}

// PostReadings sends a body of JSON lines as it is, for callers that
// already hold readings in their JSON form.
func (c *Client) PostReadings(ctx context.Context, user, namespace string, body []byte) (*IngestResult, error) {
	req, err := c.newStoreRequest(ctx, http.MethodPost, ReadingsPath(namespace), user, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/jsonl")
	var res IngestResult
	if err := c.doStoreJSON(req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// EncodeReadings appends readings to dst as JSON lines.
func EncodeReadings(dst []byte, readings []sensor.Reading) ([]byte, error) {
	for i := range readings {
		var err error
		dst, err = sensor.AppendJSON(dst, &readings[i])
		if err != nil {
			return nil, fmt.Errorf("api: reading %d: %w", i, err)
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}
