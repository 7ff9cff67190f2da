package discovery

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// multicastGroup is the IPv6 group beacons are sent to: ff02::114, the
// link-local instance of the variable-scope group ff0X::114 that IANA sets
// aside for private experiments. Routers never forward link-local groups.
//
// NOTE: Yui has no IANA assignment of its own, so other experiments may
// use the same group. Their datagrams are dropped by port, or else by the
// beacon checks.
var multicastGroup = netip.MustParseAddr("ff02::114")

// link is one network interface that beacons go out on.
type link struct {
	name  string
	index int
	// broadcasts are the IPv4 directed broadcast addresses of the link's
	// subnets, one per IPv4 address with a prefix of /30 or shorter.
	broadcasts []netip.Addr
	// subnets are the link's IPv4 prefixes, used to pick the link a
	// beacon came in on.
	subnets []netip.Prefix
	// multicast is set when IPv6 beacons can go out on the link: it is
	// multicast-capable and has an IPv6 link-local address to send from.
	multicast bool
	// addrs are the link's unicast addresses other than IPv6 link-local
	// ones, which mean nothing without a zone.
	addrs []netip.Addr
	// carrierChanges counts how often the link lost or regained its
	// carrier, so that a scan notices a link that went down and up again
	// since the previous one. Zero where the system does not report it.
	carrierChanges uint32
}

func (l link) equal(o link) bool {
	return l.name == o.name && l.index == o.index && l.multicast == o.multicast &&
		l.carrierChanges == o.carrierChanges &&
		slices.Equal(l.broadcasts, o.broadcasts) && slices.Equal(l.addrs, o.addrs)
}

// usable reports whether beacons can go out on the link at all.
func (l link) usable() bool { return len(l.broadcasts) > 0 || l.multicast }

// scanLinks lists the interfaces beacons go out on. Only names in filter
// count when it is not empty.
func scanLinks(filter []string, includeLoopback bool) ([]link, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("discovery: list network interfaces: %w", err)
	}
	changes, err := carrierChanges()
	if err != nil {
		return nil, err
	}
	var links []link
	for _, ifi := range ifaces {
		if len(filter) > 0 && !slices.Contains(filter, ifi.Name) {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			// The interface went away between the two calls.
			continue
		}
		if l, ok := newLink(ifi, addrs, includeLoopback); ok {
			l.carrierChanges = changes[ifi.Index]
			links = append(links, l)
		}
	}
	return links, nil
}

// newLink describes ifi as a link for beacons. It reports false if no
// beacon can go out on ifi, because it is down, has no carrier, is a
// loopback interface and includeLoopback is false, or has neither an IPv4
// subnet with a broadcast address nor IPv6 multicast.
func newLink(ifi net.Interface, addrs []net.Addr, includeLoopback bool) (link, bool) {
	const upAndRunning = net.FlagUp | net.FlagRunning
	loopback := ifi.Flags&net.FlagLoopback != 0
	if ifi.Flags&upAndRunning != upAndRunning || (loopback && !includeLoopback) {
		return link{}, false
	}

	// Linux gives the loopback interface no broadcast flag, but it does
	// deliver to 127.255.255.255, which is all that tests on one host need.
	canBroadcast := ifi.Flags&net.FlagBroadcast != 0 || loopback
	canMulticast := ifi.Flags&net.FlagMulticast != 0 && !loopback

	l := link{name: ifi.Name, index: ifi.Index}
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		prefix, ok := toPrefix(ipnet)
		if !ok {
			continue
		}
		l.add(prefix, canBroadcast, canMulticast)
	}
	return l, l.usable()
}

func (l *link) add(prefix netip.Prefix, canBroadcast, canMulticast bool) {
	addr := prefix.Addr()
	if addr.Is6() && addr.IsLinkLocalUnicast() {
		l.multicast = l.multicast || canMulticast
		return
	}
	if len(l.addrs) < MaxListenAddrs && !addr.IsMulticast() && !addr.IsUnspecified() {
		l.addrs = append(l.addrs, addr)
	}
	if addr.Is4() && canBroadcast && prefix.Bits() <= 30 {
		l.subnets = append(l.subnets, prefix.Masked())
		if b := broadcastAddr(prefix); !slices.Contains(l.broadcasts, b) {
			l.broadcasts = append(l.broadcasts, b)
		}
	}
}

func toPrefix(ipnet *net.IPNet) (netip.Prefix, bool) {
	addr, ok := netip.AddrFromSlice(ipnet.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap()
	ones, bits := ipnet.Mask.Size()
	if bits != addr.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(addr, ones), true
}

// broadcastAddr returns the directed broadcast address of an IPv4 prefix:
// the address with every host bit set.
func broadcastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}

// linkFor returns the link that a beacon from src came in on: the link
// named by an IPv6 zone, or the link whose IPv4 subnet contains src.
func linkFor(links []link, src netip.Addr) (link, bool) {
	for _, l := range links {
		if src.Is6() && src.Zone() == l.name {
			return l, true
		}
		if src.Is4() && slices.ContainsFunc(l.subnets, func(p netip.Prefix) bool { return p.Contains(src) }) {
			return l, true
		}
	}
	return link{}, false
}

// listenAddrs collects the addresses to advertise from all links.
func listenAddrs(links []link) []netip.Addr {
	var addrs []netip.Addr
	for _, l := range links {
		for _, a := range l.addrs {
			if len(addrs) < MaxListenAddrs && !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	}
	return addrs
}
