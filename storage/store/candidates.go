package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// ClosestKnower is a Network that can also return the nodes closest to a
// target from its routing table, without sending anything. Repair uses it,
// when the Network implements it, for targets near this node, where a
// Kademlia routing table is nearly complete, and lookups for the rest.
type ClosestKnower interface {
	// ClosestKnown returns up to n nodes closest to target, closest
	// first, from the local routing table. It may leave out this node,
	// and may list nodes that left since they were last heard from.
	// Repair takes every node within the farthest one returned to be
	// listed, so the result should stop before the first k-bucket that
	// is full, whose nodes are only a sample of its part of the key
	// space.
	ClosestKnown(target identity.NodeID, n int) []wire.Contact
}

// DownKnower is a Network that can also tell which nodes it took for
// down after failed requests. Placement by cluster uses it to leave such
// nodes out of a cell's registered holders, which name them until their
// registrations expire.
type DownKnower interface {
	// WithoutDown returns contacts, in order, without the nodes whose
	// requests failed recently enough that the Network skips them.
	WithoutDown(contacts []wire.Contact) []wire.Contact
}

// lookupWidth is how many times the candidates a target needs one lookup
// of repair requests. The targets a holder repairs lie near it in the key
// space, because it is among their closest nodes, so one wide lookup
// around the holder returns the candidates of most of them.
const lookupWidth = 4

// maxResolverViews bounds the wide results a resolver keeps. Each target is
// checked against all of them, and targets that no kept result covers
// are rare, since most lie near this node.
const maxResolverViews = 16

// resolver finds the candidate holders of many targets during one repair
// pass. It takes a target's candidates from a wide result it already has
// when that result provably contains the target's closest nodes, and
// otherwise makes a new wide lookup around the target.
type resolver struct {
	peers peers
	rep   *RepairReport
	views []nearby
	// cells are the registered holders of each cell read in this pass,
	// nil for a cell whose directory did not answer.
	cells map[string][]wire.Contact
}

// nearby is the result of one wide lookup or routing table read: the
// nodes within radius of center, without this node. A lookup's result is
// taken to hold every node within its radius, as a converged Kademlia
// lookup does, and so is the routing table's around this node.
type nearby struct {
	center   identity.NodeID
	contacts []wire.Contact // closest to center first
	radius   identity.NodeID
	// whole is set when a lookup returned fewer nodes than the target it
	// was made for needs, so it saw every node of the network, as the
	// store assumes of every lookup that returns fewer than requested. A
	// result short of the wider count requested is not trusted to be
	// whole, because a lookup for many nodes may fall short in a large
	// network.
	whole bool
}

// closest returns up to n candidates closest to target in XOR order, this
// node included when its holder's tier is least or higher, as
// peers.closest does.
func (r *resolver) closest(ctx context.Context, target identity.NodeID, n int, least Tier) ([]wire.Contact, error) {
	if len(r.views) == 0 {
		r.start(ctx, n)
	}
	for _, v := range r.views {
		if cands, ok := v.answer(target, n); ok {
			return r.withSelf(target, cands, n, least), nil
		}
	}
	v, err := r.lookup(ctx, target, n)
	if err != nil {
		return nil, err
	}
	cands, _ := v.answer(target, n)
	return r.withSelf(target, cands, n, least), nil
}

// start adds the first view, centered on this node, near which most
// targets lie: the routing table's if the Network offers it, otherwise a
// lookup's. A failed lookup leaves no view; each target then gets its own.
func (r *resolver) start(ctx context.Context, n int) {
	self := r.peers.net.Self().ID
	if k, ok := r.peers.net.(ClosestKnower); ok {
		r.add(self, withoutNode(k.ClosestKnown(self, lookupWidth*n), self), false)
		return
	}
	_, _ = r.lookup(ctx, self, n)
}

