package sim

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// bootstrapTries bounds the draws Start makes for a bootstrap contact
// outside the newcomer's broadcast domain.
const bootstrapTries = 8

// Start starts a node with a random ID in broadcast domain lanIndex, joins
// it to the network and returns its index. The node and its running LAN
// neighbours meet through AddNeighbour on both sides, as their beacons
// would make them meet. The node also gets bootstrap contacts, each a
// random live node outside its LAN, as --bootstrap addresses. Then it
// bootstraps.
func (n *Network) Start(lanIndex int32, bootstrap int) (int32, error) {
	if len(n.nodes) >= maxNodes {
		return 0, fmt.Errorf("%w: the simulator has addresses for %d nodes", ErrConfig, maxNodes)
	}
	i := n.newNode(lanIndex)
	// The node slice may grow in any call that flushes, so this function
	// keeps the member instead of a pointer to the node.
	m := n.nodes[i].member
	now := n.wallNow()

	for _, j := range n.lans[lanIndex].members {
		m.AddNeighbour(now, n.contactOf(j))
		n.nodes[j].member.AddNeighbour(now, n.contactOf(i))
		n.flush(j)
	}
	for range bootstrap {
		if j, ok := n.randomOutside(lanIndex); ok {
			m.AddContact(now, n.contactOf(j))
		}
	}
	m.Bootstrap(now)

	n.lans[lanIndex].members = append(n.lans[lanIndex].members, i)
	n.nodes[i].livePos = int32(len(n.live))
	n.live = append(n.live, i)
	n.flush(i)
	return i, nil
}

// newNode creates node i with a fresh ID and its member, not yet joined.
func (n *Network) newNode(lanIndex int32) int32 {
	var id identity.NodeID
	for k := 0; k < len(id); k += 8 {
		binary.BigEndian.PutUint64(id[k:], n.ids.Uint64())
	}
	i := int32(len(n.nodes))
	site := n.lans[lanIndex].site
	traits := Traits{
		// Storage from 1 GiB to 1 TiB in powers of two, uniformly: an
		// estimate of a mix of phones, Raspberry Pis and PCs.
		Capacity: 1024 << n.topology.IntN(11),
		Link:     n.cfg.Links.link[site],
	}
	member := n.factory(wire.Contact{ID: id, Addr: addrOf(i)}, &n.cfg, traits, n.machines.Uint64(), n.wallNow())
	n.nodes = append(n.nodes, node{
		member: member, id: id, tickAt: noTick, started: n.now,
		livePos: -1, lan: lanIndex, site: site,
	})
	return i
}

// randomOutside draws a live node outside broadcast domain lan.
func (n *Network) randomOutside(lanIndex int32) (int32, bool) {
	for range bootstrapTries {
		j, ok := n.RandomLive(n.topology)
		if !ok {
			return 0, false
		}
		if n.nodes[j].lan != lanIndex {
			return j, true
		}
	}
	return 0, false
}

// Stop takes node i out of the network. A graceful stop sends the
// protocol's Leave messages first; otherwise the node falls silent, as a
// crash or a pulled plug would make it. Lookups the node was running for
// Lookup callers report nil.
func (n *Network) Stop(i int32, graceful bool) {
	self := &n.nodes[i]
	if !self.alive() {
		return
	}
	if graceful {
		for _, out := range self.member.Leave() {
			n.send(i, out, n.classOf(i))
		}
	}
	self.member = nil
	self.tickAt = noTick

	last := n.live[len(n.live)-1]
	n.live[self.livePos] = last
	n.nodes[last].livePos = self.livePos
	n.live = n.live[:len(n.live)-1]
	self.livePos = -1

	members := n.lans[self.lan].members
	n.lans[self.lan].members = slices.DeleteFunc(members, func(j int32) bool { return j == i })

	n.abandonLookups(i)
}

// abandonLookups reports nil to the callers waiting on lookups of node i,
// in lookup order.
func (n *Network) abandonLookups(i int32) {
	var keys []lookupKey
	for k := range n.watch {
		if k.node == i {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b lookupKey) int { return cmp.Compare(a.id, b.id) })
	for _, k := range keys {
		done := n.watch[k]
		delete(n.watch, k)
		done(nil)
	}
}

// Lookup starts a lookup for target on node i and calls done with its
// result when it finishes, or with nil if the node stops first.
func (n *Network) Lookup(i int32, target identity.NodeID, done func(*kademlia.LookupResult)) {
	self := &n.nodes[i]
	if !self.alive() {
		done(nil)
		return
	}
	id := self.member.Lookup(n.wallNow(), target)
	n.watch[lookupKey{i, id}] = done
	n.flush(i)
}

// Partition splits the network: from now on a message between two nodes
// for which side returns different values is dropped. Nil heals it.
func (n *Network) Partition(side func(node int32) uint8) { n.partition = side }

// Site returns the site of node i.
func (n *Network) Site(i int32) uint16 { return n.nodes[i].site }

// LAN returns the broadcast domain of node i.
func (n *Network) LAN(i int32) int32 { return n.nodes[i].lan }

// Started returns when node i started.
func (n *Network) Started(i int32) time.Duration { return time.Duration(n.nodes[i].started) }
