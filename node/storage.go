package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/storage/engine"
	"github.com/yuinet/yui/storage/store"
)

// Tiers a node can be started in. TierAuto lets the store rank the node
// by its uptime and free disk.
const (
	TierAuto   = ""
	TierUpper  = "upper"
	TierMiddle = "middle"
	TierLower  = "lower"
)

// ErrInvalidTier reports a Config.Tier the node does not know.
var ErrInvalidTier = errors.New("node: invalid tier")

// parseTier checks a tier name; "auto" is accepted as TierAuto.
func parseTier(s string) (string, error) {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "auto":
		return TierAuto, nil
	case TierAuto, TierUpper, TierMiddle, TierLower:
		return s, nil
	}
	return "", fmt.Errorf("%w %q: want upper, middle, lower or auto", ErrInvalidTier, s)
}

// storeDir is the folder in the data folder that holds the node's
// Pebble store of shards and records.
const storeDir = "store"

// minFreeDisk is the free disk space a holder keeps: it rejects writes
// that would leave less, so a full store does not fill the disk.
const minFreeDisk = 256 << 20

// tierInterval is how often a node in the automatic tier measures its
// uptime and free disk and moves to the tier they call for.
const tierInterval = time.Minute

// repairInterval is the mean time between a holder's repair passes; each
// wait is drawn from ±25% around it, so holders do not repair in step.
// Every scrubEvery-th pass also reads every shard held to find corrupt
// ones.
const (
	repairInterval = 10 * time.Minute
	scrubEvery     = 24
)

// storage is the node's part of the distributed store: the holder that
// serves peers and the gateway that serves local users. Its fields are
// set before the node listens and stay until the node has stopped
// listening and serving its API.
type storage struct {
	tier   string // as configured; TierAuto follows store.DefaultTierPolicy
	db     *engine.DB
	holder *store.Holder
	store  *store.Store
	net    *storeNetwork

	// repairMu serializes repair passes, periodic and requested, because
	// a Repairer must not run concurrently with itself.
	repairMu sync.Mutex
	repairer *store.Repairer
	scrubber *store.Repairer // a Repairer that also scrubs
	// indexRepairer hands over and repairs the search postings held
	// here, after each store pass.
	indexRepairer *search.Repairer

	stop chan struct{}
	done sync.WaitGroup
}

// openStorage opens the holder before the node listens, so that the
// first storage message from a peer finds it.
func (n *Node) openStorage() error {
	tier, err := parseTier(n.cfg.Tier)
	if err != nil {
		return err
	}
	db, err := engine.Open(filepath.Join(n.cfg.DataDir, storeDir), engine.Options{Logger: n.log})
	if err != nil {
		return err
	}
	n.storage = &storage{tier: tier, db: db, stop: make(chan struct{})}

	shards, err := engine.NewShardStore(db)
	if err != nil {
		return err
	}
	initial, err := n.initialTier(tier)
	if err != nil {
		return err
	}
	n.storage.holder, err = store.NewHolder(store.HolderConfig{
		Self:      n.id.ID,
		Shards:    shards,
		Engine:    db,
		Disk:      db.DiskUsage,
		MinFree:   minFreeDisk,
		Tier:      initial,
		FixedTier: tier != TierAuto,
		Logger:    n.cfg.Logger,
	})
	if err != nil {
		return err
	}
	n.storage.holder.PlaceTier(store.DefaultTierPolicy(), 0)
	return nil
}

// initialTier returns the configured tier, or the lower tier for TierAuto,
// which the tier policy then raises as far as the node qualifies.
func (n *Node) initialTier(tier string) (store.Tier, error) {
	if tier == TierAuto {
		return store.Lower, nil
	}
	return store.ParseTier(tier)
}

