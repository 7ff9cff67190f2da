package sched

import (
	"container/heap"
	"slices"
)

// Keys of the pending-unit heaps. A unit sits in the heap of every
// worker that holds one of its segments, in the heap of its cluster and
// in the heap of all units. Lower-tier workers look only at the "small"
// heaps, which list the units of at most LowerTierMaxReadings readings.
const (
	keyAll        = "*"
	prefixHolder  = "h:"
	prefixCluster = "c:"
	prefixSmall   = "s:"
	smallAllKey   = prefixSmall + keyAll
)

// pendingIndex finds a worker's next unit without scanning every open
// unit. Each heap orders unit IDs from the lowest. Entries go stale when
// their unit is assigned, committed or failed; they are dropped when they
// reach the top, and a unit whose lease ends is pushed again. So a heap
// may hold one unit twice, which is harmless because a unit is returned
// only while it is pending.
//
// The heaps of holders and clusters list a unit as soon as it is
// pending; the heaps of all units list it only once it is released to
// any worker (see Config.LocalityWait).
type pendingIndex struct {
	heaps map[string]*unitHeap
	// local lists, by unit, the heaps of its holders and cluster; all
	// the heaps of all units it belongs to.
	local, all [][]string
}

// newPendingIndex files every unit under its holders and cluster, and
// under the heaps of all units those that released takes.
func newPendingIndex(units []unitState, small func(*Unit) bool, released func(UnitID) bool) *pendingIndex {
	x := &pendingIndex{heaps: map[string]*unitHeap{}, local: make([][]string, len(units)),
		all: make([][]string, len(units))}
	for i := range units {
		u := &units[i].unit
		local := localKeys(u)
		all := []string{keyAll}
		if small(u) {
			for _, k := range local {
				local = append(local, prefixSmall+k)
			}
			all = append(all, smallAllKey)
		}
		x.local[i], x.all[i] = local, all
		keys := local
		if released(u.ID) {
			keys = slices.Concat(local, all)
		}
		for _, k := range keys {
			// IDs arrive ascending, so appending keeps the heap order.
			*x.heap(k) = append(*x.heap(k), u.ID)
		}
	}
	return x
}

func (x *pendingIndex) heap(key string) *unitHeap {
	h := x.heaps[key]
	if h == nil {
		h = &unitHeap{}
		x.heaps[key] = h
	}
	return h
}

// localKeys returns the heaps of a unit's holders and cluster.
func localKeys(u *Unit) []string {
	var keys []string
	if u.Cluster != "" {
		keys = append(keys, prefixCluster+u.Cluster)
	}
	seen := map[WorkerID]bool{}
	for _, s := range u.Segments {
		for _, h := range s.Holders {
			if !seen[h] {
				seen[h] = true
				keys = append(keys, prefixHolder+string(h))
			}
		}
	}
	return keys
}

// requeue pushes a unit that may have become pending again to the heaps
// of its holders and cluster, and to those of all units if released.
func (x *pendingIndex) requeue(id UnitID, released bool) {
	for _, k := range x.local[id] {
		heap.Push(x.heap(k), id)
	}
	if released {
		x.release(id)
	}
}

// release pushes a unit to the heaps of all units.
func (x *pendingIndex) release(id UnitID) {
	for _, k := range x.all[id] {
		heap.Push(x.heap(k), id)
	}
}

// first returns the lowest unit of heap key that is pending and that
// accept takes, or nil. It drops the stale entries it passes.
func (x *pendingIndex) first(key string, pending, accept func(UnitID) bool) (UnitID, bool) {
	h := x.heaps[key]
	if h == nil {
		return 0, false
	}
	var skipped []UnitID
	defer func() {
		for _, id := range skipped {
			heap.Push(h, id)
		}
	}()
	for h.Len() > 0 {
		id := (*h)[0]
		if !pending(id) {
			heap.Pop(h)
			continue
		}
		if accept(id) {
			return id, true
		}
		// A unit this worker may not run, such as one it ran before,
		// can still go to another worker, so it goes back afterwards.
		skipped = append(skipped, heap.Pop(h).(UnitID))
	}
	return 0, false
}

// unitHeap is a min-heap of unit IDs.
type unitHeap []UnitID

func (h unitHeap) Len() int           { return len(h) }
func (h unitHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h unitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *unitHeap) Push(x any)        { *h = append(*h, x.(UnitID)) }
func (h *unitHeap) Pop() any {
	old := *h
	id := old[len(old)-1]
	*h = old[:len(old)-1]
	return id
}

// workerHeap is a min-heap of idle workers by the order they joined.
// Entries of workers that became busy or left are stale and dropped when
// they reach the top.
type workerHeap []*workerState

func (h workerHeap) Len() int           { return len(h) }
func (h workerHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h workerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *workerHeap) Push(x any)        { *h = append(*h, x.(*workerState)) }
func (h *workerHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

// addCluster files unit id under the heaps of cluster, from now on.
func (x *pendingIndex) addCluster(id UnitID, cluster string, small bool) {
	keys := []string{prefixCluster + cluster}
	if small {
		keys = append(keys, prefixSmall+prefixCluster+cluster)
	}
	for _, k := range keys {
		x.local[id] = append(x.local[id], k)
		heap.Push(x.heap(k), id)
	}
}
