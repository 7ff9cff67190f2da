package kademlia

import (
	"net/netip"

	"github.com/yuinet/yui/network/identity"
)

// Routing-table diversity. One operator can run many nodes, each with a
// fresh key pair and so a fresh node ID, but it takes real effort to spread
// them over many networks. Capping the contacts per IPv4 /24 or IPv6 /48
// (Config.MaxPerPrefixBucket per bucket, Config.MaxPerPrefixTable in the
// whole table) keeps one network from filling a bucket or the table and so
// from controlling the lookups that pass through this node.
//
// Loopback, private (RFC 1918 and IPv6 unique-local) and link-local
// addresses are exempt. On a LAN every node shares one such prefix, and
// Yui's first use is a community or shelter network where all neighbours
// are on one subnet. Capping them would leave the table nearly empty.

// prefixKey returns the /24 (IPv4) or /48 (IPv6) network of the address
// bytes ip, and false if the address is exempt from the limits. IPv4
// addresses count by their /24 also when written as IPv4-mapped IPv6.
func prefixKey(ip [16]byte) (uint64, bool) {
	a := netip.AddrFrom16(ip).Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() {
		return 0, false
	}
	if a.Is4() {
		// The top bit keeps IPv4 keys apart from 48-bit IPv6 keys.
		return 1<<63 | uint64(ip[12])<<16 | uint64(ip[13])<<8 | uint64(ip[14]), true
	}
	var key uint64
	for _, b := range ip[:6] {
		key = key<<8 | uint64(b)
	}
	return key, true
}

// countPrefix counts the entries of list in network key, skipping the
// entry with ID skip.
func countPrefix(list []entry, key uint64, skip identity.NodeID) int {
	n := 0
	for i := range list {
		if list[i].id == skip {
			continue
		}
		if k, limited := prefixKey(list[i].ip); limited && k == key {
			n++
		}
	}
	return n
}

// diversityAllows reports whether a contact with address bytes ip and ID id
// may enter bucket idx without exceeding the per-prefix limits. The
// contact's own current entry, if any, is not counted.
func (m *Machine) diversityAllows(idx int, ip [16]byte, id identity.NodeID) bool {
	key, limited := prefixKey(ip)
	if !limited {
		return true
	}

	inBucket := 0
	if idx < len(m.buckets) {
		inBucket = countPrefix(m.buckets[idx].entries, key, id)
	}
	if inBucket >= m.cfg.MaxPerPrefixBucket {
		return false
	}

	inTable := 0
	for i := range m.buckets {
		inTable += countPrefix(m.buckets[i].entries, key, id)
	}
	return inTable < m.cfg.MaxPerPrefixTable
}

// replacementAllows reports whether a contact may join bucket idx's
// replacement cache. The cache obeys the per-bucket limit on its own, so
// one network cannot crowd out every other spare either.
func (m *Machine) replacementAllows(idx int, ip [16]byte, id identity.NodeID) bool {
	key, limited := prefixKey(ip)
	if !limited || idx >= len(m.buckets) {
		return true
	}
	return countPrefix(m.buckets[idx].replacements, key, id) < m.cfg.MaxPerPrefixBucket
}
