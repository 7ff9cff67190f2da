package kademlia

import (
	"fmt"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// HandleRequest serves a message from another node and returns the
// response, or nil for a one-way message:
//
//   - Ping returns a Pong with the address the request came from.
//   - FindNode returns Nodes with the K closest contacts to its target
//     that the requester can use from its address (see usableBy), leaving
//     out the requester itself. The contacts on its path are candidates
//     for the table, after the scope rules for contacts sent by another
//     node (see hearsayFrom).
//   - Leave drops the sender from the table. Sent one-way (request 0) it
//     gets no response; sent as a request it gets an Ack.
//
// Anything else gets a *wire.Error. A request is evidence that the sender
// is alive, so the sender is considered for the table.
func (m *Machine) HandleRequest(now time.Time, from wire.Contact, request uint64, msg wire.Message) wire.Message {
	t := m.clock(now)
	switch msg := msg.(type) {
	case nil:
		return badRequest("kademlia: empty message")

	case *wire.Ping:
		m.observe(t, from, noRTT)
		pong := &wire.Pong{}
		if from.Addr.IsValid() {
			pong.Observed = from.Addr
		}
		return pong

	case *wire.FindNode:
		if msg == nil {
			return badRequest("kademlia: empty find-node request")
		}
		if err := msg.Validate(); err != nil {
			return badRequest(fmt.Sprintf("kademlia: invalid find-node request: %v", err))
		}
		m.observe(t, from, noRTT)
		for _, c := range msg.Path {
			if c, ok := hearsayFrom(c, from.Addr.Addr()); ok {
				m.considerCandidate(t, c, false)
			}
		}
		usable := func(c wire.Contact) bool {
			return c.ID != from.ID && usableBy(c.Addr.Addr(), from.Addr.Addr())
		}
		return &wire.Nodes{Contacts: m.closest(msg.Target, m.cfg.K, usable)}

	case *wire.Leave:
		m.remove(t, from.ID)
		m.abandonRequestsTo(now, from.ID)
		if request != 0 {
			// A sender that waits for the Ack knows the Leave arrived
			// before it closes its connections.
			return &wire.Ack{}
		}
		return nil
	}

	return &wire.Error{
		Code:    wire.CodeUnsupported,
		Message: fmt.Sprintf("kademlia: %v is not a request this node serves", msg.Type()),
	}
}

func badRequest(text string) *wire.Error {
	return &wire.Error{Code: wire.CodeBadRequest, Message: text}
}

// Leave returns a one-way Leave message for every contact in the table,
// for the caller to send on a clean shutdown. It changes nothing.
func (m *Machine) Leave() []Outgoing {
	out := make([]Outgoing, 0, m.Len())
	for idx := range m.buckets {
		for i := range m.buckets[idx].entries {
			out = append(out, Outgoing{To: m.contactOf(&m.buckets[idx].entries[i]), Msg: &wire.Leave{}})
		}
	}
	return out
}
