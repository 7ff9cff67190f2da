package town

import (
	"slices"
	"time"
)

// StoreForward floods an alert and keeps it until it expires. Every
// node broadcasts a beacon each BeaconInterval listing the alerts it
// holds; a holder that hears a beacon lacking one of its alerts
// broadcasts that alert again. A neighbour that missed the flood, came
// back up or walked into range therefore gets the alert within about one
// beacon interval of being heard.
//
// NOTE: StoreForward is the simulator's own model of the Yui alert
// protocol. The yui protocol of `yui sim town` runs it until package
// alert's core is wired in through an adapter to Relay.
type StoreForward struct {
	BeaconInterval time.Duration
}

// Name returns "yui".
func (p StoreForward) Name() string { return "yui" }

// NewRelay returns a node that holds nothing. Its first beacon falls at a
// point of the first interval derived from seed, so that the nodes'
// beacons are spread over the interval.
func (p StoreForward) NewRelay(id int, seed uint64) Relay {
	offset := time.Duration(seed % uint64(max(p.BeaconInterval, 1)))
	return &storeRelay{
		interval: p.BeaconInterval, nextBeacon: offset,
		held: map[AlertID]Alert{}, pushed: map[AlertID]time.Duration{},
	}
}

// storeData carries an alert.
type storeData struct{ Alert Alert }

// storeBeacon lists the alerts its sender holds.
type storeBeacon struct{ Held []AlertID }

type storeRelay struct {
	interval   time.Duration
	nextBeacon time.Duration
	held       map[AlertID]Alert
	// pushed is when each alert was last broadcast, which limits repeats
	// to one per half interval however many beacons ask for it.
	pushed map[AlertID]time.Duration
}

func (r *storeRelay) Originate(now time.Duration, a Alert) Effects {
	r.held[a.ID] = a
	r.pushed[a.ID] = now
	return Effects{Frames: []Frame{{Body: storeData{a}, Data: true}}, Delivered: []AlertID{a.ID}}
}

func (r *storeRelay) Receive(now time.Duration, from int, body any) Effects {
	switch m := body.(type) {
	case storeData:
		return r.receiveData(now, m.Alert)
	case storeBeacon:
		return r.receiveBeacon(now, m.Held)
	}
	return Effects{}
}

func (r *storeRelay) receiveData(now time.Duration, a Alert) Effects {
	if _, ok := r.held[a.ID]; ok || now >= a.Expires {
		return Effects{}
	}
	r.held[a.ID] = a
	r.pushed[a.ID] = now
	return Effects{Frames: []Frame{{Body: storeData{a}, Data: true}}, Delivered: []AlertID{a.ID}}
}

func (r *storeRelay) receiveBeacon(now time.Duration, theirs []AlertID) Effects {
	var e Effects
	for _, id := range r.sortedHeld() {
		if slices.Contains(theirs, id) || now-r.pushed[id] < r.interval/2 {
			continue
		}
		r.pushed[id] = now
		e.Frames = append(e.Frames, Frame{Body: storeData{r.held[id]}, Data: true})
	}
	return e
}

func (r *storeRelay) Tick(now time.Duration) Effects {
	if now < r.nextBeacon {
		return Effects{}
	}
	for id, a := range r.held {
		if now >= a.Expires {
			delete(r.held, id)
			delete(r.pushed, id)
		}
	}
	r.nextBeacon = now + r.interval
	return Effects{Frames: []Frame{{Body: storeBeacon{r.sortedHeld()}}}}
}

func (r *storeRelay) NextTick() time.Duration { return r.nextBeacon }

// sortedHeld returns the held ids in ascending order, so that frames
// never depend on map iteration order.
func (r *storeRelay) sortedHeld() []AlertID {
	ids := make([]AlertID, 0, len(r.held))
	for id := range r.held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
