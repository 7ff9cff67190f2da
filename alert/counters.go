package alert

import "errors"

// Reason classifies a rejected alert, for counters and metrics labels.
type Reason uint8

// Reasons for rejecting an alert.
const (
	ReasonInvalid Reason = iota + 1
	ReasonUnsigned
	ReasonUnknownAuthority
	ReasonForged
	ReasonExpired
	ReasonNotYetValid
	ReasonReplayed
	ReasonRateLimited
)

// Reasons lists every Reason, for metrics.
var Reasons = []Reason{
	ReasonInvalid, ReasonUnsigned, ReasonUnknownAuthority, ReasonForged,
	ReasonExpired, ReasonNotYetValid, ReasonReplayed, ReasonRateLimited,
}

var reasonNames = map[Reason]string{
	ReasonInvalid:          "invalid",
	ReasonUnsigned:         "unsigned",
	ReasonUnknownAuthority: "unknown-authority",
	ReasonForged:           "forged",
	ReasonExpired:          "expired",
	ReasonNotYetValid:      "not-yet-valid",
	ReasonReplayed:         "replayed",
	ReasonRateLimited:      "rate-limited",
}

// String returns the reason's metrics label, such as "forged".
func (r Reason) String() string { return reasonNames[r] }

// ReasonOf returns the Reason for an error returned by Publish or carried
// by a Rejected event.
func ReasonOf(err error) Reason {
	switch {
	case errors.Is(err, ErrUnsigned):
		return ReasonUnsigned
	case errors.Is(err, ErrUnknownAuthority):
		return ReasonUnknownAuthority
	case errors.Is(err, ErrForged):
		return ReasonForged
	case errors.Is(err, ErrExpired):
		return ReasonExpired
	case errors.Is(err, ErrNotYetValid):
		return ReasonNotYetValid
	case errors.Is(err, ErrReplayed):
		return ReasonReplayed
	case errors.Is(err, ErrRateLimited):
		return ReasonRateLimited
	}
	return ReasonInvalid
}

// Counters are a Machine's totals since New.
type Counters struct {
	// Received counts alerts in pushes from peers, duplicates included.
	Received uint64
	// Accepted counts new valid alerts, published ones included.
	Accepted uint64
	// Duplicate counts received alerts already held.
	Duplicate uint64
	// Rejected counts received alerts by the check they failed.
	Rejected map[Reason]uint64
	// Expired and Evicted count held alerts dropped at expiry and to make
	// room under Config.MaxPerAuthority.
	Expired, Evicted uint64
	// Held and Neighbours are the current numbers of each.
	Held, Neighbours int
}
