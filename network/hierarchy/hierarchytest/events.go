package hierarchytest

import (
	"container/heap"
	"time"

	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

type eventKind uint8

const (
	deliverRequest  eventKind = iota + 1 // a request or one-way message for to
	deliverResponse                      // from's response for the requester to
	deliverFailure                       // to's request could not be sent
	tick                                 // to's Tick
)

// event is one scheduled happening; from and to are node indexes.
type event struct {
	at       time.Duration
	seq      uint64
	kind     eventKind
	from, to int32
	request  uint64
	msg      wire.Message
}

// eventQueue is a min-heap of events by time, then scheduling order.
type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	old[len(old)-1] = event{}
	*q = old[:len(old)-1]
	return ev
}

func (n *Network) schedule(ev event) {
	n.seq++
	ev.seq = n.seq
	heap.Push(&n.queue, ev)
}

func (n *Network) process(ev event) {
	to := n.nodes[ev.to]
	if !to.alive {
		return
	}
	now := n.clockOf(to)
	switch ev.kind {
	case deliverRequest:
		from := n.nodes[ev.from]
		resp := to.Machine.HandleRequest(now, from.Contact, ev.request, ev.msg)
		n.flush(to)
		if ev.request != 0 && resp != nil {
			n.transmit(to, from, ev.request, resp, deliverResponse)
		}
	case deliverResponse:
		to.Machine.HandleResponse(now, n.nodes[ev.from].Contact, ev.request, ev.msg)
		n.flush(to)
	case deliverFailure:
		to.Machine.HandleFailure(now, ev.request)
		n.flush(to)
	case tick:
		if !to.tickSet || to.tickAt != ev.at {
			return // superseded by an earlier tick
		}
		to.tickSet = false
		to.Machine.Tick(now)
		if d := to.Machine.NextDeadline(); !d.IsZero() && !d.After(now) {
			n.stats.StuckTicks++
		}
		n.flush(to)
	}
}

// send routes a message from a Machine's Outbox. A request to an address
// where no node listens, or where a node with another ID listens, fails
// after a round trip, as a transport's handshake would.
func (n *Network) send(from *Node, out kademlia.Outgoing) {
	to := n.byAddr[out.To.Addr]
	if to == nil || to.Contact.ID != out.To.ID {
		n.stats.Messages[out.Msg.Type()]++
		if out.Request != 0 {
			n.schedule(event{at: n.now + 10*time.Millisecond, kind: deliverFailure, to: int32(from.Index), request: out.Request})
		}
		return
	}
	n.transmit(from, to, out.Request, out.Msg, deliverRequest)
}

// transmit counts a message, passes it through the codec and schedules its
// delivery unless it is lost.
func (n *Network) transmit(from, to *Node, request uint64, msg wire.Message, kind eventKind) {
	n.stats.Messages[msg.Type()]++
	if !n.opts.NoCodec {
		b, err := wire.Encode(request, msg)
		if err == nil {
			n.stats.Bytes[msg.Type()] += len(b)
			_, msg, err = wire.Decode(b)
		}
		if err != nil {
			n.stats.Invalid++
			return
		}
	}
	if n.split && from.side != to.side {
		return
	}
	if n.opts.Loss > 0 && n.rng.Float64() < n.opts.Loss {
		return
	}
	n.schedule(event{
		at:   n.now + n.latency(from, to),
		kind: kind, from: int32(from.Index), to: int32(to.Index),
		request: request, msg: msg,
	})
}

// flush sends what node's Machine queued, keeps its lookup results and
// schedules its next tick.
func (n *Network) flush(node *Node) {
	if !node.alive {
		node.Machine.Outbox()
		node.Machine.Events()
		return
	}
	for _, out := range node.Machine.Outbox() {
		n.send(node, out)
	}
	for _, ev := range node.Machine.Events() {
		if ev.Kind != kademlia.LookupDone || ev.Lookup == nil {
			continue
		}
		if node.results == nil {
			node.results = make(map[kademlia.LookupID]*kademlia.LookupResult)
		}
		node.results[ev.Lookup.ID] = ev.Lookup
	}

	d := node.Machine.NextDeadline()
	if d.IsZero() {
		return
	}
	// A deadline in the past runs on the next millisecond, so a Machine
	// that keeps one cannot stall virtual time.
	at := max(d.Sub(n.start)-node.skew, n.now)
	if at == n.now {
		at += time.Millisecond
	}
	if !node.tickSet || at < node.tickAt {
		node.tickAt, node.tickSet = at, true
		n.schedule(event{at: at, kind: tick, to: int32(node.Index)})
	}
}
