package town

import "time"

// Flood is plain flooding with a hop limit, as LoRa mesh radios such as
// Meshtastic do it (meshtastic.org/docs/overview). A node rebroadcasts a
// message it hears for the first time and lowers its hop limit by one. It
// never rebroadcasts a message whose hop limit has reached 0.
// The sender retransmits up to Retries times when it hears no neighbour
// rebroadcast within AckTimeout. Nothing is stored for neighbours that
// appear later.
type Flood struct {
	HopLimit   int
	Retries    int
	AckTimeout time.Duration
}

// DefaultHopLimit is the hop limit Meshtastic radios start a message
// with unless configured otherwise.
const DefaultHopLimit = 3

// Name returns "flood".
func (f Flood) Name() string { return "flood" }

// NewRelay returns a node that has seen nothing.
func (f Flood) NewRelay(id int, seed uint64) Relay {
	return &floodRelay{cfg: f, seen: map[AlertID]bool{}, retryAt: -1}
}

// floodMessage is the frame body of Flood.
type floodMessage struct {
	Alert    Alert
	HopLimit int
}

type floodRelay struct {
	cfg  Flood
	seen map[AlertID]bool

	// The sender's retransmission state, for its one alert.
	own     *floodMessage
	acked   bool
	retries int
	retryAt time.Duration
}

func (r *floodRelay) Originate(now time.Duration, a Alert) Effects {
	r.seen[a.ID] = true
	r.own = &floodMessage{Alert: a, HopLimit: r.cfg.HopLimit}
	r.retryAt = now + r.cfg.AckTimeout
	return Effects{Frames: []Frame{{Body: *r.own, Data: true}}, Delivered: []AlertID{a.ID}}
}

func (r *floodRelay) Receive(now time.Duration, from int, body any) Effects {
	m, ok := body.(floodMessage)
	if !ok {
		return Effects{}
	}
	if r.seen[m.Alert.ID] {
		// A copy of our own alert means a neighbour rebroadcast it.
		if r.own != nil && r.own.Alert.ID == m.Alert.ID {
			r.acked = true
			r.retryAt = -1
		}
		return Effects{}
	}
	r.seen[m.Alert.ID] = true
	e := Effects{Delivered: []AlertID{m.Alert.ID}}
	if m.HopLimit > 0 {
		e.Frames = []Frame{{Body: floodMessage{Alert: m.Alert, HopLimit: m.HopLimit - 1}, Data: true}}
	}
	return e
}

func (r *floodRelay) Tick(now time.Duration) Effects {
	if r.own == nil || r.acked || r.retryAt < 0 || now < r.retryAt {
		return Effects{}
	}
	if r.retries >= r.cfg.Retries {
		r.retryAt = -1
		return Effects{}
	}
	r.retries++
	r.retryAt = now + r.cfg.AckTimeout
	return Effects{Frames: []Frame{{Body: *r.own, Data: true}}}
}

func (r *floodRelay) NextTick() time.Duration { return r.retryAt }