// startStorage starts the gateway once the node listens, and creates the
// default user on a node's first start so that 'yui put' works with no
// setup.
func (n *Node) startStorage() error {
	s := n.storage
	s.net = newStoreNetwork(n.self, n.router, n.tr)
	st, err := store.New(store.Config{
		DataDir: n.cfg.DataDir,
		Network: s.net,
		Holder:  s.holder,
		Cell:    n.jobs.place.cluster,
		Logger:  n.cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.store = st
	if _, err := st.PublicUser(store.DefaultUser); err != nil {
		return err
	}
	if s.repairer, err = store.NewRepairer(store.RepairConfig{Holder: s.holder, Network: s.net, Logger: n.cfg.Logger}); err != nil {
		return err
	}
	if s.scrubber, err = store.NewRepairer(store.RepairConfig{Holder: s.holder, Network: s.net, Scrub: true, Logger: n.cfg.Logger}); err != nil {
		return err
	}
	if s.indexRepairer, err = search.NewRepairer(search.RepairConfig{Index: n.search.index, Network: s.net, Logger: n.cfg.Logger}); err != nil {
		return err
	}
	s.done.Add(1)
	go n.repairPeriodically()
	s.done.Add(1)
	go n.joinClusterPeriodically()
	s.done.Add(1)
	go n.sweepSightingsPeriodically()

	n.log.Info("store started", "tier", s.holder.Tier(), "tier_mode", tierMode(s.tier))
	if s.tier == TierAuto {
		s.done.Add(1)
		go n.followTierPolicy()
	}
	return nil
}

func tierMode(tier string) string {
	if tier == TierAuto {
		return "auto"
	}
	return "fixed"
}

// followTierPolicy moves the holder to the tier that its uptime and free
// disk call for, until the store stops.
func (n *Node) followTierPolicy() {
	s := n.storage
	defer s.done.Done()
	ticker := time.NewTicker(tierInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			s.holder.PlaceTier(store.DefaultTierPolicy(), time.Since(n.started))
		}
	}
}

// repairPeriodically runs repair passes until the store stops.
func (n *Node) repairPeriodically() {
	s := n.storage
	defer s.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()

	for pass := 1; ; pass++ {
		wait := time.Duration(float64(repairInterval) * (0.75 + 0.5*rand.Float64()))
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		if _, _, err := n.repair(ctx, pass%scrubEvery == 0); err != nil && ctx.Err() == nil {
			n.log.Error("repair pass failed", "pass", pass, "err", err)
		}
	}
}

// clusterFirstJoin is the wait before a node first registers in its
// cell's directory; the wait doubles after each attempt up to
// store.ClusterRefresh. A node that has just started has few peers in
// its routing table, so its first registrations may reach other holders than the cell's
// directory holders, and the early repeats correct that. It is short
// because readers of the cell's data find no holder of a restarted cell
// until its nodes register again.
const clusterFirstJoin = 2 * time.Second

// joinClusterPeriodically registers the holder in its cell's directory
// until the store stops.
func (n *Node) joinClusterPeriodically() {
	s := n.storage
	defer s.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()

	// The cell is the configured position's, else that of the sensors
	// whose readings the node ingested, so it may be unknown at first and
	// change later. A new cell is registered at once.
	wait, joined := clusterFirstJoin, ""
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		cell := n.jobs.place.cluster()
		if cell == "" {
			continue
		}
		if cell != joined {
			wait = clusterFirstJoin
		}
		// A failed registration waits as long as a successful one, since
		// it usually reached all but a directory holder that is down.
		err := s.store.JoinCluster(ctx, cell)
		joined = cell
		wait = min(2*wait, store.ClusterRefresh)
		if err != nil && ctx.Err() == nil {
			n.log.Warn("registering in the cluster directory failed; retrying", "cell", cell, "err", err, "retry_in", wait)
		}
	}
}

// repair runs one repair pass of the store, then one of the search
// postings held here, after any pass in progress.
func (n *Node) repair(ctx context.Context, scrub bool) (store.RepairReport, search.RepairReport, error) {
	s := n.storage
	s.repairMu.Lock()
	defer s.repairMu.Unlock()
	r := s.repairer
	if scrub {
		r = s.scrubber
	}
	rep, err := r.Run(ctx)
	if err != nil {
		return rep, search.RepairReport{}, err
	}
	indexRep, err := s.indexRepairer.Run(ctx)
	return rep, indexRep, err
}

// closeStorage stops the store's background work and closes its
// database. The transport and the API have stopped by then, so nothing
// calls the holder or the gateway any more.
func (n *Node) closeStorage() {
	s := n.storage
	if s == nil || s.db == nil {
		return
	}
	close(s.stop)
	s.done.Wait()
	if err := s.db.Close(); err != nil {
		n.log.Error("closing the store failed", "dir", filepath.Join(n.cfg.DataDir, storeDir), "err", err)
	}
	s.db = nil
}

// isStorageType reports whether t is a message of the storage protocol.
func isStorageType(t wire.Type) bool {
	return (t >= wire.TypePutShard && t <= wire.TypePutRecords) ||
		(t >= wire.TypeJoinCluster && t <= wire.TypeClusterMembers)
}

// handleStorage serves a storage message from a peer with the local
// holder, which rejects what its tier does not hold with CodeNotHolder.
func (n *Node) handleStorage(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	resp := n.storage.holder.HandleMessage(ctx, from, msg)
	if !isRequest {
		return nil
	}
	if resp == nil {
		return &wire.Error{Code: wire.CodeUnsupported, Message: "unsupported storage message " + msg.Type().String()}
	}
	return resp
}
