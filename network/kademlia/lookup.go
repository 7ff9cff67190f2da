package kademlia

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// lookupKind is the origin of a lookup, which decides what happens when it
// ends.
type lookupKind uint8

const (
	// lookupCaller is started by Lookup and reports LookupDone.
	lookupCaller lookupKind = iota + 1
	// lookupJoin is Bootstrap's lookup for this node's own ID. It reports
	// LookupDone and then refreshes the buckets farther away than the
	// closest neighbour.
	lookupJoin
	// lookupRefresh refreshes one bucket and reports nothing.
	lookupRefresh
	// lookupJoinRefresh refreshes one of the far buckets of a join and
	// reports nothing. When it ends, the next far bucket's refresh starts.
	lookupJoinRefresh
	// lookupRejoin repeats a join lookup that found fewer than K nodes
	// (see retryShortJoin). It acts as lookupJoin but reports nothing,
	// because no caller asked for it.
	lookupRejoin
)

// nodeState is the progress of a lookup's request to one node.
type nodeState uint8

const (
	nodeUnqueried nodeState = iota
	nodeInFlight
	nodeAnswered
	nodeFailed
)

// lookupNode is a node a lookup has heard of. Its address is packed as an
// entry's is (see packAddr), so a lookup's nodes contain no pointers and
// the garbage collector never scans them. A lookup tracks up to 320 of
// them with the default K.
type lookupNode struct {
	id       identity.NodeID
	ip       [16]byte
	port     uint16
	addrKind uint8
	state    nodeState
	// parent is the index of the node whose response named this one, or
	// -1 for a node taken from the routing table. Only nodes that responded
	// are parents, and their own parents never change, so the chain has no
	// cycles.
	parent int32
	// hops is the number of request rounds needed to reach the node's
	// response: 1 for a node from the table, the parent's hops plus one
	// otherwise.
	hops int32
}

// lookup is an iterative lookup in progress.
type lookup struct {
	id      LookupID
	kind    lookupKind
	target  identity.NodeID
	started time.Time
	// deadline is when the lookup finishes with the responses it has, in
	// epoch nanoseconds (see lookupTimeoutPerRequest).
	deadline int64

	// nodes is append-only, except that a full lookup reuses the slot of
	// an unqueried node; order indexes it, closest to target first.
	nodes []lookupNode
	order []int32

	inFlight        int
	queried, failed int
	// seeded is the number of table contacts closest to target that the
	// lookup has taken.
	seeded int
}

// lookupNodesPerK bounds the nodes one lookup tracks, as a multiple of K.
// Honest networks stay far below it; the bound stops peers that invent
// ever closer IDs from making a lookup grow or run without end.
const lookupNodesPerK = 16

// lookupSeedsPerK is the number of table contacts a lookup starts with, as
// a multiple of K. A lookup queries only the K closest nodes it has heard
// of that have not failed, so the farther seeds cost no request while
// those respond. When some of them have died silently, the seeds stand in
// for them (see stepLookup).
const lookupSeedsPerK = 2

// lookupTimeoutPerRequest is a lookup's time limit as a multiple of
// RequestTimeout. An honest lookup takes a few rounds of Alpha requests,
// each within RequestTimeout, so the limit mostly stops lookups that peers
// feed with contacts that do not respond. A lookup that reaches it returns
// the closest nodes that responded by then.
//
// NOTE: The factor 4 is an estimate. Lookups in the 200-node acceptance
// test take about 2 rounds, and a larger network or many dead contacts
// could need more, which would then miss some of the closest nodes.
const lookupTimeoutPerRequest = 4

// unverifiedPerResponse returns how many contacts outside the table one
// response may add to a lookup: K/2, at least 1. The lookup queries only
// the K closest nodes it has heard of, and the closest half of an honest
// response is where the nodes nearer the target are. Responses from the
// other queried nodes fill the rest, so a lookup still finds K nodes. A
// liar that names only dead contacts then costs a lookup at most K/2
// request timeouts, spread over Alpha requests at a time.
func (m *Machine) unverifiedPerResponse() int {
	return max(m.cfg.K/2, 1)
}

// Lookup starts an iterative lookup for the K nodes closest to target and
// returns its ID. A LookupDone event carries the result.
func (m *Machine) Lookup(now time.Time, target identity.NodeID) LookupID {
	return m.startLookup(now, target, lookupCaller)
}

