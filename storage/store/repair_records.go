package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/yuinet/yui/network/wire"
)

// add sums the counters of o into rep.
func (rep *RepairReport) add(o RepairReport) {
	rep.Namespaces += o.Namespaces
	rep.Directories += o.Directories
	rep.RecordsPushed += o.RecordsPushed
	rep.RecordsPulled += o.RecordsPulled
	rep.HandedOver += o.HandedOver
	rep.Chunks += o.Chunks
	rep.ShardsRebuilt += o.ShardsRebuilt
	rep.ShardsMoved += o.ShardsMoved
	rep.ShardsDropped += o.ShardsDropped
	rep.WrongShards += o.WrongShards
	rep.Lookups += o.Lookups
	rep.ChunksLost += o.ChunksLost
	rep.BytesSent += o.BytesSent
	rep.TombstonesDropped += o.TombstonesDropped
	rep.CorruptDropped += o.CorruptDropped
	rep.Errors += o.Errors
}

// peerSync is the outcome of the push half of a reconciliation with one
// peer: the peer's digest, or nil when it could not be read, and whether
// the peer now holds every version held here.
type peerSync struct {
	remote   map[wire.Hash]versionStamp
	complete bool
	rep      RepairReport
}

// repairDirectory reconciles one directory shard with its other holders.
// It reads every peer's digest and pushes the versions the peer lacks, to
// all peers at once, so a peer that died unnoticed costs one request
// timeout per pass rather than one per peer. Then, when keeping the
// shard, it pulls the versions this holder lacks from one peer after
// another, so that a version is pulled once. It hands the shard over
// when this node is no longer among its closest holders.
func (r *Repairer) repairDirectory(ctx context.Context, rep *RepairReport, res *resolver, d *Descriptor, ref dirRef) error {
	replicas := int(d.Params().Replicas)
	closest, err := res.closest(ctx, DirectoryID(ref.Namespace, ref.Dir), replicas, Upper)
	if err != nil {
		return nil
	}
	plan := planDirectory(r.peers.net.Self().ID, closest, replicas)
	local, err := r.localDigest(ref)
	if err != nil {
		return err
	}

	syncs := make([]peerSync, len(plan.Peers))
	var wg sync.WaitGroup
	for i, c := range plan.Peers {
		wg.Go(func() { syncs[i] = r.pushTo(ctx, d, ref, c, local) })
	}
	wg.Wait()

	synced := 0
	for i, c := range plan.Peers {
		rep.add(syncs[i].rep)
		if syncs[i].complete {
			synced++
		}
		if plan.Keep && syncs[i].remote != nil {
			r.pullFrom(ctx, rep, d, ref, c, local, syncs[i].remote)
		}
	}
	if !plan.Keep && synced == len(plan.Peers) && synced > 0 {
		if err := r.h.dropDir(ref); err != nil {
			return fmt.Errorf("store: repair: %w", err)
		}
		rep.HandedOver++
	}
	return nil
}

// pushTo reads a peer's digest of a directory shard and pushes the
// versions it lacks in PutRecords batches. local is only read.
func (r *Repairer) pushTo(ctx context.Context, d *Descriptor, ref dirRef, c wire.Contact, local *dirDigest) peerSync {
	var ps peerSync
	remote, err := r.remoteDigest(ctx, &ps.rep, d, ref, c, local)
	if err != nil {
		return ps
	}
	ps.remote = remote
	push, _ := diffDigests(local.stamps, remote)
	recs := r.localRecords(ref, push)
	ps.complete = len(recs) == len(push)
	for _, part := range splitRecords(recs) {
		if !r.pushRecords(ctx, &ps.rep, d, ref, c, part) {
			ps.complete = false
		}
	}
	return ps
}

// localRecords reads the versions held here of the given records. A
// version that no longer reads is left out.
func (r *Repairer) localRecords(ref dirRef, keys []wire.Hash) []wire.Record {
	recs := make([]wire.Record, 0, len(keys))
	for _, k := range keys {
		head, err := r.h.meta.getHead(recordKey(ref.Namespace, ref.Dir, k))
		if err != nil {
			continue
		}
		rec, err := r.h.meta.getRecord(head)
		if err != nil {
			continue
		}
		recs = append(recs, *rec)
	}
	return recs
}

// pushRecords sends one PutRecords. A new holder lacks the descriptor and
// responds with CodeNotFound, which is expected and not an error of the
// pass: it gets the descriptor and the records again.
func (r *Repairer) pushRecords(ctx context.Context, rep *RepairReport, d *Descriptor, ref dirRef, c wire.Contact, recs []wire.Record) bool {
	msg := &wire.PutRecords{Namespace: ref.Namespace, Dir: ref.Dir, Records: recs}
	_, err := r.peers.request(ctx, c, msg)
	if code := errorCode(err); code == wire.CodeNotFound || code == wire.CodeForbidden {
		if _, perr := r.send(ctx, rep, c, &wire.PutNamespace{Namespace: d.Namespace(), Descriptor: d.Bytes()}); perr == nil {
			_, err = r.send(ctx, rep, c, msg)
		}
	} else if err != nil {
		rep.Errors++
		r.log.Debug("repair request failed", "peer", c.ID.Short(), "type", msg.Type(), "err", err)
	}
	if err != nil {
		return false
	}
	rep.RecordsPushed += len(recs)
	for i := range recs {
		rep.BytesSent += int64(recordSize(&recs[i]))
	}
	return true
}

// pullFrom fetches from a peer the versions it holds that are newer than
// the ones held here, in GetRecords batches, and stores them here. The
// versions pulled join local, so that the next peer is not asked for
// them again.
func (r *Repairer) pullFrom(ctx context.Context, rep *RepairReport, d *Descriptor, ref dirRef, c wire.Contact, local *dirDigest, remote map[wire.Hash]versionStamp) {
	_, pull := diffDigests(local.stamps, remote)
	for start := 0; start < len(pull) && ctx.Err() == nil; start += wire.MaxRecordBatch {
		part := pull[start:min(start+wire.MaxRecordBatch, len(pull))]
		resp, err := r.send(ctx, rep, c, &wire.GetRecords{Namespace: d.Namespace(), KeyHashes: part})
		list, ok := resp.(*wire.RecordList)
		if err != nil || !ok {
			return
		}
		for i := range list.Records {
			r.storePulled(ctx, rep, d, ref, local, &list.Records[i])
		}
	}
}

// storePulled stores one pulled version here, through the checks every
// PutRecord gets.
func (r *Repairer) storePulled(ctx context.Context, rep *RepairReport, d *Descriptor, ref dirRef, local *dirDigest, rec *wire.Record) {
	self := r.peers.net.Self()
	ack := r.h.HandleMessage(ctx, transportPeer(self), &wire.PutRecord{Namespace: d.Namespace(), Dir: ref.Dir, Record: *rec})
	if _, ok := ack.(*wire.Ack); !ok {
		rep.Errors++
		return
	}
	env, err := d.VerifyRecord(rec.Envelope)
	if err != nil {
		return
	}
	k := wire.Hash(env.Record.KeyHash)
	local.stamps[k] = versionStamp{env.Record.Version, env.Writer}
	local.byEnv[sha256.Sum256(rec.Envelope)] = k
	rep.RecordsPulled++
}
