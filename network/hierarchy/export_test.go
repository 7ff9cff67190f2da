package hierarchy

import (
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// ForwardVia starts a lookup forwarded to via, whatever via's role, as a
// member with an out-of-date view would.
func (m *Machine) ForwardVia(now time.Time, via wire.Contact, target identity.NodeID) kademlia.LookupID {
	m.nextLookup++
	f := forward{id: m.nextLookup, token: m.rng.Uint64() | 1, target: target, started: now, tried: []identity.NodeID{via.ID}}
	msg := &wire.Forward{Token: f.token, Target: target, Path: []wire.Contact{m.wireSelf()}}
	f.request = m.send(m.clock(now), via, msg, request{kind: reqForward, token: f.token})
	m.forwards = append(m.forwards, f)
	m.pump(now)
	return f.id
}

// RecordOf returns this node's copy of member id's record, or false if it
// holds none. For id itself it returns the node's own record.
func (m *Machine) RecordOf(id identity.NodeID) (wire.Member, bool) {
	if id == m.self.ID {
		return m.ownRecord(), true
	}
	i := m.findMember(id)
	if i < 0 {
		return wire.Member{}, false
	}
	return m.record(&m.group[i]), true
}
