package message

import (
	"fmt"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// localUser is a user of this node with the record announced for it.
type localUser struct {
	location     *Location
	nextAnnounce time.Time
	// announcing counts the UserAnnounce requests in flight, and
	// announced those of this round that were accepted.
	announcing, announced int
}

// SetUser makes loc's user a local user of this node, or replaces the
// record announced for it. Items for the user are delivered here from
// now on, and loc is announced to the nodes closest to its UserKey at
// once and then every AnnounceInterval. The caller signs a new record
// before the old one expires.
func (m *Machine) SetUser(now time.Time, loc *Location) {
	key := string(loc.User)
	u := m.users[key]
	if u == nil {
		u = &localUser{nextAnnounce: now}
		m.users[key] = u
	}
	if u.location == nil || u.location.Node != loc.Node {
		u.nextAnnounce = now
	}
	u.location = loc
	m.storeLocation(loc)
	m.announceDue(now)
}

// announceDue starts the announcements that are due.
func (m *Machine) announceDue(now time.Time) {
	for _, key := range m.sortedUsers() {
		u := m.users[key]
		if u.announcing > 0 || now.Before(u.nextAnnounce) {
			continue
		}
		target := u.location.Key()
		if contacts, ok := m.wantClosest(target, now); ok {
			m.announce(now, u, contacts)
		} else {
			// Until the lookup returns, nothing else starts a round.
			u.nextAnnounce = now.Add(m.cfg.RetryInterval)
		}
	}
}

// announceTarget starts the announcements that waited on target's lookup.
func (m *Machine) announceTarget(now time.Time, target identity.NodeID) {
	for _, key := range m.sortedUsers() {
		u := m.users[key]
		if u.announcing == 0 && u.location.Key() == target {
			m.announce(now, u, m.closest[target].contacts)
		}
	}
}

// announce sends u's record to the custodians of its UserKey. A round
// with no peer to send to counts as failed and is retried soon.
func (m *Machine) announce(now time.Time, u *localUser, contacts []wire.Contact) {
	target := u.location.Key()
	u.announced = 0
	for _, c := range m.custodians(target, contacts, now) {
		if c.ID == m.cfg.Self.ID {
			continue
		}
		u.announcing++
		m.request(c, &wire.UserAnnounce{Record: u.location.Raw}, pendingRequest{kind: reqAnnounce, user: string(u.location.User)})
	}
	if u.announcing == 0 {
		u.nextAnnounce = now.Add(m.cfg.RetryInterval)
		// Closest nodes may appear soon after the node joins: look
		// again next time instead of reusing an empty result.
		delete(m.closest, target)
	}
}

func (m *Machine) announceDone(now time.Time, user string, resp wire.Message) {
	u := m.users[user]
	if u == nil {
		return
	}
	u.announcing--
	if code, _ := firstResult(resp); resp != nil && code == wire.MsgAccepted {
		u.announced++
	}
	if u.announcing > 0 {
		return
	}
	if u.announced > 0 {
		u.nextAnnounce = now.Add(m.cfg.AnnounceInterval)
	} else {
		u.nextAnnounce = now.Add(m.cfg.RetryInterval)
		delete(m.closest, u.location.Key())
	}
}

// announced serves a UserAnnounce: it keeps the record if newer and
// pushes what it holds for the user to the node named.
func (m *Machine) announced(now time.Time, from identity.NodeID, raw []byte) wire.MsgResult {
	l, err := DecodeLocation(raw)
	if err != nil {
		m.counters.Forged++
		m.events = append(m.events, Event{Kind: Rejected, From: from, Err: err})
		return wire.MsgResult{Code: wire.MsgForged, Text: limitText(err.Error())}
	}
	if !now.Before(l.Expires) || l.Issued.After(now.Add(m.cfg.MaxSkew)) {
		err := fmt.Errorf("%w: location of user %s is valid from %s to %s, not now",
			ErrInvalid, Fingerprint(l.User), l.Issued.Format(time.RFC3339), l.Expires.Format(time.RFC3339))
		m.events = append(m.events, Event{Kind: Rejected, From: from, Err: err})
		return wire.MsgResult{Code: wire.MsgExpired, Text: limitText(err.Error())}
	}
	if m.isLocal(l.User) {
		// This node's own record is the one that counts for its users.
		return wire.MsgResult{Code: wire.MsgAccepted}
	}
	m.storeLocation(l)
	// The node named is back, whatever failed before.
	delete(m.down, l.Node.ID)
	for _, h := range m.heldFor[l.Key()] {
		h.pushAt = time.Time{}
	}
	m.push(now, l.Key())
	return wire.MsgResult{Code: wire.MsgAccepted}
}

func (m *Machine) sortedUsers() []string {
	keys := make([]string, 0, len(m.users))
	for k := range m.users {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// reqKind is the step a pending request belongs to.
type reqKind uint8

const (
	reqDeliver reqKind = iota + 1
	reqHold
	reqLocate
	reqPush
	reqAnnounce
)

// pendingRequest is the Machine's record of a request in flight.
type pendingRequest struct {
	kind   reqKind
	to     wire.Contact
	key    Key
	keys   []Key
	target identity.NodeID
	user   string
}

// done completes the request with resp, nil when it failed.
func (p pendingRequest) done(m *Machine, now time.Time, resp wire.Message) {
	switch p.kind {
	case reqDeliver:
		m.deliverDone(now, p.key, resp)
	case reqHold:
		m.holdDone(now, p.key, resp)
	case reqLocate:
		m.locateDone(now, p.target, resp)
	case reqPush:
		m.pushDone(now, p.keys, resp)
	case reqAnnounce:
		m.announceDone(now, p.user, resp)
	}
}
