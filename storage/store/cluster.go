package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/yuinet/yui/network/geo"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
)

// Placement by cluster.
//
// A namespace with PlaceCluster stores each chunk (values cut into chunks
// and value segments of batches) on the holders of one geographic cluster,
// a cell of package geo, instead of the closest holders of the whole
// network. The cell's holders are found in a membership directory: each
// holder with a configured cell registers itself with the directory holders
// of ClusterID(cell), the Replicas upper-tier holders closest to it, as a
// descriptor is placed. Registrations expire unless refreshed.
//
// A chunk's holders are then the registered holders of its cell in XOR
// order from the chunk's ID, which is the same rule as global placement
// applied to a smaller set, so writers, readers and repair agree as they
// do globally. The cell is recorded signed in the record version (the
// "cell" field of the metadata group) for readers, and in every PutShard
// for holders, which keep it so that repair finds the same set without
// the namespace's keys.
//
// Records, directories, version segments and descriptors stay placed
// globally: they are small, and every reader must find them without
// knowing where the data was written.

// minClusterHolders is the fewest registered holders a cell needs before
// chunks are placed in it. With fewer the code would survive fewer than 4
// lost holders (ScaledParams gives 4+4 on 8), so the write falls back to
// global placement and records no cell.
const minClusterHolders = 8

// clusterReplicas is how many directory holders keep a cell's
// registrations.
const clusterReplicas = 17

// clusterReaders is how many directory holders a reader of a cell's
// members requests the list from at once. Their lists are joined.
const clusterReaders = 3

// Registration lifetimes. A holder refreshes its registration every
// ClusterRefresh, and directory holders forget one after ClusterTTL, so a
// holder that stopped drops out of new placements within that time.
const (
	ClusterRefresh = 5 * time.Minute
	ClusterTTL     = 3 * ClusterRefresh
	// maxClusterTTL bounds the lifetime a registration may ask for.
	maxClusterTTL = time.Hour
)

// memberCacheTTL is how long a gateway reuses a cell's member list.
const memberCacheTTL = 30 * time.Second

// maxBookCells bounds the cells one directory holder keeps registrations
// of; a registration for a further cell is refused.
const maxBookCells = 4096

// ClusterID returns the overlay key of a cell's membership directory:
// SHA-256("yui/cluster/" + cell).
func ClusterID(cell string) identity.NodeID {
	return identity.KeyID([]byte("yui/cluster/" + cell))
}