// Bootstrap joins the network: it looks up this node's own ID, which
// introduces the node to its neighbours, and when that lookup ends it
// refreshes every bucket farther away than the closest neighbour. The
// first contacts come from AddContact, which may be called just before;
// lookups also ask the Alpha closest contacts that are still being
// verified. Its LookupDone event reports the lookup for the node's own ID.
// If that lookup found fewer than K nodes, the Machine repeats it when the
// next contact enters the table (see retryShortJoin), without an event.
func (m *Machine) Bootstrap(now time.Time) LookupID {
	return m.startLookup(now, m.self.ID, lookupJoin)
}

// Joined reports whether a join lookup of Bootstrap has ended. By then
// this node has sent a request to each of the closest nodes the lookup
// found, and a request puts its sender in the receiver's table when the
// bucket has room.
func (m *Machine) Joined() bool { return m.joined }

func (m *Machine) startLookup(now time.Time, target identity.NodeID, kind lookupKind) LookupID {
	t := m.clock(now)
	m.nextLookup++
	l := &lookup{id: m.nextLookup, kind: kind, target: target, started: now}
	l.deadline = t + lookupTimeoutPerRequest*int64(m.cfg.RequestTimeout)

	// Nodes learned by this lookup fall into the target's bucket, or into
	// the deepest one when the target lies beyond it.
	if len(m.buckets) > 0 {
		m.buckets[min(m.bucketIndex(target), len(m.buckets)-1)].lastLookup = t
	}

	m.seedMore(l, lookupSeedsPerK*m.cfg.K)
	m.seedUnverified(l)

	m.lookups = append(m.lookups, l)
	m.stepLookup(now, l)
	return l.id
}

// seedUnverified adds to l the Alpha contacts closest to its target among
// those being verified. They let a node that has only just learned its
// first contacts join. Taking no more keeps a flood of fresh IDs from
// making each lookup query the whole flood.
func (m *Machine) seedUnverified(l *lookup) {
	var unverified []wire.Contact
	for i := range m.pending {
		if r := &m.pending[i]; r.kind == pingVerify || r.kind == pingContact {
			unverified = append(unverified, r.to)
		}
	}
	slices.SortFunc(unverified, func(a, b wire.Contact) int {
		return compareDistance(l.target, a.ID, b.ID)
	})
	limit := lookupNodesPerK * m.cfg.K
	for _, c := range unverified[:min(len(unverified), m.cfg.Alpha)] {
		m.addToLookup(l, c, -1, 1, limit)
	}
}

// search returns the position of id in l.order, or where it would go.
func (l *lookup) search(id identity.NodeID) (int, bool) {
	return slices.BinarySearchFunc(l.order, id, func(i int32, id identity.NodeID) int {
		return compareDistance(l.target, l.nodes[i].id, id)
	})
}

// addToLookup records in l a node named by node parent (-1 for one from
// the table). A node heard of again keeps the shorter referral chain
// while unqueried. When the lookup tracks limit nodes, a new node takes
// the slot of the farthest unqueried node farther than itself, or is
// dropped.
func (m *Machine) addToLookup(l *lookup, c wire.Contact, parent, hops int32, limit int) {
	pos, found := l.search(c.ID)
	m.addToLookupAt(l, pos, found, c, parent, hops, limit)
}

// addToLookupAt records a node as addToLookup does, given the result of
// l.search for its ID. A node with an IPv6 zone that the zone list has no
// room for is dropped.
func (m *Machine) addToLookupAt(l *lookup, pos int, found bool, c wire.Contact, parent, hops int32, limit int) {
	if found {
		if n := &l.nodes[l.order[pos]]; n.state == nodeUnqueried && hops < n.hops {
			n.parent, n.hops = parent, hops
		}
		return
	}

	ip, port, kind, ok := m.packAddr(c.Addr)
	if !ok {
		return
	}
	node := lookupNode{id: c.ID, ip: ip, port: port, addrKind: kind, parent: parent, hops: hops}
	if len(l.nodes) < limit {
		l.nodes = append(l.nodes, node)
		l.order = slices.Insert(l.order, pos, int32(len(l.nodes)-1))
		return
	}
	for j := len(l.order) - 1; j >= pos; j-- {
		// An unqueried node is no one's parent and no request names it,
		// so its slot can be reused.
		if slot := l.order[j]; l.nodes[slot].state == nodeUnqueried {
			l.nodes[slot] = node
			l.order = slices.Delete(l.order, j, j+1)
			l.order = slices.Insert(l.order, pos, slot)
			return
		}
	}
}

