package hierarchy

import (
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// forward is a lookup of this node that a representative runs for it.
type forward struct {
	id      kademlia.LookupID
	token   uint64
	target  identity.NodeID
	started time.Time
	// tried lists the representatives asked so far, the current one last.
	tried []identity.NodeID
	// request is the Forward request in flight, or 0 once the current
	// representative accepted; deadline is then when its answer is due.
	request  uint64
	deadline int64
	failed   int
}

// serving is a lookup this representative runs for a member.
type serving struct {
	lookup kademlia.LookupID // the routing Machine's ID
	origin wire.Contact
	token  uint64
}

// ownLookup maps a representative's own lookup in its routing Machine to
// the ID its caller got.
type ownLookup struct {
	inner, outer kademlia.LookupID
}

// maxRelayPath bounds the path of a relayed Forward. A member relays a
// Forward that reached it because the sender's view was out of date; two
// relays are enough for views that differ by one election, and the bound
// stops loops between members whose views disagree.
const maxRelayPath = 3

// Lookup starts a lookup for the K DHT participants closest to target and
// returns its ID; a LookupDone event carries the result. A representative
// runs it in its own routing table. A member forwards it to one of its
// representatives, and to the next when one fails or does not answer in
// time; the result then counts the forward as one more hop, and the
// forwards sent and failed in Queried and Failed. In Flat mode it is
// kademlia's Lookup.
func (m *Machine) Lookup(now time.Time, target identity.NodeID) kademlia.LookupID {
	if m.cfg.Mode == Flat {
		return m.routing.Lookup(now, target)
	}
	m.nextLookup++
	id := m.nextLookup
	if m.rep && m.routing != nil && (m.routing.Len() > 0 || len(m.otherRepresentatives(nil)) == 0) {
		inner := m.routing.Lookup(now, target)
		m.own = append(m.own, ownLookup{inner: inner, outer: id})
		m.pump(now)
		return id
	}

	m.forwards = append(m.forwards, forward{id: id, token: m.rng.Uint64() | 1, target: target, started: now})
	m.forwardNext(now, len(m.forwards)-1)
	m.pump(now)
	return id
}

// otherRepresentatives returns the live representatives other than this
// node and those in skip, best first.
func (m *Machine) otherRepresentatives(skip []identity.NodeID) []wire.Contact {
	var out []wire.Contact
	for _, c := range m.Representatives() {
		if c.ID != m.self.ID && !slices.Contains(skip, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

// forwardNext sends forward i to a representative not yet tried, or ends
// it with an empty result when none is left. The token picks the first
// one, so that the members' lookups spread over all representatives.
func (m *Machine) forwardNext(now time.Time, i int) {
	f := &m.forwards[i]
	reps := m.otherRepresentatives(f.tried)
	if len(reps) == 0 {
		m.finishForward(now, i, nil, wire.Contact{})
		return
	}
	to := reps[f.token%uint64(len(reps))]
	f.tried = append(f.tried, to.ID)
	f.deadline = noTime
	msg := &wire.Forward{Token: f.token, Target: f.target, Path: []wire.Contact{m.wireSelf()}}
	f.request = m.send(m.clock(now), to, msg, request{kind: reqForward, token: f.token})
}

func (m *Machine) findForward(token uint64) int {
	for i := range m.forwards {
		if m.forwards[i].token == token {
			return i
		}
	}
	return -1
}

// forwardAccepted starts the wait for the answer to forward token.
func (m *Machine) forwardAccepted(t int64, token uint64, request uint64) {
	if i := m.findForward(token); i >= 0 && m.forwards[i].request == request {
		m.forwards[i].request = 0
		m.forwards[i].deadline = t + int64(m.cfg.ForwardTimeout)
	}
}

// forwardFailed moves forward token on to the next representative after
// request failed or was refused.
func (m *Machine) forwardFailed(now time.Time, token uint64, request uint64) {
	if i := m.findForward(token); i >= 0 && m.forwards[i].request == request {
		m.forwards[i].failed++
		m.forwardNext(now, i)
	}
}

// expireForwards moves on the forwards whose answer is overdue. The
// representative accepted, so it is alive; it is only slow or lost the
// lookup, and it is not suspected.
func (m *Machine) expireForwards(now time.Time, t int64) {
	for i := 0; i < len(m.forwards); i++ {
		if f := &m.forwards[i]; f.request == 0 && t >= f.deadline {
			f.failed++
			before := len(m.forwards)
			m.forwardNext(now, i)
			if len(m.forwards) < before {
				i--
			}
		}
	}
}

func (m *Machine) forwardsDue() int64 {
	due := int64(noTime)
	for i := range m.forwards {
		if m.forwards[i].request == 0 {
			due = min(due, m.forwards[i].deadline)
		}
	}
	return due
}

// answerArrived ends the forward that msg answers. The representative that
// sent it takes part in the DHT but leaves itself out of its own lookup's
// result, so it joins the result here.
func (m *Machine) answerArrived(now time.Time, from wire.Contact, msg *wire.LookupAnswer) {
	i := m.findForward(msg.Token)
	if i < 0 || !slices.Contains(m.forwards[i].tried, from.ID) && m.findMember(from.ID) < 0 {
		return
	}
	m.finishForward(now, i, msg, from)
}

// finishForward reports forward i with the answer msg from rep, or as
// failed when msg is nil.
func (m *Machine) finishForward(now time.Time, i int, msg *wire.LookupAnswer, rep wire.Contact) {
	f := m.forwards[i]
	m.forwards = slices.Delete(m.forwards, i, i+1)

	res := &kademlia.LookupResult{
		ID: f.id, Target: f.target,
		Queried: len(f.tried), Failed: f.failed,
		Started: f.started, Finished: now,
	}
	if msg != nil {
		res.Hops = int(msg.Hops) + 1
		res.Queried += int(msg.Queried)
		res.Failed += int(msg.Failed)
		res.Closest = m.mergeClosest(f.target, msg.Closest, rep)
	}
	m.events = append(m.events, kademlia.Event{Kind: kademlia.LookupDone, Lookup: res})
}

// mergeClosest returns the K contacts closest to target among closest and
// rep, without this node.
func (m *Machine) mergeClosest(target identity.NodeID, closest []wire.Contact, rep wire.Contact) []wire.Contact {
	out := make([]wire.Contact, 0, len(closest)+1)
	seen := false
	for _, c := range closest {
		if c.ID != m.self.ID {
			out = append(out, c)
		}
		seen = seen || c.ID == rep.ID
	}
	if !seen && rep.Validate() == nil {
		out = append(out, rep)
	}
	sortContacts(out, target)
	return out[:min(len(out), m.cfg.Kademlia.K)]
}

// handleForward serves a Forward from a member. A representative runs the
// lookup and answers later with a LookupAnswer to the path's first hop. A
// member that got it because the sender's view is out of date relays it to
// a representative, adding itself to the path. Without a representative
// to relay to, the node refers the sender to those it knows.
func (m *Machine) handleForward(now time.Time, from wire.Contact, msg *wire.Forward) wire.Message {
	t := m.clock(now)
	path := slices.Clone(msg.Path)
	if last := &path[len(path)-1]; last.ID == from.ID {
		last.Addr = from.Addr
	}
	if path[0].Validate() != nil || slices.ContainsFunc(path, func(c wire.Contact) bool { return c.ID == m.self.ID }) {
		return badRequest("hierarchy: forward path has no usable origin or already passed this node")
	}
	m.learnPath(t, path)

	if m.rep && m.routing != nil {
		inner := m.routing.Lookup(now, msg.Target)
		m.serving = append(m.serving, serving{lookup: inner, origin: path[0], token: msg.Token})
		return &wire.ForwardAck{}
	}

	var skip []identity.NodeID
	for _, c := range path {
		skip = append(skip, c.ID)
	}
	reps := m.otherRepresentatives(skip)
	if len(reps) == 0 || len(path) >= maxRelayPath {
		return &wire.Referral{Contacts: m.otherRepresentatives(nil)}
	}
	relay := &wire.Forward{Token: msg.Token, Target: msg.Target, Path: append(path, m.wireSelf())}
	m.send(t, reps[0], relay, request{kind: reqRelay})
	return &wire.ForwardAck{}
}

// learnPath considers the nodes on a Forward's path, which are members of
// this group, as neighbours; unknown ones are verified before use.
func (m *Machine) learnPath(t int64, path []wire.Contact) {
	for _, c := range path {
		if c.ID == m.self.ID || c.Validate() != nil || m.findMember(c.ID) >= 0 {
			continue
		}
		if i := m.addMember(t, &wire.Member{Contact: c}, false); i >= 0 {
			m.sync(t, i)
		}
	}
}

// routingEvent acts on an event of the routing Machine: a finished lookup
// goes back to the member it was run for or to this node's caller, and
// the join lookups of seedRouting end here.
func (m *Machine) routingEvent(now time.Time, ev kademlia.Event) {
	if ev.Kind != kademlia.LookupDone {
		m.events = append(m.events, ev)
		return
	}
	res := ev.Lookup
	if i := slices.IndexFunc(m.serving, func(s serving) bool { return s.lookup == res.ID }); i >= 0 {
		s := m.serving[i]
		m.serving = slices.Delete(m.serving, i, i+1)
		m.outbox = append(m.outbox, kademlia.Outgoing{To: s.origin, Msg: answerFor(s.token, res)})
	}
	if i := slices.IndexFunc(m.own, func(o ownLookup) bool { return o.inner == res.ID }); i >= 0 {
		mine := *res
		mine.ID = m.own[i].outer
		m.own = slices.Delete(m.own, i, i+1)
		m.events = append(m.events, kademlia.Event{Kind: kademlia.LookupDone, Lookup: &mine})
	}
	if m.draining && len(m.serving) == 0 && len(m.own) == 0 {
		m.retire(now)
	}
}

// answerFor builds the LookupAnswer for a lookup run for a member, with
// the counts clamped to the wire's field sizes.
func answerFor(token uint64, res *kademlia.LookupResult) *wire.LookupAnswer {
	return &wire.LookupAnswer{
		Token:   token,
		Closest: res.Closest[:min(len(res.Closest), wire.MaxContacts)],
		Hops:    uint8(min(max(res.Hops, 0), 255)),
		Queried: uint16(min(max(res.Queried, 0), 65535)),
		Failed:  uint16(min(max(res.Failed, 0), 65535)),
	}
}
