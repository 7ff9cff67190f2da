package kademlia

import (
	"net/netip"

	"github.com/yuinet/yui/network/wire"
)

// Address kinds stored in entry.addrKind. netip.Addr keeps its zone behind
// a pointer. An entry instead stores the 16 address bytes and an index into
// the Machine's zone list, so routing-table entries contain no pointers and
// the garbage collector never scans them.
const (
	addrIPv4 uint8 = iota
	addrIPv6
	// addrZoneBase+i is an IPv6 address with zone m.zones[i].
	addrZoneBase
)

// maxZones is the number of distinct IPv6 zones one Machine can store. A
// zone names a local network interface, so a real host has a handful.
const maxZones = 256 - int(addrZoneBase)

// packAddr splits ap into the fields an entry stores. It returns false for
// an address with a zone when the zone list is full.
func (m *Machine) packAddr(ap netip.AddrPort) (ip [16]byte, port uint16, kind uint8, ok bool) {
	a := ap.Addr()
	ip, port = a.As16(), ap.Port()

	switch {
	case a.Is4():
		return ip, port, addrIPv4, true
	case a.Zone() == "":
		return ip, port, addrIPv6, true
	}

	zone := a.Zone()
	for i, z := range m.zones {
		if z == zone {
			return ip, port, addrZoneBase + uint8(i), true
		}
	}
	if len(m.zones) >= maxZones {
		return ip, port, 0, false
	}
	m.zones = append(m.zones, zone)
	return ip, port, addrZoneBase + uint8(len(m.zones)-1), true
}

// unpackAddr rebuilds the address that packAddr split.
func (m *Machine) unpackAddr(ip [16]byte, port uint16, kind uint8) netip.AddrPort {
	var a netip.Addr
	switch {
	case kind == addrIPv4:
		a = netip.AddrFrom4([4]byte(ip[12:]))
	case kind == addrIPv6:
		a = netip.AddrFrom16(ip)
	default:
		a = netip.AddrFrom16(ip).WithZone(m.zones[kind-addrZoneBase])
	}
	return netip.AddrPortFrom(a, port)
}

// acceptable reports whether c may be considered for the routing table: it
// names a node other than this one and carries a usable address.
func (m *Machine) acceptable(c wire.Contact) bool {
	return c.ID != m.self.ID && c.Validate() == nil
}