// seedMore adds the next n table contacts closest to l's target to l and
// reports whether there were any.
func (m *Machine) seedMore(l *lookup, n int) bool {
	closest := m.closest(l.target, l.seeded+n, nil)
	if len(closest) <= l.seeded {
		return false
	}
	limit := lookupNodesPerK * m.cfg.K
	for _, c := range closest[l.seeded:] {
		m.addToLookup(l, c, -1, 1, limit)
	}
	l.seeded = len(closest)
	return true
}

// shortlist returns the unqueried nodes among the K closest nodes of l not
// known to have failed, closest first, how many such nodes there are, and
// whether a request to one of them is in flight.
func (l *lookup) shortlist(k int) (candidates []int32, size int, inFlight bool) {
	for _, i := range l.order {
		if size == k {
			break
		}
		switch l.nodes[i].state {
		case nodeFailed:
			continue
		case nodeUnqueried:
			candidates = append(candidates, i)
		case nodeInFlight:
			inFlight = true
		}
		size++
	}
	return candidates, size, inFlight
}

// stepLookup sends the next requests of l, or finishes it. The lookup is
// done when each of the K closest nodes not known to have failed has
// responded, so no closer node remains unqueried or in flight. Until then it
// keeps Alpha requests in flight to unqueried nodes among those K.
//
// A closest node that responded without naming a closer one shows that the
// lookup has reached the target's neighbourhood. The lookup then queries
// the rest of the K at once, as Kademlia's lookup does when a round finds
// no closer node (Maymounkov and Mazières, 2002, section 2.3). Alpha at a
// time, they would take about K/Alpha round trips, most of a lookup's time.
//
// Responders keep naming their dead contacts among their K closest until
// they evict them, so after silent failures a lookup can run out of nodes
// while the table holds live ones that no response named, which is common
// in a small network. The lookup therefore starts with more seeds than K,
// and one that runs out with fewer than K responses takes the next K
// closest contacts from the table.
func (m *Machine) stepLookup(now time.Time, l *lookup) {
	candidates, size, inFlight := l.shortlist(m.cfg.K)
	for len(candidates) == 0 && !inFlight {
		if size >= m.cfg.K || !m.seedMore(l, m.cfg.K) {
			m.finishLookup(now, l)
			return
		}
		candidates, size, inFlight = l.shortlist(m.cfg.K)
	}

	parallel := m.cfg.Alpha
	if l.closestAnswered() {
		parallel = m.cfg.K
	}
	for l.inFlight < parallel && len(candidates) > 0 {
		j := m.pickNext(l, candidates)
		m.query(now, l, candidates[j])
		candidates = slices.Delete(candidates, j, j+1)
	}
}

// closestAnswered reports whether the closest node of l not known to have
// failed has responded.
func (l *lookup) closestAnswered() bool {
	for _, i := range l.order {
		switch l.nodes[i].state {
		case nodeFailed:
			continue
		case nodeAnswered:
			return true
		}
		return false
	}
	return false
}

// pickNext returns the position in candidates (unqueried nodes, closest
// first) of the node to query next.
//
// Kademlia queries the closest unqueried node. Nodes with the same common
// prefix length with the target as that node lie in the same distance
// class: the same subtree of the ID space, equally good at the lookup's
// next step, so among them the Machine picks the one it expects to respond
// soonest. Fewer consecutive failures come first, because a failure costs
// a whole request timeout. Next a measured RTT beats none and a lower RTT a
// higher one. Last the older first-seen time wins, because long-lived
// nodes tend to stay. Nodes the table does not hold come after
// the ones it does, and ties keep XOR order.
func (m *Machine) pickNext(l *lookup, candidates []int32) int {
	class := identity.CommonPrefixLen(l.target, l.nodes[candidates[0]].id)
	best, bestEntry := 0, m.lookupEntry(l.nodes[candidates[0]].id)
	for j := 1; j < len(candidates); j++ {
		id := l.nodes[candidates[j]].id
		if identity.CommonPrefixLen(l.target, id) != class {
			break
		}
		if e := m.lookupEntry(id); preferred(e, bestEntry) {
			best, bestEntry = j, e
		}
	}
	return best
}

// preferred reports whether the contact with table entry a should be
// queried before the one with entry b, following pickNext's rule. A nil
// entry is a node the table does not hold.
func preferred(a, b *entry) bool {
	if a == nil || b == nil {
		return a != nil && b == nil
	}
	if a.failures != b.failures {
		return a.failures < b.failures
	}
	if (a.rtt == 0) != (b.rtt == 0) {
		return a.rtt != 0
	}
	if a.rtt != b.rtt {
		return a.rtt < b.rtt
	}
	return a.firstSeen < b.firstSeen
}

