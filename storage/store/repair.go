package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// RepairConfig configures a Repairer. Holder and Network are required.
type RepairConfig struct {
	Holder  *Holder
	Network Network
	// RequestTimeout bounds each request; default 10s.
	RequestTimeout time.Duration
	// Scrub makes each pass read every shard held and drop corrupt ones
	// before checking chunks.
	Scrub  bool
	Now    func() time.Time
	Logger *slog.Logger
}

// RepairReport counts what one repair pass did.
type RepairReport struct {
	Namespaces        int // descriptors checked
	Directories       int // directory shards checked
	RecordsPushed     int // record versions sent to holders that lacked them
	RecordsPulled     int // record versions fetched from other holders
	HandedOver        int // directory shards and descriptors handed over and dropped
	Chunks            int // chunks checked
	ShardsRebuilt     int
	ShardsMoved       int // shards handed over to closer holders and dropped here
	ShardsDropped     int // surplus copies dropped because a closer holder has the index
	WrongShards       int // shards with a valid hash but the wrong contents, replaced
	Lookups           int // lookups made to find holders
	ChunksLost        int // chunks with fewer than Data shards left anywhere
	BytesSent         int64
	TombstonesDropped int
	CorruptDropped    int
	Errors            int // requests that failed; the next pass retries
}

// Repairer runs repair passes for one holder, as docs/storage.md
// describes: directory anti-entropy and handover, chunk repair by the
// first live holder in XOR order, and tombstone expiry. The daemon calls
// Run at an interval; tests call it directly. Run is not safe to call
// concurrently with itself.
type Repairer struct {
	cfg   RepairConfig
	h     *Holder
	peers peers
	log   *slog.Logger
}

