package tag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// ErrInvalidSighting reports a report or sighting that breaks the format
// or its limits.
var ErrInvalidSighting = errors.New("tag: invalid sighting")

// Limits of a relay's report.
const (
	// MaxReportBytes bounds the JSON of one report. At about 80 bytes per
	// sighting it holds MaxReportSightings with room to spare.
	MaxReportBytes = 1 << 20
	// MaxReportSightings bounds the sightings of one report. With the
	// relay's own record it stays within one store batch of 4096.
	MaxReportSightings = 4000
	// MaxRelayLen is the longest relay id, in bytes.
	MaxRelayLen = 64
	// MinRSSI and MaxRSSI bound a sighting's RSSI in dBm. BLE receivers
	// report from about -127 dBm; +20 dBm is the most a BLE transmitter
	// may send, so nothing received is stronger.
	MinRSSI = -127
	MaxRSSI = 20
	// MaxCoordinate bounds a relay's coordinates, in metres from the
	// site's origin.
	MaxCoordinate = 1e7
	// MaxAge is how old a sighting may be when it arrives. Relays cut off
	// from the network keep sightings and send them later.
	MaxAge = 7 * 24 * time.Hour
	// MaxAhead is how far a sighting's time may be ahead of the clock of
	// the node that checks it, to allow for relays with unsynchronised
	// clocks.
	MaxAhead = WindowLength
)

// Sighting is one relay hearing one tag's beacon.
type Sighting struct {
	// ID is the rotating identifier the tag broadcast.
	ID ID `json:"id"`
	// Relay is the id of the relay that heard it.
	Relay string `json:"relay"`
	// RSSI is the received signal strength, in dBm.
	RSSI float64 `json:"rssi"`
	// Time is when the relay heard it.
	Time time.Time `json:"time"`
}

// MarshalText writes the identifier as hex.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads an identifier written as hex.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Report is what a relay sends: the sightings it heard since its last
// report, and optionally where it stands. docs/tags.md has an example.
type Report struct {
	// Relay is the relay's id. A sighting without a relay of its own
	// takes this one.
	Relay string `json:"relay"`
	// Position is where the relay stands, or nil if the relay does not
	// know or the node already has it.
	Position *Point `json:"position,omitempty"`
	// Sightings are what the relay heard, in any order.
	Sightings []Sighting `json:"sightings"`
}

// DecodeReport reads one report of at most MaxReportBytes and checks it
// with Check at now. Unknown fields are rejected, so that a gateway that
// sends a misspelt field learns of it at once.
func DecodeReport(r io.Reader, now time.Time) (*Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxReportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tag: read report: %w", err)
	}
	if len(data) > MaxReportBytes {
		return nil, fmt.Errorf("%w: report exceeds %d bytes; send fewer sightings per report", ErrInvalidSighting, MaxReportBytes)
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSighting, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: more than one JSON value; send one report per request", ErrInvalidSighting)
	}
	if err := rep.Check(now); err != nil {
		return nil, err
	}
	return &rep, nil
}

// Check fills in each sighting's relay from the report's and checks every
// field against its limits. Sighting times must lie within MaxAge before
// now and MaxAhead after it.
func (rep *Report) Check(now time.Time) error {
	if err := checkRelay(rep.Relay); err != nil && rep.Relay != "" {
		return err
	}
	if rep.Position != nil {
		if err := rep.Position.check(); err != nil {
			return fmt.Errorf("%w: position of relay %q: %v", ErrInvalidSighting, rep.Relay, err)
		}
	}
	if len(rep.Sightings) == 0 {
		return fmt.Errorf("%w: report of relay %q has no sightings", ErrInvalidSighting, rep.Relay)
	}
	if len(rep.Sightings) > MaxReportSightings {
		return fmt.Errorf("%w: report has %d sightings, limit %d; split it", ErrInvalidSighting, len(rep.Sightings), MaxReportSightings)
	}
	for i := range rep.Sightings {
		s := &rep.Sightings[i]
		if s.Relay == "" {
			s.Relay = rep.Relay
		}
		if err := s.Check(now); err != nil {
			return fmt.Errorf("sighting %d: %w", i, err)
		}
	}
	return nil
}

// Check checks a sighting's relay, RSSI and time at now.
func (s *Sighting) Check(now time.Time) error {
	if err := checkRelay(s.Relay); err != nil {
		return err
	}
	if math.IsNaN(s.RSSI) || s.RSSI < MinRSSI || s.RSSI > MaxRSSI {
		return fmt.Errorf("%w: RSSI %v dBm is outside [%d, %d]", ErrInvalidSighting, s.RSSI, MinRSSI, MaxRSSI)
	}
	switch {
	case s.Time.IsZero():
		return fmt.Errorf("%w: missing time; send RFC 3339 UTC, such as 2026-12-04T18:20:05Z", ErrInvalidSighting)
	case s.Time.Before(now.Add(-MaxAge)):
		return fmt.Errorf("%w: time %s is more than %v old", ErrInvalidSighting, s.Time.Format(time.RFC3339), MaxAge)
	case s.Time.After(now.Add(MaxAhead)):
		return fmt.Errorf("%w: time %s is more than %v ahead of this node's clock %s; check the relay's clock",
			ErrInvalidSighting, s.Time.Format(time.RFC3339), MaxAhead, now.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkRelay checks a relay id: 1 to MaxRelayLen bytes of ASCII letters,
// digits, '.', '_', ':' and '-'. The rule keeps ids safe inside record
// keys and log lines; a MAC address such as aa:bb:cc:dd:ee:ff passes.
func checkRelay(id string) error {
	if id == "" || len(id) > MaxRelayLen {
		return fmt.Errorf("%w: relay id %.70q is %d bytes; use 1 to %d", ErrInvalidSighting, id, len(id), MaxRelayLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return fmt.Errorf("%w: relay id %q has %q at byte %d; use letters, digits, '.', '_', ':' and '-'",
				ErrInvalidSighting, id, c, i)
		}
	}
	return nil
}
