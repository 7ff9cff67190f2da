package node

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/seal"
)

// ingestBodyTimeout bounds how long a client may take to send an ingest
// body of up to api.MaxIngestBody bytes: a minute allows about 2 Mbit/s.
const ingestBodyTimeout = time.Minute

// ingestRoutes adds the sensor ingest endpoint to mux.
func (n *Node) ingestRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathNamespaces+"{ns}/readings", n.serveIngest)
}

// serveIngest stores the readings of a JSON-lines body. It decodes the
// whole body before it stores anything, so a body over a limit is rejected
// whole, and it responds only after the sink has stored the readings.
func (n *Node) serveIngest(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	if err := seal.ValidateNamespace(c.namespace); err != nil {
		n.writeIngestError(w, r, c, err)
		return
	}
	if r.ContentLength > api.MaxIngestBody {
		n.writeIngestError(w, r, c, fmt.Errorf("%w: body is %d bytes, limit %d; split it into several requests",
			api.ErrTooLarge, r.ContentLength, api.MaxIngestBody))
		return
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(ingestBodyTimeout))

	b, err := readIngestBody(r.Body, time.Now(), api.MaxIngestReadings)
	if err != nil {
		n.writeIngestError(w, r, c, err)
		return
	}
	n.ingest.add("http", "rejected", b.result.Rejected)
	if len(b.readings) > 0 {
		if err := n.commit.write(r.Context(), sinkTarget{c.user, c.namespace}, b.readings); err != nil {
			n.ingest.add("http", "failed", len(b.readings))
			n.writeIngestError(w, r, c, err)
			return
		}
	}
	n.ingest.add("http", "stored", len(b.readings))
	b.result.Stored = len(b.readings)
	writeJSON(w, http.StatusOK, b.result)
}

// ingestBatch is a decoded ingest body.
type ingestBatch struct {
	readings []sensor.Reading
	result   api.IngestResult
}

// readIngestBody decodes the JSON lines of an ingest body. Readings
// without a time get the arrival time. A line that does not decode, or
// whose reading has no fields, is listed in the result, and a body of
// such lines only fails with api.ErrInvalid. A body over
// api.MaxIngestBody bytes or with more than maxReadings readings fails
// whole with api.ErrTooLarge.
func readIngestBody(body io.Reader, arrived time.Time, maxReadings int) (*ingestBatch, error) {
	jr := sensor.NewJSONReader(body, sensor.JSONOptions{
		Time:          arrived,
		MaxLineBytes:  api.MaxIngestLine,
		MaxBodyBytes:  api.MaxIngestBody,
		RequireFields: true,
		// Epoch seconds sent as milliseconds would be stored as
		// January 1970, so they are rejected with a hint.
		RejectEpochSeconds: true,
	})
	b := &ingestBatch{}
	for {
		rd, _, err := jr.Next()
		var lineErr *sensor.LineError
		switch {
		case errors.Is(err, io.EOF):
			return b, b.check()
		case errors.As(err, &lineErr):
			b.reject(lineErr)
		case errors.Is(err, sensor.ErrTooLarge):
			return nil, fmt.Errorf("%w: body exceeds %d bytes; split it into several requests", api.ErrTooLarge, api.MaxIngestBody)
		case err != nil:
			return nil, err
		default:
			if len(b.readings) == maxReadings {
				return nil, fmt.Errorf("%w: body has more than %d readings; split it into several requests",
					api.ErrTooLarge, maxReadings)
			}
			b.readings = append(b.readings, rd)
		}
	}
}

func (b *ingestBatch) reject(e *sensor.LineError) {
	b.result.Rejected++
	if len(b.result.Rejections) < api.MaxRejectedLines {
		b.result.Rejections = append(b.result.Rejections, api.RejectedLine{Line: e.Line, Error: e.Err.Error()})
	}
}

// check rejects a body without a single line of JSON, and one whose
// every line was rejected, naming the first line's fault. A body with
// some valid readings is stored, and its rejected lines are listed.
func (b *ingestBatch) check() error {
	if len(b.readings) > 0 {
		return nil
	}
	if b.result.Rejected == 0 {
		return fmt.Errorf("%w: body has no readings; send one JSON object per line", api.ErrInvalid)
	}
	first := b.result.Rejections[0]
	return fmt.Errorf("%w: none of the %d readings is valid; line %d: %s", api.ErrInvalid, b.result.Rejected, first.Line, first.Error)
}

// writeIngestError writes the errors peculiar to ingest, and hands the
// others to writeStoreError.
func (n *Node) writeIngestError(w http.ResponseWriter, r *http.Request, c storeCall, err error) {
	switch {
	case errors.Is(err, api.ErrTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, api.StoreError{Error: err.Error(), Code: api.CodeTooLarge})
	case errors.Is(err, ErrNoReadings):
		n.log.Warn("sensor readings rejected", "namespace", c.namespace, "user", c.user, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, api.StoreError{Error: err.Error(), Code: api.CodeUnavailable,
			Fix: "send the readings to a node that runs the search layer"})
	case errors.Is(err, sensor.ErrInvalid), errors.Is(err, sensor.ErrMalformed):
		writeJSON(w, http.StatusBadRequest, api.StoreError{Error: err.Error(), Code: api.CodeInvalid})
	default:
		n.writeStoreError(w, r, err)
	}
}