// query sends a FindNode to node i of l. Its path is the referral chain
// that led to the node, nearest hop last, so the receiver may learn it.
func (m *Machine) query(now time.Time, l *lookup, i int32) {
	n := &l.nodes[i]
	n.state = nodeInFlight
	l.inFlight++
	l.queried++
	msg := &wire.FindNode{Target: l.target, Path: m.path(l, i)}
	m.send(m.clock(now), m.lookupContact(n), msg, request{kind: findNode, lookup: l.id, node: i})
}

// lookupContact rebuilds the contact of a lookup's node.
func (m *Machine) lookupContact(n *lookupNode) wire.Contact {
	return wire.Contact{ID: n.id, Addr: m.unpackAddr(n.ip, n.port, n.addrKind)}
}

// path returns the nearest wire.MaxPath hops of node i's referral chain
// in lookup l, nearest hop last.
func (m *Machine) path(l *lookup, i int32) []wire.Contact {
	var path []wire.Contact
	for p := l.nodes[i].parent; p >= 0 && len(path) < wire.MaxPath; p = l.nodes[p].parent {
		path = append(path, m.lookupContact(&l.nodes[p]))
	}
	slices.Reverse(path)
	return path
}

func (m *Machine) findLookup(id LookupID) *lookup {
	for _, l := range m.lookups {
		if l.id == id {
			return l
		}
	}
	return nil
}

// lookupAnswered feeds a Nodes response to its lookup. A response that
// comes after its lookup finished still names candidates for the table.
// Contacts whose address this node cannot use from the responder's (see
// hearsayFrom) are dropped, and blocked ones are skipped.
func (m *Machine) lookupAnswered(now time.Time, r request, msg *wire.Nodes) {
	t := m.clock(now)
	l := m.findLookup(r.lookup)
	if l == nil || l.nodes[r.node].id != r.to.ID {
		for _, c := range msg.Contacts {
			if c, ok := hearsayFrom(c, r.to.Addr.Addr()); ok {
				m.considerCandidate(t, c, false)
			}
		}
		return
	}

	l.nodes[r.node].state = nodeAnswered
	l.inFlight--
	hops := l.nodes[r.node].hops + 1
	limit := lookupNodesPerK * m.cfg.K
	unverified := 0
	for _, c := range m.closestFirst(l.target, msg.Contacts) {
		c, ok := hearsayFrom(c, r.to.Addr.Addr())
		if !ok || !m.acceptable(c) || m.blocked(t, c.ID) {
			continue
		}
		pos, known := l.search(c.ID)
		if !known && m.lookupEntry(c.ID) == nil {
			if unverified == m.unverifiedPerResponse() {
				continue
			}
			unverified++
		}
		m.addToLookupAt(l, pos, known, c, r.node, hops, limit)
	}
	m.stepLookup(now, l)
}

// closestFirst returns a copy of contacts sorted by distance to target, so
// that the per-response cap keeps the closest ones whatever order the
// responder chose.
func (m *Machine) closestFirst(target identity.NodeID, contacts []wire.Contact) []wire.Contact {
	sorted := slices.Clone(contacts)
	slices.SortStableFunc(sorted, func(a, b wire.Contact) int {
		return compareDistance(target, a.ID, b.ID)
	})
	return sorted
}

// expireLookups finishes the lookups whose deadline has passed with the
// responses they have. Their requests in flight go on, and a late response
// still names candidates for the table.
func (m *Machine) expireLookups(now time.Time, t int64) {
	for _, l := range slices.Clone(m.lookups) {
		if t >= l.deadline {
			m.finishLookup(now, l)
		}
	}
}

// lookupFailed records that node r.node of r's lookup failed to respond.
func (m *Machine) lookupFailed(now time.Time, r request) {
	l := m.findLookup(r.lookup)
	if l == nil || l.nodes[r.node].id != r.to.ID {
		return
	}
	l.nodes[r.node].state = nodeFailed
	l.inFlight--
	l.failed++
	m.stepLookup(now, l)
}

