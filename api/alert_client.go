package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// maxAlertEvent bounds one server-sent event line of the alert stream; a
// signed alert is at most 4 KiB, under 6 KiB in base64.
const maxAlertEvent = 64 << 10

// SendAlert hands the node a signed alert, which it checks and floods.
func (c *Client) SendAlert(ctx context.Context, signed []byte) (*Alert, error) {
	var a Alert
	return &a, c.do(ctx, http.MethodPost, PathAlerts, SendAlertRequest{Signed: signed}, &a)
}

// Alerts returns the alerts the node holds, oldest first.
func (c *Client) Alerts(ctx context.Context) ([]Alert, error) {
	var list []Alert
	return list, c.do(ctx, http.MethodGet, PathAlerts, nil, &list)
}

// WatchAlerts calls fn with every alert the node accepts from now on,
// after the alerts it holds when held is set, until ctx ends, the node
// closes the stream or fn returns an error.
func (c *Client) WatchAlerts(ctx context.Context, held bool, fn func(Alert) error) error {
	url := c.Base + PathAlertStream
	if held {
		url += "?held=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	// The stream runs for as long as the caller wants, so the client's
	// overall timeout must not apply.
	httpClient := *c.HTTP
	httpClient.Timeout = 0
	resp, err := httpClient.Do(req)
	if err != nil {
		return requestError(c.Base, http.MethodGet, PathAlertStream, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("api: GET %s: %s", PathAlertStream, resp.Status)
	}
	return readAlertEvents(bufio.NewScanner(resp.Body), fn)
}

// readAlertEvents parses a server-sent event stream and calls fn with the
// data of each alert event.
func readAlertEvents(sc *bufio.Scanner, fn func(Alert) error) error {
	sc.Buffer(nil, maxAlertEvent)
	var event string
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == AlertEvent && data.Len() > 0 {
				var a Alert
				if err := json.Unmarshal(data.Bytes(), &a); err != nil {
					return fmt.Errorf("api: invalid alert event: %w", err)
				}
				if err := fn(a); err != nil {
					return err
				}
			}
			event = ""
			data.Reset()
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len()+len(line) > maxAlertEvent {
				return fmt.Errorf("api: alert event larger than %d bytes", maxAlertEvent)
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("api: read alert stream: %w", err)
	}
	return nil
}
