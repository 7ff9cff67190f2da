package town

import "time"

// AlertID names an alert.
type AlertID uint64

// Alert is the message a sender floods: an id and the time, since the
// start of the run, after which relays drop it.
type Alert struct {
	ID      AlertID
	Expires time.Duration
}

// Frame is one radio transmission a relay requests. Every frame is a
// broadcast: each neighbour that hears the sender receives it with its
// link's delivery probability.
type Frame struct {
	// Body is the protocol's message, handed unchanged to every receiver.
	Body any
	// Data reports that the frame carries an alert's content. Other
	// frames, such as beacons and digests, are control traffic, counted
	// apart.
	Data bool
}

// Effects are the requests of a relay to the simulator after one call.
type Effects struct {
	Frames []Frame
	// Delivered lists the alerts this call handed to the node's user for
	// the first time.
	Delivered []AlertID
}

// Relay is the protocol state of one node, which the simulator drives
// from a single thread. It calls Originate on the sender, Receive for
// every frame that reaches the node while it is up, and Tick at the time
// NextTick returns. A node that is down gets no calls and keeps its
// state, as a relay that stores its alerts in flash memory does. Time is
// virtual, counted from the start of the run. A Relay must not use a
// clock, goroutines or randomness of its own, so that runs repeat.
type Relay interface {
	Originate(now time.Duration, a Alert) Effects
	Receive(now time.Duration, from int, body any) Effects
	Tick(now time.Duration) Effects
	// NextTick returns when Tick is next due, or a negative duration when
	// no tick is due.
	NextTick() time.Duration
}

// NeighbourAware is implemented by relays that must be told which nodes
// they hear. The simulator calls SetNeighbours with initial set on every
// node that is up at the start of the run, before the alert is sent. It
// calls it again with the full current list whenever a link of an up
// node appears or goes away, and when the node comes back up.
type NeighbourAware interface {
	SetNeighbours(now time.Duration, peers []int, initial bool) Effects
}

// Protocol creates the relays of one run.
type Protocol interface {
	Name() string
	// NewRelay returns the state of node id. seed is a per-node value
	// derived from the run's seed, for protocols that stagger timers.
	NewRelay(id int, seed uint64) Relay
}
