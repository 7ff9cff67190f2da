package town

import (
	"slices"
	"time"
)

// StoreForward floods an alert and keeps it until it expires. Every
// node broadcasts a beacon each BeaconInterval listing the alerts it
// holds. A holder that hears a beacon lacking one of its alerts
// broadcasts that alert again at once. It broadcasts it once more at each
// of its own beacons while that neighbour lacked it within the last three
// intervals, so a lossy link gets one try per interval, not one per beacon
// that happens to get through. A neighbour that missed the
// flood, came back up or walked into range gets the alert within about
// one beacon interval of being heard.
//
// StoreForward is the simulator's broadcast-only variant of the alert
// flood of package alert, which AlertCore runs: beacons to all neighbours
// take the place of summaries to each one.
type StoreForward struct {
	BeaconInterval time.Duration
}

// Name returns "store".
func (p StoreForward) Name() string { return "store" }

// NewRelay returns a node that holds nothing. Its first beacon falls at a
// point of the first interval derived from seed, so that the nodes'
// beacons are spread over the interval.
func (p StoreForward) NewRelay(id int, seed uint64) Relay {
	offset := time.Duration(seed % uint64(max(p.BeaconInterval, 1)))
	return &storeRelay{
		interval: p.BeaconInterval, nextBeacon: offset,
		held: map[AlertID]Alert{}, pushed: map[AlertID]time.Duration{},
		lacking: map[int]lack{},
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
	// lacking lists, per neighbour, the held alerts its last beacon did
	// not list.
	lacking map[int]lack
}

// lack is the set of alerts a neighbour's last beacon lacked, with the
// time it was heard.
type lack struct {
	ids   []AlertID
	heard time.Duration
}

// lackMemory is how many beacon intervals a holder keeps pushing to a
// neighbour it no longer hears.
const lackMemory = 3

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
		return r.receiveBeacon(now, from, m.Held)
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

func (r *storeRelay) receiveBeacon(now time.Duration, from int, theirs []AlertID) Effects {
	var missing []AlertID
	for _, id := range r.sortedHeld() {
		if !slices.Contains(theirs, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		delete(r.lacking, from)
		return Effects{}
	}
	r.lacking[from] = lack{ids: missing, heard: now}
	return r.push(now, missing)
}

// push broadcasts each of ids not broadcast within the last half
// interval.
func (r *storeRelay) push(now time.Duration, ids []AlertID) Effects {
	var e Effects
	for _, id := range ids {
		a, ok := r.held[id]
		if !ok || now-r.pushed[id] < r.interval/2 {
			continue
		}
		r.pushed[id] = now
		e.Frames = append(e.Frames, Frame{Body: storeData{a}, Data: true})
	}
	return e
}

// wanted returns the held alerts that a neighbour heard within the last
// lackMemory intervals lacked, in ascending order.
func (r *storeRelay) wanted(now time.Duration) []AlertID {
	var ids []AlertID
	for from, l := range r.lacking {
		if now-l.heard > lackMemory*r.interval {
			delete(r.lacking, from)
			continue
		}
		for _, id := range l.ids {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
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
	e := r.push(now, r.wanted(now))
	e.Frames = append(e.Frames, Frame{Body: storeBeacon{r.sortedHeld()}})
	return e
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
