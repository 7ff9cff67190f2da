package sim

import (
	"time"

	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// process carries out one event.
func (n *Network) process(ev *event) {
	if ev.kind == evCall {
		f := n.calls[ev.request]
		n.calls[ev.request] = nil
		n.freeCalls = append(n.freeCalls, ev.request)
		f()
		return
	}

	to := &n.nodes[ev.to]
	if !to.alive() {
		if ev.kind == evRequest || ev.kind == evResponse {
			n.stats.Undelivered++
		}
		return
	}
	now := n.wallNow()
	if n.delivered != nil && ev.kind != evTick {
		n.delivered(ev)
	}

	switch ev.kind {
	case evRequest:
		resp := to.member.HandleRequest(now, n.contactOf(ev.from), ev.request, ev.msg)
		n.flush(ev.to)
		if ev.request != 0 && resp != nil {
			n.transmit(ev.to, ev.from, ev.request, resp, evResponse, ev.class)
		}
	case evResponse:
		to.member.HandleResponse(now, n.contactOf(ev.from), ev.request, ev.msg)
		n.flush(ev.to)
	case evFailure:
		to.member.HandleFailure(now, ev.request)
		n.flush(ev.to)
	case evTick:
		n.tick(ev)
	}
}

// tick runs a node's Tick for an armed tick event. A tick superseded by an
// earlier arming is skipped. A tick whose node's deadline has moved
// later, because the request it waited for got its response, only
// re-arms. Tick would find nothing due, and skipping it saves most of the
// ticks of a busy node.
func (n *Network) tick(ev *event) {
	self := &n.nodes[ev.to]
	if self.tickAt != ev.at {
		return
	}
	self.tickAt = noTick
	if d := self.member.NextDeadline(); !d.IsZero() && d.Sub(n.start) > time.Duration(n.now) {
		n.arm(ev.to, n.now)
		return
	}

	m := self.member
	m.Tick(n.wallNow())
	// drain may run callbacks that start nodes and so move the node
	// slice: self is not used after it.
	n.drain(ev.to)
	if !n.nodes[ev.to].alive() {
		return
	}
	if d := m.NextDeadline(); !d.IsZero() && d.Sub(n.start) <= time.Duration(n.now) {
		// NOTE: A deadline that is still due after Tick would make a real
		// driver spin. StuckTicks counts it, and the next tick comes one
		// millisecond later so that the simulation moves on.
		n.stats.StuckTicks++
		n.arm(ev.to, n.now+int64(time.Millisecond))
		return
	}
	n.arm(ev.to, n.now)
}

// flush sends what node i queued, hands its lookup results to their
// callers and arms its next tick.
func (n *Network) flush(i int32) {
	n.drain(i)
	n.arm(i, n.now)
}

// drain sends node i's outbox and delivers its lookup results.
func (n *Network) drain(i int32) {
	m := n.nodes[i].member
	if out := m.Outbox(); len(out) > 0 {
		class := n.classOf(i)
		for k := range out {
			n.send(i, out[k], class)
		}
	}
	for _, ev := range m.Events() {
		if ev.Kind != kademlia.LookupDone || ev.Lookup == nil {
			continue
		}
		key := lookupKey{i, ev.Lookup.ID}
		if done, ok := n.watch[key]; ok {
			delete(n.watch, key)
			done(ev.Lookup)
		}
	}
}

// arm schedules node i's next tick at its deadline, but not before
// earliest, unless an earlier tick is armed already.
//
// Requests time out inside the Machines, whose NextDeadline covers the
// deadline of every request in flight, adaptive ones included. Events run
// in time order, so a response that arrives after its request's deadline
// finds the request already failed and is ignored, as a transport that
// bounds each call by its timeout would drop it.
func (n *Network) arm(i int32, earliest int64) {
	self := &n.nodes[i]
	if !self.alive() {
		return
	}
	d := self.member.NextDeadline()
	if d.IsZero() {
		return
	}
	at := max(int64(d.Sub(n.start)), earliest)
	if self.tickAt != noTick && self.tickAt <= at {
		return
	}
	self.tickAt = at
	n.schedule(event{at: at, kind: evTick, to: i})
}

// classOf returns the traffic class of what node i sends now.
func (n *Network) classOf(i int32) trafficClass {
	if n.now-n.nodes[i].started < int64(n.cfg.JoinPeriod) {
		return classJoin
	}
	return classSteady
}

// send routes one message of node from's outbox. A message to an address
// where no node listens gets no response, so its request times out. One
// to a node with another ID fails after a round trip, as the transport's
// handshake would fail.
func (n *Network) send(from int32, out kademlia.Outgoing, class trafficClass) {
	msg, ok := n.count(class, out.Request, out.Msg)
	if !ok {
		return
	}
	to, ok := n.indexOf(out.To.Addr)
	if !ok {
		n.stats.Undelivered++
		return
	}
	if n.nodes[to].id != out.To.ID {
		if out.Request != 0 {
			rtt := n.delay(from, to) + n.delay(to, from)
			n.schedule(event{at: n.now + rtt, kind: evFailure, to: from, request: out.Request})
		}
		return
	}
	n.deliverLater(from, to, out.Request, msg, evRequest, class)
}

// transmit counts a response and delivers it later.
func (n *Network) transmit(from, to int32, request uint64, msg wire.Message, kind eventKind, class trafficClass) {
	msg, ok := n.count(class, request, msg)
	if !ok {
		return
	}
	n.deliverLater(from, to, request, msg, kind, class)
}

// deliverLater schedules the delivery of a counted message after the
// link's delay, unless a partition or random loss drops it.
func (n *Network) deliverLater(from, to int32, request uint64, msg wire.Message, kind eventKind, class trafficClass) {
	if n.partition != nil && n.partition(from) != n.partition(to) {
		n.stats.Partitioned++
		return
	}
	if n.cfg.Loss > 0 && n.losses.Float64() < n.cfg.Loss {
		n.stats.Lost++
		return
	}
	n.schedule(event{
		at: n.now + n.delay(from, to), kind: kind, from: from, to: to,
		request: request, msg: msg, class: class,
	})
}

// delay draws the one-way delay from node a to node b.
func (n *Network) delay(a, b int32) int64 {
	na, nb := &n.nodes[a], &n.nodes[b]
	return n.cfg.Links.delay(na.site, nb.site, na.lan == nb.lan, n.delays)
}

// count records a message in the statistics and returns the copy the
// receiver gets: msg itself, or with Config.Codec its decoded encoding.
func (n *Network) count(class trafficClass, request uint64, msg wire.Message) (wire.Message, bool) {
	if n.cfg.Codec {
		return n.countEncoded(class, request, msg)
	}
	size, ok := wireSize(request, msg)
	if !ok {
		n.stats.Invalid++
		return nil, false
	}
	n.stats.add(class, msg.Type(), size)
	if n.sizeCheckDue() {
		b, err := wire.Encode(request, msg)
		n.checkSize(size, len(b), err)
	}
	return msg, true
}

func (n *Network) countEncoded(class trafficClass, request uint64, msg wire.Message) (wire.Message, bool) {
	b, err := wire.Encode(request, msg)
	if err != nil {
		n.stats.Invalid++
		return nil, false
	}
	n.stats.add(class, msg.Type(), len(b))
	if n.sizeCheckDue() {
		size, _ := wireSize(request, msg)
		n.checkSize(size, len(b), nil)
	}
	_, decoded, err := wire.Decode(b)
	if err != nil {
		n.stats.Invalid++
		return nil, false
	}
	return decoded, true
}

// sizeCheckDue reports whether the message being counted is the one in
// Config.SizeCheckEvery whose computed size is checked. Both codec modes
// check the same messages, so their counters agree.
func (n *Network) sizeCheckDue() bool {
	n.encoded++
	if n.encoded < n.cfg.SizeCheckEvery {
		return false
	}
	n.encoded = 0
	return true
}

// checkSize compares a computed size with the encoded one.
func (n *Network) checkSize(computed, encoded int, err error) {
	n.stats.SizeChecks++
	if err != nil || computed != encoded {
		n.stats.SizeMismatches++
	}
}
