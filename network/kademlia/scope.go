package kademlia

import (
	"net/netip"

	"github.com/yuinet/yui/network/wire"
)

// Address scope. A node on a dual-stack LAN is heard at several addresses:
// an IPv4 address from its broadcast beacons and an IPv6 link-local
// address from its multicast beacons, perhaps a global one as well. They
// are not equally useful. A link-local address works only on one link and
// carries a zone that names an interface of the host that stored it, and a
// loopback address works only on one host. The Machine therefore follows
// these rules:
//
//   - Serving FindNode, it gives a requester only contacts the requester
//     can use (usableBy). Private and global addresses go to anyone. A
//     link-local address goes only to a requester that came from a
//     link-local address of the same family with the same zone, so from
//     the same link. A loopback address goes only to a loopback requester.
//   - Reading contacts that another node sent (a Nodes response or a
//     FindNode path), it keeps a link-local contact only from a sender on
//     a link-local address, and gives it the zone through which this node
//     reaches the sender (hearsayFrom). It keeps a loopback contact only
//     from a loopback sender.
//   - A known contact heard at a new address moves there only if the new
//     address is of equal or wider scope, or if its last request failed
//     (movesTo).
//   - Given a known contact at a wider address than the one stored, such
//     as a neighbour's IPv4 beacon after its IPv6 link-local one,
//     AddContact pings the wider address, so that the contact moves there
//     and can be given to requesters on other networks.

// scope orders addresses by how widely they can be used.
type scope uint8

const (
	scopeLoopback scope = iota + 1
	scopeLinkLocal
	// scopePrivate covers RFC 1918 IPv4 and unique-local IPv6 addresses.
	scopePrivate
	scopeGlobal
)

// scopeOf returns the scope of a, treating IPv4-mapped IPv6 addresses as
// IPv4.
func scopeOf(a netip.Addr) scope {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return scopeLoopback
	case a.IsLinkLocalUnicast():
		return scopeLinkLocal
	case a.IsPrivate():
		return scopePrivate
	}
	return scopeGlobal
}

// sameLink reports whether the link-local addresses a and b belong to one
// link as this host names it: the same family and the same zone. IPv4
// addresses have no zone, so all 169.254.0.0/16 addresses count as one
// link.
func sameLink(a, b netip.Addr) bool {
	if scopeOf(a) != scopeLinkLocal || scopeOf(b) != scopeLinkLocal {
		return false
	}
	if a.Unmap().Is4() != b.Unmap().Is4() {
		return false
	}
	return a.Unmap().Zone() == b.Unmap().Zone()
}

// usableBy reports whether a contact at addr may be given to a requester
// whose request came from the address from.
func usableBy(addr, from netip.Addr) bool {
	switch scopeOf(addr) {
	case scopeLoopback:
		return scopeOf(from) == scopeLoopback
	case scopeLinkLocal:
		return sameLink(addr, from)
	}
	return true
}

// hearsayFrom returns contact c, which the node at sender sent, as this
// node can use it, or false if it cannot. A conforming sender sends a
// link-local contact only to a requester on the same link (see usableBy),
// but the zone it carries names the sender's interface, so the contact
// takes the zone of sender's address instead: this node's interface to
// that link.
func hearsayFrom(c wire.Contact, sender netip.Addr) (wire.Contact, bool) {
	a := c.Addr.Addr()
	switch scopeOf(a) {
	case scopeLoopback:
		return c, scopeOf(sender) == scopeLoopback
	case scopeLinkLocal:
		if scopeOf(sender) != scopeLinkLocal || a.Unmap().Is4() != sender.Unmap().Is4() {
			return c, false
		}
		if a = a.Unmap(); a.Is6() {
			a = a.WithZone(sender.Zone())
		}
		c.Addr = netip.AddrPortFrom(a, c.Addr.Port())
	}
	return c, true
}

// movesTo reports whether a known contact at old, heard from at next,
// should be stored at next. A packet from a narrower scope than the
// stored address does not show that the wider one stopped working. A LAN
// neighbour heard over IPv6 link-local beacons should keep the IPv4
// address that nodes on other networks can use too. A node that really
// moved to a narrower scope, such as a laptop leaving a public network for
// a private LAN, stops answering at the old address. Its next request
// fails, and then lastFailed lets the new address in.
func movesTo(old, next netip.Addr, lastFailed bool) bool {
	return lastFailed || scopeOf(next) >= scopeOf(old)
}
