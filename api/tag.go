package api

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/yuinet/yui/tag"
)

// Tag endpoints. docs/tags.md describes the report format and the
// privacy model.
//
//	POST /v1/sightings?network=N              store a relay's report (tag.Report)
//	GET  /v1/tags/{owner}/{name}?network=N…   locate a tag (TagLocation)
//
// A report is stored in the namespace SightingsNamespace(N) as the user
// of X-Yui-User. A location request runs as X-Yui-User, who must be able
// to read the tag's secret: its owner, or a user the owner shared it
// with. {owner} is a user of the node, or the fingerprint of an owner's
// keys (User.Fingerprint), which names an owner on another node.
const (
	PathSightings = "/v1/sightings"
	PathTags      = "/v1/tags/"
)

// DefaultTagNetwork is the relay network a report or location request
// names when it gives none.
const DefaultTagNetwork = "default"

// SightingsNamespace returns the namespace that holds the sightings of
// relay network network.
func SightingsNamespace(network string) string { return "sightings." + network }

// TagNamespace returns the namespace that holds the secrets of a user's
// tags, one record per tag named after it. fingerprint is the user's
// User.Fingerprint, and the namespace carries its first 24 hex digits,
// as the namespace of the user's job records does. A name would not do,
// because every node has a user "default".
func TagNamespace(fingerprint string) string {
	return "tags-" + fingerprint[:min(len(fingerprint), tagFingerprintDigits)]
}

// tagFingerprintDigits is how many hex digits of the owner's fingerprint
// a tag namespace carries: 96 bits.
const tagFingerprintDigits = 24

// IsFingerprint reports whether s has the form of User.Fingerprint: 64
// lowercase hex digits.
func IsFingerprint(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// KeyFingerprint returns User.Fingerprint of public keys: their hex
// SHA-256.
func KeyFingerprint(publicKeys []byte) string {
	sum := sha256.Sum256(publicKeys)
	return hex.EncodeToString(sum[:])
}

// TagSecret is the value of a tag's record in TagNamespace.
type TagSecret struct {
	// Secret is the tag's 32-byte secret in hex, as the tag is programmed.
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
}

// SightingsResult is the response to a report.
type SightingsResult struct {
	// Stored counts the sightings stored, duplicates removed.
	Stored int `json:"stored"`
	// Records counts the store records written: one per tag identifier
	// and relay, and one for the relay's position.
	Records int `json:"records"`
	// Network is the relay network they were stored under.
	Network string `json:"network"`
}

// TagLocation is the response to a location request.
type TagLocation struct {
	Tag     string `json:"tag"`
	Owner   string `json:"owner"`
	Network string `json:"network"`
	// Latest is the newest position estimate, nil if no relay of known
	// position heard the tag in the range searched.
	Latest *tag.Estimate `json:"latest,omitempty"`
	// History holds one estimate per fix, newest first, when requested.
	History []tag.Estimate `json:"history,omitempty"`
	// Sightings counts the tag's sightings found.
	Sightings int `json:"sightings"`
	// LastSeen is the newest sighting's time, zero if none.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Since is the start of the range searched.
	Since  time.Time   `json:"since"`
	Alerts []tag.Alert `json:"alerts,omitempty"`
}

// TagQuery are the options of a location request.
type TagQuery struct {
	Network string
	// Since is how far back to search for sightings.
	Since time.Duration
	// History requests every fix, not only the newest.
	History bool
	// Area, if set, raises a left-area alert: "circle:X,Y,R" or
	// "polygon:X,Y;X,Y;X,Y…", in metres on the relays' plan.
	Area string
	// Silence, if positive, raises a silent alert when the tag was not
	// heard for longer.
	Silence time.Duration
}
