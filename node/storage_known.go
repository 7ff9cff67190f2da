package node

import (
	"slices"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// ClosestKnown returns up to n contacts of the routing table closest to
// target, closest first, without sending anything. It implements
// store.ClosestKnower, whose repair passes take every node within the
// farthest contact returned to be listed. A full bucket holds only K of
// the nodes in its part of the key space, so the result stops before the
// first contact whose distance range from target includes a full bucket.
// Peers marked down, and contacts whose last request from the routing
// core failed, are left out: repair sends to its candidates one after
// another, and each dead one costs a request timeout. A node outside the
// DHT has no table and returns nothing.
func (sn *storeNetwork) ClosestKnown(target identity.NodeID, n int) []wire.Contact {
	var out []wire.Contact
	sn.router.withMachine(func(m *kademlia.Machine) {
		failing := make(map[identity.NodeID]bool)
		for _, p := range m.Peers() {
			if p.Failures > 0 {
				failing[p.ID] = true
			}
		}
		out = completeClosest(m, sn.self.ID, target, n)
		out = slices.DeleteFunc(out, func(c wire.Contact) bool { return failing[c.ID] })
	})
	live, _ := sn.withoutDown(out, len(out))
	return live
}

// completeClosest returns up to n contacts of m closest to target, cut
// before the first one in a distance group that holds a full bucket.
//
// Buckets are indexed by the common prefix length of a contact with self.
// Let c be that of target. Bucket c forms one group of distances from
// target, all deeper buckets together form the next, and each bucket
// i < c forms its own, farther the smaller i is (see kademlia's
// Machine.Closest). The groups' distance ranges do not overlap, so a
// node missing from a full bucket can only lie within that bucket's
// group, and every contact before the group is one of the n closest
// nodes of the whole network.
func completeClosest(m *kademlia.Machine, self, target identity.NodeID, n int) []wire.Contact {
	k := m.Config().K
	full := make(map[int]bool)
	for _, b := range m.Buckets() {
		if b.Contacts >= k {
			full[b.Index] = true
		}
	}
	c := identity.CommonPrefixLen(self, target)
	deepFull := false
	for idx := range full {
		if idx > c {
			deepFull = true
		}
	}

	contacts := m.Closest(target, n)
	for i, ct := range contacts {
		b := identity.CommonPrefixLen(self, ct.ID)
		if full[b] || (b > c && deepFull) {
			return contacts[:i]
		}
	}
	return contacts
}
