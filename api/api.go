// Package api defines the JSON HTTP API that every node serves on a local
// address, and a client for it. The CLI talks to a running node only
// through this API.
//
// A node writes the API's address into the file APIAddrFile inside its data
// folder, so a client finds the node from the folder alone.
package api

import (
	"time"

	"github.com/yuinet/yui/network/identity"
)

// APIAddrFile is the file in a node's data folder that holds the API's
// "host:port".
const APIAddrFile = "api.addr"

// Paths of the API's endpoints.
const (
	PathStatus = "/v1/status"
	PathPeers  = "/v1/peers"
	PathLookup = "/v1/lookup"
	PathHealth = "/healthz"
)

// Status describes a running node.
type Status struct {
	ID        identity.NodeID `json:"id"`
	Network   string          `json:"network"`
	Version   string          `json:"version"`
	Listen    string          `json:"listen"`
	API       string          `json:"api"`
	Discovery string          `json:"discovery,omitempty"`
	DataDir   string          `json:"data_dir"`
	Started   time.Time       `json:"started"`
	// Uptime is in seconds.
	Uptime float64 `json:"uptime_seconds"`
	// Peers counts the contacts the node keeps: its routing table and,
	// in hierarchical mode, its LAN group.
	Peers   int      `json:"peers"`
	Buckets []Bucket `json:"buckets"`
	// Mode is "flat" or "hier". Role is "flat", "member" (outside the
	// DHT, lookups go through the representatives) or "representative"
	// (in the DHT for its LAN group).
	Mode string `json:"mode"`
	Role string `json:"role"`
	// Group counts the other live members of the node's LAN group, and
	// Representatives lists the group's representatives, the node itself
	// included when it is one; both are empty in flat mode.
	Group           int       `json:"group_members"`
	Representatives []Contact `json:"representatives,omitempty"`
	// ComputeTier is "upper", "middle" or "lower", from ComputeRate, the
	// node's measured speed in readings per second (0 until measured).
	// Cluster is the node's location cell, empty when unknown.
	ComputeTier string  `json:"compute_tier,omitempty"`
	ComputeRate float64 `json:"compute_readings_per_second,omitempty"`
	Cluster     string  `json:"cluster,omitempty"`
}

// Bucket is the fill of one routing-table bucket.
type Bucket struct {
	// Index is the number of leading bits the bucket's contacts share with
	// the node's ID.
	Index        int `json:"index"`
	Contacts     int `json:"contacts"`
	Replacements int `json:"replacements"`
}

// Peer is one routing-table contact with its measured metrics.
type Peer struct {
	ID   identity.NodeID `json:"id"`
	Addr string          `json:"addr"`
	// Bucket is -1 for a member of the node's LAN group outside its
	// routing table.
	Bucket  int     `json:"bucket"`
	RTTMs   float64 `json:"rtt_ms"`
	Uptime  float64 `json:"uptime_seconds"`
	LastAgo float64 `json:"last_seen_seconds_ago"`
	// Failures counts consecutive failed requests to the peer.
	Failures int `json:"failures"`
}

// LookupRequest asks the node to find the nodes closest to Target.
type LookupRequest struct {
	Target identity.NodeID `json:"target"`
}

// LookupResult is the outcome of a lookup.
type LookupResult struct {
	Target  identity.NodeID `json:"target"`
	Closest []Contact       `json:"closest"`
	Hops    int             `json:"hops"`
	Queried int             `json:"queried"`
	Failed  int             `json:"failed"`
	// DurationMs is the lookup's duration in milliseconds.
	DurationMs float64 `json:"duration_ms"`
}

// Contact is a node and its address.
type Contact struct {
	ID   identity.NodeID `json:"id"`
	Addr string          `json:"addr"`
	// Distance is the XOR distance to the lookup target, in hex.
	Distance string `json:"distance,omitempty"`
}

// Error is the body of every non-2xx response.
type Error struct {
	Error string `json:"error"`
}
