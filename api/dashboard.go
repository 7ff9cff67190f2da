package api

import (
	"time"

	"github.com/yuinet/yui/tag"
)

// Dashboard endpoints. Every node serves a web page that needs nothing
// from the Internet: it loads DashboardState once, then follows the event
// stream.
//
//	GET /  and  GET /dashboard/...                    the page and its static files
//	GET /v1/dashboard/state?user=U&ns=NS&network=N    DashboardState
//	GET /v1/dashboard/stream?user=U&ns=NS&network=N   server-sent events
//
// The user is a local user of the node, as X-Yui-User names elsewhere; it
// travels in the query because a browser's EventSource cannot set
// headers. Without a user the state and the stream contain no readings
// and no tags, only nodes and alerts. Readings come from namespace NS, and
// only if the user may read it. Tags are the user's own, located in relay
// network N (DefaultTagNetwork when empty).
const (
	PathDashboard       = "/dashboard/"
	PathDashboardState  = "/v1/dashboard/state"
	PathDashboardStream = "/v1/dashboard/stream"
)

// Server-sent event names of PathDashboardStream. Each event's data is
// one JSON value.
const (
	// DashboardNodesEvent carries DashboardNodes, sent when a peer comes,
	// goes or changes status, and at least every few seconds.
	DashboardNodesEvent = "nodes"
	// DashboardAlertEvent carries one Alert the node accepted.
	DashboardAlertEvent = "alert"
	// DashboardReadingsEvent carries DashboardReadings: the sensors of the
	// stream's namespace that got new readings.
	DashboardReadingsEvent = "readings"
	// DashboardTagsEvent carries the user's tags, []DashboardTag, when a
	// position changed.
	DashboardTagsEvent = "tags"
	// DashboardHeartbeatEvent carries the node's time as a JSON string, so
	// the page can tell a quiet stream from a dead one.
	DashboardHeartbeatEvent = "heartbeat"
)

// Peer link states of DashboardNode.Status.
const (
	NodeUp          = "up"
	NodeStale       = "stale"
	NodeUnreachable = "unreachable"
)

// DashboardState is everything the page shows, at one instant.
type DashboardState struct {
	Time  time.Time      `json:"time"`
	Nodes DashboardNodes `json:"nodes"`
	// Alerts are the alerts the node holds, oldest first.
	Alerts []Alert `json:"alerts"`
	// User is the local user the state was read for, empty when no user
	// is signed in.
	User      string `json:"user,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Namespaces lists the namespaces with recent readings on this node
	// that User may read, for the page to offer.
	Namespaces []string          `json:"namespaces"`
	Sensors    []DashboardSensor `json:"sensors"`
	// SensorsError is the reason Sensors is empty when it is not for lack of
	// readings, such as a user who may not read the namespace.
	SensorsError string         `json:"sensors_error,omitempty"`
	Tags         []DashboardTag `json:"tags"`
	TagsError    string         `json:"tags_error,omitempty"`
	// MapURL is the background image of the map the node was configured
	// with, and MapBounds the plan coordinates its corners stand for:
	// [min x, min y, max x, max y].
	MapURL    string      `json:"map_url,omitempty"`
	MapBounds *[4]float64 `json:"map_bounds,omitempty"`
}

// DashboardNodes are this node and the peers in its routing table and
// LAN group.
type DashboardNodes struct {
	Self  DashboardNode   `json:"self"`
	Peers []DashboardNode `json:"peers"`
}

// DashboardNode is one node as the page draws it.
type DashboardNode struct {
	ID string `json:"id"`
	// Short is the ID's short form, as the logs print it.
	Short string `json:"short"`
	Addr  string `json:"addr"`
	// Link is "self", "routing" for a contact of the routing table, or
	// "group" for a member of the LAN group outside it.
	Link string `json:"link"`
	// Status is NodeUp, NodeStale or NodeUnreachable.
	Status   string  `json:"status"`
	RTTMs    float64 `json:"rtt_ms,omitempty"`
	LastAgo  float64 `json:"last_ago_s,omitempty"`
	Failures int     `json:"failures,omitempty"`
	// Role and Mode are set for this node only.
	Role string `json:"role,omitempty"`
	Mode string `json:"mode,omitempty"`
	// Position is the node's place on the network diagram: this node at
	// the origin and its peers on a ring around it, each at a place that
	// depends only on the IDs.
	Position tag.Point `json:"position"`
	// Location is the node's configured place on the map, nil when not
	// configured. Peers' locations are not exchanged, so only this node
	// has one.
	Location *tag.Point `json:"location,omitempty"`
}

// DashboardReadings is a DashboardReadingsEvent.
type DashboardReadings struct {
	Namespace string            `json:"namespace"`
	Sensors   []DashboardSensor `json:"sensors"`
}

// DashboardSensor is one sensor's newest reading and its recent numeric
// values.
type DashboardSensor struct {
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
	// Fields are the newest reading's fields, in its order.
	Fields []DashboardField `json:"fields"`
	// Location is the newest reading's location: X and Y on a site's plan
	// in metres, or longitude as X and latitude as Y.
	Location *tag.Point `json:"location,omitempty"`
	// Geo is set when Location holds longitude and latitude.
	Geo bool `json:"geo,omitempty"`
	// Series holds each numeric field's recent values, oldest first. In a
	// DashboardReadingsEvent it holds only the newest value of each.
	Series []DashboardSeries `json:"series"`
}

// DashboardField is one field of a reading: Number or Text, or neither
// when the sensor delivered no value.
type DashboardField struct {
	Name   string   `json:"name"`
	Number *float64 `json:"number,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// DashboardSeries is a numeric field's recent values as [unix ms, value]
// pairs.
type DashboardSeries struct {
	Field  string       `json:"field"`
	Points [][2]float64 `json:"points"`
}

// DashboardTag is one of the user's tags and its newest position.
type DashboardTag struct {
	Owner   string `json:"owner"`
	Name    string `json:"name"`
	Network string `json:"network"`
	// Latest is nil when no relay of known position heard the tag lately.
	Latest    *tag.Estimate `json:"latest,omitempty"`
	Sightings int           `json:"sightings"`
	LastSeen  time.Time     `json:"last_seen,omitzero"`
	// Error is the reason the tag could not be located.
	Error string `json:"error,omitempty"`
}
