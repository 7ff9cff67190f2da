package wire

import "fmt"

// Message types of the alert flood: signed disaster alerts pushed from
// node to node, and summaries of the alerts a node holds so that a
// neighbour sends only what is missing. Both are one-way messages (request
// ID 0). Codes are part of the protocol: never reuse or renumber one.
const (
	TypeAlertPush    Type = 60
	TypeAlertSummary Type = 61
)

// Limits of the alert messages, far above what an honest peer sends.
const (
	// MaxAlertSize is the largest signed alert in bytes, signature
	// included.
	MaxAlertSize = 4096
	// MaxAlertBatch is the most alerts one AlertPush may carry.
	MaxAlertBatch = 64
	// MaxAlertSummary is the most alert IDs one AlertSummary may list.
	MaxAlertSummary = 4096
)

func newAlertMessage(t Type) Message {
	switch t {
	case TypeAlertPush:
		return new(AlertPush)
	case TypeAlertSummary:
		return new(AlertSummary)
	}
	return nil
}

// AlertShortID is the first 8 bytes of an alert's ID, which is the SHA-256
// hash of the signed alert. Summaries list short IDs to stay small; a
// chance collision only makes a node skip offering one alert to one
// neighbour until its next summary.
type AlertShortID [8]byte

// AlertPush carries signed alerts, each encoded as the alert package
// defines. The wire layer checks only sizes; the receiver verifies each
// alert's signature against its configured authorities.
type AlertPush struct {
	Alerts [][]byte `cbor:"1,keyasint"`
}

// AlertSummary lists the short IDs of every alert the sender holds. The
// receiver sends back, in AlertPush messages, the alerts it holds that the
// list lacks. Reply requests the receiver's own summary in return, so
// that alerts flow both ways after two nodes meet.
type AlertSummary struct {
	IDs   []AlertShortID `cbor:"1,keyasint,omitempty"`
	Reply bool           `cbor:"2,keyasint,omitempty"`
}

func (*AlertPush) Type() Type    { return TypeAlertPush }
func (*AlertSummary) Type() Type { return TypeAlertSummary }

func (m *AlertPush) Validate() error {
	if len(m.Alerts) == 0 {
		return fmt.Errorf("alert push carries no alerts")
	}
	if len(m.Alerts) > MaxAlertBatch {
		return fmt.Errorf("alert push carries %d alerts, limit %d", len(m.Alerts), MaxAlertBatch)
	}
	for i, a := range m.Alerts {
		if len(a) == 0 || len(a) > MaxAlertSize {
			return fmt.Errorf("alerts[%d] is %d bytes, want 1 to %d", i, len(a), MaxAlertSize)
		}
	}
	return nil
}

func (m *AlertSummary) Validate() error {
	if len(m.IDs) > MaxAlertSummary {
		return fmt.Errorf("alert summary lists %d IDs, limit %d", len(m.IDs), MaxAlertSummary)
	}
	return nil
}