// lookup adds the view of a lookup for lookupWidth·n nodes around center.
func (r *resolver) lookup(ctx context.Context, center identity.NodeID, n int) (nearby, error) {
	width := lookupWidth * n
	r.rep.Lookups++
	contacts, err := r.peers.net.Closest(ctx, center, width)
	if err != nil {
		r.rep.Errors++
		return nearby{}, err
	}
	contacts = withoutNode(contacts, r.peers.net.Self().ID)
	return r.add(center, contacts, len(contacts) < n), nil
}

func (r *resolver) add(center identity.NodeID, contacts []wire.Contact, whole bool) nearby {
	v := nearby{center: center, contacts: sortByDistance(center, contacts), whole: whole}
	if len(v.contacts) > 0 {
		v.radius = identity.Xor(center, v.contacts[len(v.contacts)-1].ID)
	}
	if len(r.views) == maxResolverViews {
		// Keep the first view, centered on this node.
		r.views = slices.Delete(r.views, 1, 2)
	}
	r.views = append(r.views, v)
	return v
}

// answer returns the n nodes of v closest to target, if they are
// certainly the n closest of the network: when v saw the whole network,
// or when the ball around target that holds them lies inside v's. For
// XOR distances d(x, center) ≤ d(x, target) + d(target, center), so every
// node within far of target is within far + d(target, center) of center.
func (v nearby) answer(target identity.NodeID, n int) ([]wire.Contact, bool) {
	if !v.whole && len(v.contacts) < n {
		return nil, false
	}
	cands := sortByDistance(target, slices.Clone(v.contacts))
	cands = cands[:min(n, len(cands))]
	if v.whole {
		return cands, true
	}
	far := identity.Xor(target, cands[len(cands)-1].ID)
	reach, overflow := addIDs(far, identity.Xor(target, v.center))
	return cands, !overflow && identity.Compare(reach, v.radius) <= 0
}

// withSelf adds this node to cands when its holder's tier is least or
// higher, and keeps the n closest.
func (r *resolver) withSelf(target identity.NodeID, cands []wire.Contact, n int, least Tier) []wire.Contact {
	if h := r.peers.holder; h != nil && h.Tier() >= least && least > Lower {
		cands = sortByDistance(target, append(cands, r.peers.net.Self()))
	}
	return cands[:min(len(cands), n)]
}

func withoutNode(contacts []wire.Contact, id identity.NodeID) []wire.Contact {
	return slices.DeleteFunc(slices.Clone(contacts), func(c wire.Contact) bool { return c.ID == id })
}

// addIDs adds two IDs as 256-bit big-endian integers and reports whether
// the sum overflowed.
func addIDs(a, b identity.NodeID) (identity.NodeID, bool) {
	var sum identity.NodeID
	carry := 0
	for i := len(a) - 1; i >= 0; i-- {
		v := int(a[i]) + int(b[i]) + carry
		sum[i] = byte(v)
		carry = v >> 8
	}
	return sum, carry > 0
}

// closestIn returns up to n candidates for target among the registered
// holders of cell, in XOR order, as Store.closestIn does for writers.
// This node is a candidate only when registered in the cell. Each cell's
// members are read once per pass.
func (r *resolver) closestIn(ctx context.Context, cell string, target identity.NodeID, n int) ([]wire.Contact, error) {
	members, ok := r.cells[cell]
	if !ok {
		r.rep.Lookups++
		members, _ = r.peers.clusterMembers(ctx, cell)
		if r.cells == nil {
			r.cells = make(map[string][]wire.Contact)
		}
		r.cells[cell] = members
	}
	// Without members the chunk's other holders are unknown, and
	// planning over this node alone would call the chunk lost, so the
	// chunk waits for a pass that reads them.
	if len(members) == 0 {
		r.rep.Errors++
		return nil, fmt.Errorf("%w: no holder of cell %s found", ErrUnavailable, cell)
	}
	cands := sortByDistance(target, slices.Clone(members))
	return cands[:min(len(cands), n)], nil
}
