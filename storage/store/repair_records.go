package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/yuinet/yui/network/identity"
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

// peerSync is the state of a reconciliation with one peer: its digest,
// or nil when it could not be read, whether it now holds every version
// held here, and what the requests to it counted.
type peerSync struct {
	remote   map[wire.Hash]versionStamp
	complete bool
	rep      RepairReport
}

// repairDirectory reconciles one directory shard with its other holders.
// It reads every peer's digest at once and then pushes to all peers at
// once, so a peer that died unnoticed costs one request timeout per pass
// rather than one per peer. Then, when keeping the shard, it pulls the
// versions this holder lacks from one peer after another, so that a
// version is pulled once. It hands the shard over when this node is no
// longer among its closest holders.
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
		wg.Go(func() {
			remote, err := r.remoteDigest(ctx, &syncs[i].rep, d, ref, c, local)
			if err == nil {
				syncs[i].remote = remote
			}
		})
	}
	wg.Wait()

	segments := r.repairSegments(d)
	for i, c := range plan.Peers {
		if syncs[i].remote == nil {
			continue
		}
		push := r.toPush(plan, i, local, syncs)
		wg.Go(func() { syncs[i].complete = r.pushTo(ctx, &syncs[i].rep, d, ref, c, push, segments) })
	}
	wg.Wait()

	synced := 0
	for i, c := range plan.Peers {
		rep.add(syncs[i].rep)
		if syncs[i].complete {
			synced++
		}
		if plan.Keep && syncs[i].remote != nil {
			r.pullFrom(ctx, rep, d, ref, c, local, syncs[i].remote, segments)
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

// toPush returns the versions peer i lacks that this holder pushes. Every
// holder of the shard reads the digests of all the others, so when several
// hold a version a peer lacks, only the first of them in XOR order pushes
// it. The others would send the same bytes again. A holder that hands the
// shard over pushes everything, since it drops the shard afterwards.
//
// NOTE: holders whose digests differ, such as one that missed a peer's
// digest, may both push a version or both leave it to the other, and the
// next pass then pushes what is still missing.
func (r *Repairer) toPush(plan dirPlan, i int, local *dirDigest, syncs []peerSync) []wire.Hash {
	push, _ := diffDigests(local.stamps, syncs[i].remote)
	if !plan.Keep {
		return push
	}
	self := r.peers.net.Self().ID
	out := push[:0]
	for _, k := range push {
		if r.firstHolder(plan, local.stamps[k], k, syncs, i) == self {
			out = append(out, k)
		}
	}
	return out
}

// firstHolder returns the first holder in XOR order, this one included,
// whose digest has the version stamp of k, leaving out peer skip.
func (r *Repairer) firstHolder(plan dirPlan, stamp versionStamp, k wire.Hash, syncs []peerSync, skip int) identity.NodeID {
	self := r.peers.net.Self().ID
	for j, c := range plan.Peers {
		if j == plan.Rank {
			return self
		}
		if j == skip || syncs[j].remote == nil {
			continue
		}
		if held, ok := syncs[j].remote[k]; ok && !stamp.newerThan(held) {
			return c.ID
		}
	}
	return self
}

// pushTo pushes the given versions to a peer in PutRecords batches and
// reports whether the peer stored all of them.
func (r *Repairer) pushTo(ctx context.Context, rep *RepairReport, d *Descriptor, ref dirRef, c wire.Contact, push []wire.Hash, segments *segmentCache) bool {
	versions := r.heldVersions(ctx, ref, push, segments)
	complete := len(versions) == len(push)
	for _, msg := range putMessages(ref.Namespace, ref.Dir, versions) {
		if !r.pushRecords(ctx, rep, d, c, msg) {
			complete = false
		}
	}
	return complete
}

// pushRecords sends one PutRecords. A new holder lacks the descriptor and
// responds with CodeNotFound, which is expected and not an error of the
// pass: it gets the descriptor and the records again.
func (r *Repairer) pushRecords(ctx context.Context, rep *RepairReport, d *Descriptor, c wire.Contact, msg *wire.PutRecords) bool {
	recs := msg.Records
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
// the ones held here, in GetRecords batches, and stores them here, the
// packed ones packed again. The versions pulled join local, so that the
// next peer is not asked for them again.
func (r *Repairer) pullFrom(ctx context.Context, rep *RepairReport, d *Descriptor, ref dirRef, c wire.Contact, local *dirDigest,
	remote map[wire.Hash]versionStamp, segments *segmentCache) {
	_, pull := diffDigests(local.stamps, remote)
	for start := 0; start < len(pull) && ctx.Err() == nil; start += wire.MaxRecordBatch {
		part := pull[start:min(start+wire.MaxRecordBatch, len(pull))]
		resp, err := r.send(ctx, rep, c, &wire.GetRecords{Namespace: d.Namespace(), KeyHashes: part})
		list, ok := resp.(*wire.RecordList)
		if err != nil || !ok {
			return
		}
		var versions []versionOf
		for i := range list.Records {
			versions = append(versions, versionOf{rec: &list.Records[i]})
		}
		for i := range list.Packed {
			e := &list.Packed[i]
			rec, _, err := segments.open(ctx, e)
			if err != nil {
				r.log.Warn("pulled packed record entry does not verify", "peer", c.ID.Short(), "err", err)
				rep.Errors++
				continue
			}
			versions = append(versions, versionOf{rec: rec, ref: &e.Ref})
		}
		for _, v := range versions {
			r.storePulled(ctx, rep, d, ref, local, v)
		}
	}
}

// storePulled stores one pulled version here, through the checks every
// PutRecords gets.
func (r *Repairer) storePulled(ctx context.Context, rep *RepairReport, d *Descriptor, ref dirRef, local *dirDigest, v versionOf) {
	msg := &wire.PutRecords{Namespace: d.Namespace(), Dir: ref.Dir, Records: []wire.Record{*v.rec}}
	if v.ref != nil {
		msg.Packed = []wire.PackedRef{*v.ref}
	}
	if _, ok := r.h.HandleMessage(ctx, transportPeer(r.peers.net.Self()), msg).(*wire.Ack); !ok {
		rep.Errors++
		return
	}
	env, err := d.VerifyRecord(v.rec.Envelope)
	if err != nil {
		return
	}
	k := wire.Hash(env.Record.KeyHash)
	local.stamps[k] = versionStamp{env.Record.Version, env.Writer}
	local.byEnv[sha256.Sum256(v.rec.Envelope)] = k
	rep.RecordsPulled++
}