// NewRepairer returns a Repairer for cfg.Holder.
func NewRepairer(cfg RepairConfig) (*Repairer, error) {
	if cfg.Holder == nil || cfg.Network == nil {
		return nil, errors.New("store: repairer needs a holder and a network")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Repairer{
		cfg:   cfg,
		h:     cfg.Holder,
		peers: peers{net: cfg.Network, holder: cfg.Holder, timeout: cfg.RequestTimeout},
		log:   cfg.Logger.With("node", cfg.Network.Self().ID.Short()),
	}, nil
}

// Run runs one repair pass. It returns an error only when the local store
// fails; failed requests are counted in the report and retried by the
// next pass.
func (r *Repairer) Run(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	var err error
	if rep.TombstonesDropped, err = r.h.Sweep(r.cfg.Now()); err != nil {
		return rep, err
	}
	if r.cfg.Scrub {
		if rep.CorruptDropped, err = r.h.Scrub(ctx); err != nil {
			return rep, err
		}
	}
	res := &resolver{peers: r.peers, rep: &rep}
	if err := r.repairNamespaces(ctx, &rep, res); err != nil {
		return rep, err
	}
	if err := r.repairDirectories(ctx, &rep, res); err != nil {
		return rep, err
	}
	if err := r.repairChunks(ctx, &rep, res); err != nil {
		return rep, err
	}
	r.h.stat.repairBytes.Add(uint64(rep.BytesSent))
	r.h.stat.repairs.Add(uint64(rep.ShardsRebuilt + rep.ShardsMoved + rep.RecordsPushed + rep.RecordsPulled))
	if rep.ShardsRebuilt+rep.ShardsMoved+rep.ShardsDropped+rep.RecordsPushed+rep.RecordsPulled+rep.HandedOver+rep.ChunksLost > 0 {
		r.log.Info("repair pass", "records_pushed", rep.RecordsPushed, "records_pulled", rep.RecordsPulled,
			"handed_over", rep.HandedOver, "shards_rebuilt", rep.ShardsRebuilt, "shards_moved", rep.ShardsMoved,
			"shards_dropped", rep.ShardsDropped, "wrong_shards", rep.WrongShards, "chunks_lost", rep.ChunksLost,
			"bytes_sent", rep.BytesSent, "lookups", rep.Lookups, "errors", rep.Errors)
	}
	return rep, ctx.Err()
}

// Loop runs a pass, then another after each interval with up to 20%
// random jitter, so that holders do not repair in step, until ctx is
// done. Errors are logged and the next pass retries.
func (r *Repairer) Loop(ctx context.Context, interval time.Duration) {
	for {
		if _, err := r.Run(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("repair pass failed", "err", err)
		}
		wait := interval + time.Duration(rand.Int64N(int64(interval)/5+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// send makes a request on behalf of repair and counts failures.
func (r *Repairer) send(ctx context.Context, rep *RepairReport, to wire.Contact, msg wire.Message) (wire.Message, error) {
	resp, err := r.peers.request(ctx, to, msg)
	if err != nil {
		rep.Errors++
		r.log.Debug("repair request failed", "peer", to.ID.Short(), "type", msg.Type(), "err", err)
	}
	return resp, err
}

// repairNamespaces pushes each descriptor held to the namespace's R
// closest holders, and drops it once handed over when this node is no
// longer among them.
func (r *Repairer) repairNamespaces(ctx context.Context, rep *RepairReport, res *resolver) error {
	names, err := r.h.heldNamespaces()
	if err != nil {
		return fmt.Errorf("store: repair: %w", err)
	}
	for _, ns := range names {
		d := r.h.descriptor(ns)
		if d == nil || ctx.Err() != nil {
			continue
		}
		rep.Namespaces++
		replicas := int(d.Params().Replicas)
		closest, err := res.closest(ctx, NamespaceID(ns), replicas, Upper)
		if err != nil {
			continue
		}
		plan := planDirectory(r.peers.net.Self().ID, closest, replicas)
		ok := r.pushDescriptor(ctx, rep, d, plan.Peers)
		if !plan.Keep && ok == len(plan.Peers) && ok > 0 && !r.holdsDirsOf(ns) {
			if err := r.h.dropNamespace(ns); err != nil {
				return fmt.Errorf("store: repair: %w", err)
			}
			rep.HandedOver++
		}
	}
	return nil
}

// holdsDirsOf reports whether any directory shard of ns is held here,
// which needs the descriptor to verify records.
func (r *Repairer) holdsDirsOf(ns string) bool {
	dirs, err := r.h.heldDirs()
	if err != nil {
		return true
	}
	for _, d := range dirs {
		if d.Namespace == ns {
			return true
		}
	}
	return false
}

// pushDescriptor sends the descriptor to every peer at once and returns
// how many stored it.
func (r *Repairer) pushDescriptor(ctx context.Context, rep *RepairReport, d *Descriptor, to []wire.Contact) int {
	msg := &wire.PutNamespace{Namespace: d.Namespace(), Descriptor: d.Bytes()}
	reports := make([]RepairReport, len(to))
	var wg sync.WaitGroup
	for i, c := range to {
		wg.Go(func() { _, _ = r.send(ctx, &reports[i], c, msg) })
	}
	wg.Wait()
	ok := 0
	for _, o := range reports {
		rep.add(o)
		if o.Errors == 0 {
			ok++
		}
	}
	return ok
}

// repairDirectories reconciles each directory shard held with the
// shard's other R closest holders, and hands it over when this node is no
// longer among them.
func (r *Repairer) repairDirectories(ctx context.Context, rep *RepairReport, res *resolver) error {
	dirs, err := r.h.heldDirs()
	if err != nil {
		return fmt.Errorf("store: repair: %w", err)
	}
	for _, ref := range dirs {
		if ctx.Err() != nil {
			return nil
		}
		d := r.h.descriptor(ref.Namespace)
		if d == nil {
			continue
		}
		rep.Directories++
		if err := r.repairDirectory(ctx, rep, res, d, ref); err != nil {
			return err
		}
	}
	return nil
}

// dirDigest lists the versions of one directory shard held here: a stamp
// per key hash, and the key hash of each envelope by its SHA-256. A peer's
// envelope found by hash needs no signature check.
type dirDigest struct {
	stamps map[wire.Hash]versionStamp
	byEnv  map[wire.Hash]wire.Hash
}

// localDigest returns the versions held here of a directory shard. Their
// envelopes were verified when they were stored, so the stored stamps are
// used as they are.
func (r *Repairer) localDigest(ref dirRef) (*dirDigest, error) {
	dg := &dirDigest{stamps: make(map[wire.Hash]versionStamp), byEnv: make(map[wire.Hash]wire.Hash)}
	err := r.h.scanDir(ref.Namespace, ref.Dir, wire.Hash{}, func(k wire.Hash, head *recordHead, rec *wire.Record) error {
		dg.stamps[k] = versionStamp{head.Version, head.Writer}
		if rec != nil {
			dg.byEnv[sha256.Sum256(rec.Envelope)] = k
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: repair: scan directory: %w", err)
	}
	return dg, nil
}

// remoteDigest pages through a peer's digest of a directory shard. An
// envelope also held here is matched by its hash; only the others are
// verified.
func (r *Repairer) remoteDigest(ctx context.Context, rep *RepairReport, d *Descriptor, ref dirRef, c wire.Contact, local *dirDigest) (map[wire.Hash]versionStamp, error) {
	digest := make(map[wire.Hash]versionStamp)
	var after wire.Hash
	for {
		resp, err := r.send(ctx, rep, c, &wire.ListRecords{Namespace: ref.Namespace, Dir: ref.Dir, After: after, Digest: true})
		if err != nil {
			return nil, err
		}
		page, ok := resp.(*wire.RecordPage)
		if !ok {
			return nil, fmt.Errorf("store: holder %s responded to ListRecords with %v", c.ID.Short(), resp.Type())
		}
		progressed := false
		for _, rec := range page.Records {
			k, stamp, ok := stampOf(d, local, rec.Envelope)
			if !ok {
				continue
			}
			digest[k] = stamp
			after, progressed = maxHash(after, k), true
		}
		// A packed entry is not signed. A false stamp can only make this
		// holder skip a push or pull a version that then fails the
		// checks every stored version gets.
		for _, e := range page.Packed {
			digest[e.KeyHash] = versionStamp{e.Version, e.Writer}
			after, progressed = maxHash(after, e.KeyHash), true
		}
		if !page.More || !progressed {
			return digest, nil
		}
	}
}

// stampOf returns the key hash and stamp of an envelope a peer listed.
func stampOf(d *Descriptor, local *dirDigest, envelope []byte) (wire.Hash, versionStamp, bool) {
	if k, ok := local.byEnv[sha256.Sum256(envelope)]; ok {
		return k, local.stamps[k], true
	}
	env, err := d.VerifyRecord(envelope)
	if err != nil {
		return wire.Hash{}, versionStamp{}, false
	}
	return wire.Hash(env.Record.KeyHash), versionStamp{env.Record.Version, env.Writer}, true
}

// maxHash returns the greater of two key hashes in byte order.
func maxHash(a, b wire.Hash) wire.Hash {
	if bytes.Compare(a[:], b[:]) >= 0 {
		return a
	}
	return b
}