// checkCell returns an error unless cell is the name of a cell of the geo
// grid, such as "50.5,4.0".
func checkCell(cell string) error {
	lat, lon, err := geo.ParsePosition(cell)
	if err == nil {
		var c string
		if c, err = geo.Cell(lat, lon); err == nil && c != cell {
			err = fmt.Errorf("%q is not the corner of a %v° cell; the cell there is %q", cell, geo.CellDegrees, c)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: cell: %w", ErrInvalid, err)
	}
	return nil
}

// memberBook is a directory holder's registrations, by cell. It lives in
// memory only: after a restart the members register again within
// ClusterRefresh.
type memberBook struct {
	mu    sync.Mutex // guards cells and cellOf
	cells map[string]map[identity.NodeID]memberEntry
	// cellOf is the cell each member is registered in. A node has one
	// position, so a registration in another cell replaces the old one,
	// and one node cannot fill the book with cells.
	cellOf map[identity.NodeID]string
}

type memberEntry struct {
	c     wire.Contact
	until time.Time
}

// join registers c in cell until the given time. It reports false when
// the book or the cell is full.
func (b *memberBook) join(cell string, c wire.Contact, until, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cells == nil {
		b.cells = make(map[string]map[identity.NodeID]memberEntry)
		b.cellOf = make(map[identity.NodeID]string)
	}
	if old, ok := b.cellOf[c.ID]; ok && old != cell {
		b.leave(old, c.ID)
	}
	members, ok := b.cells[cell]
	if !ok {
		if len(b.cells) >= maxBookCells {
			b.pruneAll(now)
		}
		if len(b.cells) >= maxBookCells {
			return false
		}
		members = make(map[identity.NodeID]memberEntry)
		b.cells[cell] = members
	}
	if _, ok := members[c.ID]; !ok && len(members) >= wire.MaxClusterMembers {
		b.prune(members, now)
		if len(members) >= wire.MaxClusterMembers {
			return false
		}
	}
	members[c.ID] = memberEntry{c: c, until: until}
	b.cellOf[c.ID] = cell
	return true
}

// leave drops id's registration in cell, and the cell once it is empty.
func (b *memberBook) leave(cell string, id identity.NodeID) {
	delete(b.cellOf, id)
	members := b.cells[cell]
	delete(members, id)
	if len(members) == 0 {
		delete(b.cells, cell)
	}
}

// list returns the members of cell whose registration has not expired.
func (b *memberBook) list(cell string, now time.Time) []wire.Contact {
	b.mu.Lock()
	defer b.mu.Unlock()
	members := b.cells[cell]
	b.prune(members, now)
	if len(members) == 0 {
		delete(b.cells, cell)
		return nil
	}
	out := make([]wire.Contact, 0, len(members))
	for _, m := range members {
		out = append(out, m.c)
	}
	return out
}

func (b *memberBook) pruneAll(now time.Time) {
	for cell, members := range b.cells {
		if b.prune(members, now); len(members) == 0 {
			delete(b.cells, cell)
		}
	}
}

// prune drops the expired registrations of one cell's members.
func (b *memberBook) prune(members map[identity.NodeID]memberEntry, now time.Time) {
	for id, m := range members {
		if !now.Before(m.until) {
			delete(members, id)
			delete(b.cellOf, id)
		}
	}
}

// joinCluster registers the sender in the cell's directory. Only
// upper-tier holders keep directories.
func (h *Holder) joinCluster(from transport.Peer, m *wire.JoinCluster) wire.Message {
	if h.Tier() < Upper {
		return h.reject(RejectNotHolder, wire.CodeNotHolder, "node is in the %v tier and keeps no cluster directory", h.Tier())
	}
	if err := checkCell(m.Cell); err != nil {
		return h.reject(RejectInvalid, wire.CodeBadRequest, "%v", err)
	}
	c := wire.Contact{ID: from.ID, Addr: from.Addr}
	if err := c.Validate(); err != nil {
		return h.reject(RejectInvalid, wire.CodeBadRequest, "cluster member: %v", err)
	}
	now := h.cfg.Now()
	ttl := min(time.Duration(m.TTLSeconds)*time.Second, maxClusterTTL)
	if !h.members.join(m.Cell, c, now.Add(ttl), now) {
		return h.reject(RejectFull, wire.CodeFull, "cluster directory of %s is full", m.Cell)
	}
	return &wire.Ack{}
}

func (h *Holder) getCluster(m *wire.GetCluster) wire.Message {
	members := h.members.list(m.Cell, h.cfg.Now())
	return &wire.ClusterMembers{Members: members[:min(len(members), wire.MaxClusterMembers)]}
}

// clusterMembers reads a cell's registered holders from its directory
// holders: the first clusterReaders at once, the rest when none of them
// responds, and joins their lists.
func (p peers) clusterMembers(ctx context.Context, cell string) ([]wire.Contact, error) {
	cands, err := p.closest(ctx, ClusterID(cell), clusterReplicas, Upper)
	if err != nil {
		return nil, err
	}
	var (
		mu       sync.Mutex
		members  []wire.Contact
		answered int
		lastErr  error
	)
	ask := func(group []wire.Contact) {
		var wg sync.WaitGroup
		for _, c := range group {
			wg.Go(func() {
				resp, err := p.request(ctx, c, &wire.GetCluster{Cell: cell})
				mu.Lock()
				defer mu.Unlock()
				m, ok := resp.(*wire.ClusterMembers)
				if err != nil || !ok {
					lastErr = err
					return
				}
				answered++
				members = append(members, m.Members...)
			})
		}
		wg.Wait()
	}
	first := cands[:min(clusterReaders, len(cands))]
	ask(first)
	if answered == 0 && len(cands) > len(first) {
		ask(cands[len(first):])
	}
	if answered == 0 {
		return nil, fmt.Errorf("%w: no directory holder of cell %s responded: %v", ErrUnavailable, cell, lastErr)
	}
	slices.SortFunc(members, func(a, b wire.Contact) int { return identity.Compare(a.ID, b.ID) })
	return slices.CompactFunc(members, func(a, b wire.Contact) bool { return a.ID == b.ID }), nil
}

// JoinCluster registers this node's holder with the directory of cell
// for ClusterTTL. The node calls it every ClusterRefresh. A node whose
// holder takes no shards does not register.
func (s *Store) JoinCluster(ctx context.Context, cell string) error {
	if err := checkCell(cell); err != nil {
		return err
	}
	if !s.selfHolds() {
		return nil
	}
	msg := &wire.JoinCluster{Cell: cell, TTLSeconds: uint32(ClusterTTL / time.Second)}
	_, err := s.replicate(ctx, ClusterID(cell), clusterReplicas, msg.Type(), func(ctx context.Context, c wire.Contact) error {
		_, err := s.request(ctx, c, msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: join cluster %s: %w", cell, err)
	}
	return nil
}

// cachedMembers is a cell's member list as a gateway last read it.
type cachedMembers struct {
	members []wire.Contact
	fetched time.Time
}

// ClusterMembers returns the holders registered in cell, from a cache of
// memberCacheTTL.
func (s *Store) ClusterMembers(ctx context.Context, cell string) ([]wire.Contact, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	cm, ok := s.members[cell]
	s.mu.Unlock()
	if ok && now.Sub(cm.fetched) < memberCacheTTL {
		return cm.members, nil
	}
	members, err := s.peers.clusterMembers(ctx, cell)
	if err != nil {
		return nil, err
	}
	if len(members) < minClusterHolders {
		// A cell whose holders have just restarted lists few of them
		// until they register again, seconds later. A cached short list
		// would fail reads for memberCacheTTL, so it is not cached.
		return members, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.members) >= maxBookCells {
		clear(s.members)
	}
	s.members[cell] = cachedMembers{members: members, fetched: now}
	return members, nil
}

// writeCell returns the cell a write to v places its chunks in: the
// gateway's own cell, or want when the write names one, if the namespace
// is placed by cluster and the cell has at least minClusterHolders
// registered holders. Otherwise it returns "", global placement.
func (s *Store) writeCell(ctx context.Context, v *nsView, want string) string {
	if v.d.Params().Placement != PlaceCluster {
		return ""
	}
	cell := want
	if cell == "" && s.cfg.Cell != nil {
		cell = s.cfg.Cell()
	}
	if cell == "" || checkCell(cell) != nil {
		return ""
	}
	live, err := s.liveMembers(ctx, cell)
	if err != nil || len(live) < minClusterHolders {
		s.log.Debug("cell has too few live holders; placing globally", "namespace", v.name(), "cell", cell,
			"holders", len(live), "need", minClusterHolders, "err", err)
		return ""
	}
	return cell
}

// liveMembers returns the registered holders of cell without the nodes
// known to hold nothing and those the Network took for down.
func (s *Store) liveMembers(ctx context.Context, cell string) ([]wire.Contact, error) {
	members, err := s.ClusterMembers(ctx, cell)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	kept := slices.DeleteFunc(slices.Clone(members), func(c wire.Contact) bool { return s.isNotHolder(c.ID, now) })
	if down, ok := s.peers.net.(DownKnower); ok && !ProbesDown(ctx) {
		kept = down.WithoutDown(kept)
	}
	return kept, nil
}

// forgetMembers drops failed holders from the cached member list of cell,
// so that writes and reads through this gateway skip them until the list
// is read again, at most memberCacheTTL later. A write calls it for the
// holders whose PutShard failed, which the Network may not yet take for
// down.
func (s *Store) forgetMembers(cell string, failed map[identity.NodeID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cm, ok := s.members[cell]
	if !ok {
		return
	}
	cm.members = slices.DeleteFunc(slices.Clone(cm.members), func(c wire.Contact) bool { return failed[c.ID] })
	s.members[cell] = cm
}

// closestIn returns up to n candidate holders for target among the live
// registered holders of cell, in XOR order, or the global candidates when
// cell is "".
func (s *Store) closestIn(ctx context.Context, cell string, target identity.NodeID, n int) ([]wire.Contact, error) {
	if cell == "" {
		return s.closest(ctx, target, n)
	}
	kept, err := s.liveMembers(ctx, cell)
	if err != nil {
		return nil, err
	}
	kept = sortByDistance(target, kept)
	return kept[:min(len(kept), n)], nil
}

// keepCell records the cell a chunk is placed in, when the writer named
// one and it differs from the one held. A chunk written without a cell
// keeps the cell an earlier write gave it: the same chunk ID within one
// namespace is the same value, and its shards in the cell are still
// there.
//
// NOTE: a chunk written in two cells (the same value from gateways in
// both) is kept by each holder in the cell last named to it, so repair
// may move the shards of one cell to the other.
func (h *Holder) keepCell(id wire.Hash, cell string) error {
	if cell == "" {
		return nil
	}
	if h.chunkCell(id) == cell {
		return nil
	}
	return h.cfg.Shards.PutMeta(engine.MetaHeader, chunkCellKey(id), []byte(cell))
}

// chunkCell returns the cell a chunk held here is placed in, or "" for a
// chunk placed globally.
func (h *Holder) chunkCell(id wire.Hash) string {
	b, err := h.cfg.Shards.GetMeta(engine.MetaHeader, chunkCellKey(id))
	if err != nil || checkCell(string(b)) != nil {
		return ""
	}
	return string(b)
}

// dropCell deletes the record of a chunk's cell once no shard of it is
// held here.
func (h *Holder) dropCell(id wire.Hash) {
	if held, err := h.cfg.Shards.List(engine.ChunkID(id)); err != nil || len(held) > 0 {
		return
	}
	if err := h.cfg.Shards.DeleteMeta(engine.MetaHeader, chunkCellKey(id)); err != nil && !isNotFound(err) {
		h.log.Warn("deleting the cell of a chunk no longer held failed", "chunk", fmt.Sprintf("%x", id[:8]), "err", err)
	}
}

// SetPlacement sets where a namespace's chunks are placed from now on,
// creating the namespace with owner as its owner if it does not exist.
// Only an owner may change it. Chunks written before stay where they
// are, since each version records the cell its chunks lie in.
func (s *Store) SetPlacement(ctx context.Context, owner, namespace string, p Placement) error {
	if p > PlaceCluster {
		return fmt.Errorf("%w: placement %d is unknown; use global or cluster", ErrInvalid, p)
	}
	if _, err := s.resolve(ctx, owner, namespace, Write, true); err != nil {
		return err
	}

	u, err := s.LoadUser(owner)
	if err != nil {
		return err
	}
	d, err := s.descriptor(ctx, namespace, true)
	if err != nil {
		return err
	}
	v, err := openView(d, u)
	if err != nil {
		return err
	}
	if !v.owner {
		return fmt.Errorf("%w: only an owner of %q may change its placement", ErrForbidden, namespace)
	}
	if d.Params().Placement == p {
		return nil
	}

	body := d.body
	body.Params.Placement = p
	acl := *d.acl
	acl.Version++
	acl.Owners = slices.Clone(acl.Owners)
	acl.Writers = slices.Clone(acl.Writers)
	next, err := s.signAndPublish(ctx, u, &body, &acl)
	if err != nil {
		return err
	}
	s.pushToDirectories(ctx, next)
	s.log.Info("changed namespace placement", "namespace", namespace, "placement", p, "version", acl.Version)
	return nil
}
