package store

import (
	"context"
	"slices"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// Holders returns, for each key, the nodes that the placement rule puts
// the bytes of its newest version on, closest first. For a value stored
// inline in its record they are the directory holders of the key's
// shard. For a value packed into a segment or cut into chunks they are
// the shard holders of those chunks: among the registered holders of the
// cell the version names, when it was placed by cluster. Holders reads
// the records but no value, and it changes nothing.
//
// The nodes come from the routing table when the Network can answer from
// it without traffic (ClosestKnower), and from a lookup otherwise. They
// are where the value was placed, not a proof that each node still holds
// it; a job scheduler uses them as a preference. A key whose record
// cannot be read gets no holders rather than failing the call.
func (s *Store) Holders(ctx context.Context, user, namespace string, keys []string) ([][]identity.NodeID, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	v, hashes, versions, err := s.readNewest(ctx, user, namespace, keys)
	if err != nil {
		return nil, err
	}

	p := v.d.Params()
	shards := p.Code().Total()
	type place struct {
		cell   string
		target identity.NodeID
	}
	found := make(map[place][]identity.NodeID)
	placed := func(cell string, target identity.NodeID, n int) []identity.NodeID {
		if ids, ok := found[place{cell, target}]; ok {
			return ids
		}
		ids := s.placedOn(ctx, cell, target, n)
		found[place{cell, target}] = ids
		return ids
	}
	out := make([][]identity.NodeID, len(keys))
	for i, h := range hashes {
		bv := versions[h]
		if bv.err != nil || bv.rec == nil || bv.env == nil {
			continue
		}
		switch {
		case len(bv.rec.Inline) > 0:
			out[i] = placed("", DirectoryID(namespace, DirectoryOf(h, p.DirBits)), int(p.Replicas))
		case bv.rec.Segment != nil:
			out[i] = placed(versionCell(v, bv), ChunkKey(chunk.ID(bv.rec.Segment.Chunk)), shards)
		default:
			cell := versionCell(v, bv)
			for _, id := range bv.env.Chunks {
				out[i] = appendNew(out[i], placed(cell, ChunkKey(id), shards))
			}
		}
	}
	return out, nil
}

// versionCell returns the cell a version's chunks are placed in, or ""
// when they are placed globally or the user cannot open the version.
//
// NOTE: only versions of a namespace placed by cluster are opened, since
// unwrapping the header key costs an HPKE decapsulation per record. A
// version written in a cell before the namespace went back to global
// placement is listed with global holders, which only misleads the
// scheduler's preference.
func versionCell(v *nsView, bv batchVersion) string {
	if v.d.Params().Placement != PlaceCluster {
		return ""
	}
	if _, ok := bv.rec.Groups[metaGroup]; !ok {
		return ""
	}
	dk, ok := unwrapFor(v, bv.env.Record, bv.rec.Wraps, seal.RoleHeader)
	if !ok {
		return ""
	}
	return cellOf(bv.rec, bv.env, dk)
}

// placedOn returns the up to n nodes closest to target, where a writer
// places it: among the registered holders of cell when it is set. This
// node is included when its holder takes data, as in peers.closest.
// placedOn returns nothing when the lookup fails.
func (s *Store) placedOn(ctx context.Context, cell string, target identity.NodeID, n int) []identity.NodeID {
	var contacts []wire.Contact
	if cell != "" {
		var err error
		if contacts, err = s.closestIn(ctx, cell, target, n); err != nil {
			s.log.Debug("reading the holders of a cell failed; the key gets none", "cell", cell, "err", err)
			return nil
		}
	} else if k, ok := s.peers.net.(ClosestKnower); ok {
		self := s.peers.net.Self()
		contacts = withoutNode(k.ClosestKnown(target, n), self.ID)
		if s.selfHolds() {
			contacts = sortByDistance(target, append(contacts, self))
		}
	} else {
		var err error
		if contacts, err = s.peers.closest(ctx, target, n, Middle); err != nil {
			s.log.Debug("lookup for holders failed; the key gets none", "target", target.Short(), "err", err)
			return nil
		}
	}
	contacts = contacts[:min(len(contacts), n)]
	ids := make([]identity.NodeID, len(contacts))
	for i, c := range contacts {
		ids[i] = c.ID
	}
	return ids
}

// selfHolds reports whether this node takes data as a writer's candidate.
func (s *Store) selfHolds() bool {
	h := s.peers.holder
	return h != nil && h.Tier() >= Middle
}

// appendNew appends the IDs of more that ids does not list yet.
func appendNew(ids, more []identity.NodeID) []identity.NodeID {
	for _, id := range more {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}
