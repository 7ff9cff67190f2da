package kademliatest

import (
	"container/heap"
	"time"

	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

type eventKind uint8

const (
	// deliverRequest hands a request or one-way message to node to.
	deliverRequest eventKind = iota + 1
	// deliverResponse hands node from's response to the requester, to.
	deliverResponse
	// deliverFailure reports to node to that a request could not be sent.
	deliverFailure
	// tick runs node to's Tick.
	tick
)

// event is one scheduled happening. from and to are node indexes.
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
		if ev.kind == deliverRequest {
			n.stats.Undelivered++
		}
		return
	}
	now := n.Now()

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
		to.ticked, to.lastTick = true, n.now
		to.Machine.Tick(now)
		if d := to.Machine.NextDeadline(); !d.IsZero() && !d.After(now) {
			n.stats.StuckTicks++
		}
		n.flush(to)
	}
}

// send routes a message from a Machine's Outbox. A message to an address
// where no node listens gets no response. One to a node with another ID
// fails as the transport's handshake would, after a round trip.
func (n *Network) send(from *Node, out kademlia.Outgoing) {
	to := n.byAddr[out.To.Addr]
	if to == nil {
		n.count(out.Request, out.Msg)
		n.stats.Undelivered++
		return
	}
	if to.Contact.ID != out.To.ID {
		n.count(out.Request, out.Msg)
		if out.Request != 0 {
			rtt := n.opts.Latency(from, to, n.rng) + n.opts.Latency(to, from, n.rng)
			n.schedule(event{at: n.now + rtt, kind: deliverFailure, to: int32(from.Index), request: out.Request})
		}
		return
	}
	n.transmit(from, to, out.Request, out.Msg, deliverRequest)
}

// transmit counts a message, passes it through the codec and schedules its
// delivery, unless it is lost.
func (n *Network) transmit(from, to *Node, request uint64, msg wire.Message, kind eventKind) {
	msg, ok := n.count(request, msg)
	if !ok {
		return
	}
	if n.opts.Loss > 0 && n.rng.Float64() < n.opts.Loss {
		n.stats.Lost++
		return
	}
	n.schedule(event{
		at:   n.now + n.opts.Latency(from, to, n.rng),
		kind: kind, from: int32(from.Index), to: int32(to.Index),
		request: request, msg: msg,
	})
}

// count records a message in the statistics and returns the copy the
// receiver gets: the decoded encoding, or msg itself with Options.NoCodec.
func (n *Network) count(request uint64, msg wire.Message) (wire.Message, bool) {
	n.stats.Messages[msg.Type()]++
	if n.opts.NoCodec {
		return msg, true
	}
	b, err := wire.Encode(request, msg)
	if err != nil {
		n.stats.Invalid++
		return nil, false
	}
	n.stats.Bytes[msg.Type()] += len(b)
	_, decoded, err := wire.Decode(b)
	if err != nil {
		n.stats.Invalid++
		return nil, false
	}
	return decoded, true
}

// flush sends what node's Machine queued, stores its events and schedules
// its next tick.
func (n *Network) flush(node *Node) {
	for _, out := range node.Machine.Outbox() {
		n.send(node, out)
	}
	for _, ev := range node.Machine.Events() {
		if ev.Kind == kademlia.LookupDone && ev.Lookup != nil {
			node.storeResult(ev.Lookup)
		}
		if n.opts.OnEvent != nil {
			n.opts.OnEvent(node, ev)
		}
	}

	d := node.Machine.NextDeadline()
	if d.IsZero() {
		return
	}
	at := max(d.Sub(n.opts.Start), n.now)
	if !node.tickSet || at < node.tickAt {
		// NOTE: A deadline in the past after a Tick would make a real
		// driver spin; StuckTicks counts it, and the tick moves one
		// millisecond on so the simulation still advances.
		if at == n.now && node.ticked && node.lastTick == n.now {
			at += time.Millisecond
		}
		node.tickAt, node.tickSet = at, true
		n.schedule(event{at: at, kind: tick, to: int32(node.Index)})
	}
}
