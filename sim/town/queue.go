package town

import (
	"container/heap"
	"time"
)

// eventKind is the action an event takes when its time comes.
type eventKind uint8

const (
	// evArrive hands a frame from node from to node node.
	evArrive eventKind = iota + 1
	// evTick runs node's Tick, unless the node re-armed it since.
	evTick
	// evToggle takes relay node down, or up again, under churn.
	evToggle
	// evMove moves every person one step.
	evMove
)

type event struct {
	at   time.Duration
	seq  uint64 // scheduling order, which breaks ties in at
	kind eventKind
	node int32
	from int32
	body any
}

// eventQueue is a min-heap of events ordered by time and then by
// scheduling order. Sequence numbers are unique, so the order is total
// and a run never depends on how the heap breaks ties.
type eventQueue struct {
	items []event
	seq   uint64
}

func (q *eventQueue) Len() int { return len(q.items) }

func (q *eventQueue) Less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *eventQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }

func (q *eventQueue) Push(x any) { q.items = append(q.items, x.(event)) }

func (q *eventQueue) Pop() any {
	last := len(q.items) - 1
	e := q.items[last]
	q.items[last] = event{} // drop the body reference for the collector
	q.items = q.items[:last]
	return e
}

func (q *eventQueue) schedule(e event) {
	q.seq++
	e.seq = q.seq
	heap.Push(q, e)
}

func (q *eventQueue) next() event { return heap.Pop(q).(event) }
