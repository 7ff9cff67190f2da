package sim

import "github.com/yuinet/yui/network/wire"

// eventKind is the action an event takes when its time comes.
type eventKind uint8

const (
	// evRequest hands a request, or a one-way message when request is 0,
	// from node from to node to.
	evRequest eventKind = iota + 1
	// evResponse hands node from's response to the requester, node to.
	evResponse
	// evFailure reports to node to that its request failed in the transport.
	evFailure
	// evTick runs node to's Tick, unless a later arming superseded it.
	evTick
	// evCall runs the scheduled function calls[request].
	evCall
)

// event is one scheduled happening. It holds no pointer besides msg, and
// a million of them fit in about 56 MB.
type event struct {
	at      int64  // virtual nanoseconds since the start
	seq     uint64 // scheduling order, which breaks ties in at
	msg     wire.Message
	request uint64
	from    int32 // node index
	to      int32 // node index
	kind    eventKind
	class   trafficClass // the request's class, which its response takes
}

// before orders events by time, then by scheduling order. Sequence
// numbers are unique, so the order is total and a run never depends on
// how the heap breaks ties.
func (e *event) before(o *event) bool {
	if e.at != o.at {
		return e.at < o.at
	}
	return e.seq < o.seq
}

// eventQueue is a 4-ary min-heap of events. A 4-ary heap is shallower
// than a binary one and keeps a node's children in one or two cache
// lines, which matters with tens of millions of events in flight.
type eventQueue struct {
	items []event
}

func (q *eventQueue) len() int { return len(q.items) }

// peek returns the earliest event. The queue must not be empty.
func (q *eventQueue) peek() *event { return &q.items[0] }

func (q *eventQueue) push(e event) {
	q.items = append(q.items, e)
	i := len(q.items) - 1
	for i > 0 {
		parent := (i - 1) / 4
		if !q.items[i].before(&q.items[parent]) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

// pop removes and returns the earliest event. The queue must not be
// empty.
func (q *eventQueue) pop() event {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items[last] = event{} // drop the message reference for the collector
	q.items = q.items[:last]
	q.siftDown(0)
	return top
}

func (q *eventQueue) siftDown(i int) {
	n := len(q.items)
	for {
		first := 4*i + 1
		if first >= n {
			return
		}
		least := first
		for c := first + 1; c < first+4 && c < n; c++ {
			if q.items[c].before(&q.items[least]) {
				least = c
			}
		}
		if !q.items[least].before(&q.items[i]) {
			return
		}
		q.items[i], q.items[least] = q.items[least], q.items[i]
		i = least
	}
}