// finishLookup reports the result of l. Nodes it heard of but never
// queried become candidates for the table; the queried ones were already
// observed or failed.
func (m *Machine) finishLookup(now time.Time, l *lookup) {
	m.lookups = slices.DeleteFunc(m.lookups, func(x *lookup) bool { return x == l })

	res := &LookupResult{
		ID: l.id, Target: l.target,
		Queried: l.queried, Failed: l.failed,
		Started: l.started, Finished: now,
	}
	for _, i := range l.order {
		if len(res.Closest) == m.cfg.K {
			break
		}
		if n := &l.nodes[i]; n.state == nodeAnswered {
			res.Closest = append(res.Closest, m.lookupContact(n))
			res.Hops = max(res.Hops, int(n.hops))
		}
	}

	t := m.clock(now)
	for _, i := range l.order {
		if n := &l.nodes[i]; n.state == nodeUnqueried {
			m.considerCandidate(t, m.lookupContact(n), false)
		}
	}

	switch l.kind {
	case lookupRefresh:
		return
	case lookupJoinRefresh:
		m.startFarRefreshes(now)
		return
	}
	if l.kind != lookupRejoin {
		m.events = append(m.events, Event{Kind: LookupDone, Lookup: res})
	}
	if l.kind == lookupJoin || l.kind == lookupRejoin {
		m.joined = true
		m.joinShort = len(res.Closest) < m.cfg.K
		m.refreshFarBuckets(now)
	}
}

// retryShortJoin makes Tick run the join again when a contact enters the
// table after a join lookup that found fewer than K nodes.
//
// Such a join lookup ended before it reached the node's neighbourhood, in a
// network of more than K nodes. That happens when the first nodes it asked
// knew only one another, such as the representatives of one group that
// take their seats together, and the contacts from AddContact were still
// being verified or referred the lookup elsewhere. Nothing else would look
// up the node's own ID again for RefreshInterval, so its closest nodes
// would not know it, and lookups for keys near it would miss it. In a
// network of at most K nodes every join lookup is short, and each contact
// that enters the table starts one more. That stops when no new node
// joins.
func (m *Machine) retryShortJoin(t int64) {
	if m.joinShort {
		m.joinShort = false
		m.joinDue = t
	}
}

// joinAgain runs the join retryShortJoin asked for once it is due.
func (m *Machine) joinAgain(now time.Time, t int64) {
	if t >= m.joinDue {
		m.joinDue = noDeadline
		m.startLookup(now, m.self.ID, lookupRejoin)
	}
}

// farRefreshesInFlight is the number of a join's far-bucket refreshes that
// run at once. Started all together they would ask the same few contacts
// the join lookup found, and a node with a dozen far buckets would track a
// dozen lookups and their responses at once. Run in pairs, each refresh
// starts from a table that the earlier ones filled, so it needs fewer
// requests. A join then ends a few lookup durations later.
const farRefreshesInFlight = 2

// refreshFarBuckets queues a refresh lookup for every bucket farther away
// than the closest neighbour, which completes a join: the lookup for the
// node's own ID filled only the buckets near it. The farthest bucket
// comes first. A later join replaces the refreshes still queued.
func (m *Machine) refreshFarBuckets(now time.Time) {
	m.farNext, m.farEnd = 0, 0
	nearest := m.closest(m.self.ID, 1, nil)
	if len(nearest) == 0 {
		return
	}
	m.farEnd = min(m.bucketIndex(nearest[0].ID), len(m.buckets))
	m.startFarRefreshes(now)
}

// startFarRefreshes starts queued far-bucket refreshes while fewer than
// farRefreshesInFlight of them run.
func (m *Machine) startFarRefreshes(now time.Time) {
	for m.farNext < m.farEnd && m.countLookups(lookupJoinRefresh) < farRefreshesInFlight {
		idx := m.farNext
		m.farNext++
		m.startLookup(now, m.randomIDInBucket(idx), lookupJoinRefresh)
	}
}

// countLookups returns the number of lookups of the given kind in progress.
func (m *Machine) countLookups(kind lookupKind) int {
	n := 0
	for _, l := range m.lookups {
		if l.kind == kind {
			n++
		}
	}
	return n
}

// randomIDInBucket returns a random ID from the seeded generator that
// shares exactly idx leading bits with this node's ID, for idx < 256.
func (m *Machine) randomIDInBucket(idx int) identity.NodeID {
	var id identity.NodeID
	for i := 0; i < len(id); i += 8 {
		binary.BigEndian.PutUint64(id[i:], m.rng.Uint64())
	}

	whole, rest := idx/8, idx%8
	copy(id[:whole], m.self.ID[:whole])
	keep := byte(0xff) << (8 - rest) // the bits of this byte before bit idx
	flip := byte(0x80) >> rest       // bit idx itself
	self := m.self.ID[whole]
	id[whole] = self&keep | ^self&flip | id[whole]&^(keep|flip)
	return id
}
