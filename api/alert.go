package api

import "time"

// Paths of the alert endpoints. POST to PathAlerts sends a signed alert,
// GET lists the held ones, and PathAlertStream streams new ones as
// server-sent events.
const (
	PathAlerts      = "/v1/alerts"
	PathAlertStream = "/v1/alerts/stream"
)

// AlertEvent is the server-sent event name of an alert on PathAlertStream;
// its data is one Alert as JSON.
const AlertEvent = "alert"

// Alert is a signed disaster alert as the API shows it.
type Alert struct {
	// ID is the hex SHA-256 hash of Signed.
	ID        string `json:"id"`
	Authority string `json:"authority"`
	KeyID     string `json:"key_id"`
	Sequence  uint64 `json:"sequence"`
	// Level is "info", "warning" or "evacuate".
	Level   string     `json:"level"`
	Area    *AlertArea `json:"area,omitempty"`
	Issued  time.Time  `json:"issued"`
	Expires time.Time  `json:"expires"`
	Text    string     `json:"text"`
	// Signed is the alert's signed encoding, base64 in JSON.
	Signed []byte `json:"signed"`
}

// AlertArea is the region an alert applies to: a circle (Lat, Lon and
// Radius in metres) or a polygon of [lat, lon] vertices.
type AlertArea struct {
	Lat     float64      `json:"lat,omitempty"`
	Lon     float64      `json:"lon,omitempty"`
	Radius  float64      `json:"radius_m,omitempty"`
	Polygon [][2]float64 `json:"polygon,omitempty"`
}

// SendAlertRequest hands a node an alert signed by its client.
type SendAlertRequest struct {
	Signed []byte `json:"signed"`
}
