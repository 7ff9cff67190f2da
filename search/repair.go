package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/store"
)

// maxBucketKeys bounds the keys one repair reads from a peer for one
// bucket, so that a peer that keeps sending pages cannot exhaust this
// holder's memory. A bucket holds 1/65,536 of a namespace's postings.
const maxBucketKeys = 1 << 20

// RepairConfig configures a Repairer. Index and Network are required.
type RepairConfig struct {
	Index   *Index
	Network store.Network
	// Replicas is the number of holders of each posting; default 3. It
	// must match the writers' Config.Replicas.
	Replicas int
	// RequestTimeout bounds each request; default 10s.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// RepairReport counts what one index repair pass did.
type RepairReport struct {
	Partitions   int // partitions held here and checked
	InSync       int // holders whose partition digest matched this one's
	Buckets      int // buckets listed because their digests differed
	PostingsSent int // postings sent to holders that lacked them
	Errors       int // transfers that failed; the next pass retries
	// Skipped counts the transfers not tried because the holder failed
	// earlier in the pass.
	Skipped int
}

// Repairer keeps the holder sets of the index partitions that one index
// holder stores complete. For each partition, it compares digests with
// the partition's current closest holders and sends each one the
// postings it lacks. So a closer node that joined gets them (handover),
// and so does the node that takes the place of a failed holder (repair).
// Every holder runs one, so the postings of a partition reach its
// holders while any node still stores them.
//
// Posting lists only grow: no message deletes a posting, so sending one
// again never brings back a deleted posting.
//
// NOTE: a node that is no longer among a partition's holders keeps its
// copy and keeps checking it on every pass. That costs disk and one
// digest request per holder and partition, but no posting transfer once
// the holders are complete.
type Repairer struct {
	post *postings
	x    *Index
	log  *slog.Logger
}

// NewRepairer returns a Repairer for cfg.Index.
func NewRepairer(cfg RepairConfig) (*Repairer, error) {
	if cfg.Index == nil || cfg.Network == nil {
		return nil, errors.New("search: repairer needs an index and a network")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 3
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("node", cfg.Network.Self().ID.Short())
	return &Repairer{
		post: &postings{
			net:      cfg.Network,
			local:    cfg.Index,
			replicas: cfg.Replicas,
			timeout:  cfg.RequestTimeout,
			log:      log,
		},
		x:   cfg.Index,
		log: log,
	}, nil
}

// Run runs one repair pass over every partition held here. It returns
// an error only when the local index fails; failed transfers are logged,
// counted in the report and retried by the next pass.
func (r *Repairer) Run(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	held, err := r.x.heldPartitions()
	if err != nil {
		return rep, fmt.Errorf("search: repair: list partitions: %w", err)
	}
	// failed holds the holders that failed a transfer in this pass. They
	// get no more requests until the next pass, so that a holder that
	// does not respond costs one timeout per pass and not one per
	// partition.
	failed := make(map[identity.NodeID]bool)
	for _, hp := range held {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Partitions++
		if err := r.repairPartition(ctx, &rep, failed, hp.ns, hp.part); err != nil {
			return rep, err
		}
	}
	if rep.PostingsSent > 0 || rep.Errors > 0 {
		r.log.Info("index repair pass", "partitions", rep.Partitions, "in_sync", rep.InSync,
			"buckets", rep.Buckets, "postings_sent", rep.PostingsSent, "errors", rep.Errors, "skipped", rep.Skipped)
	}
	return rep, nil
}

// repairPartition sends the partition's current holders the postings
// held here that they lack. It walks the candidates closest first and
// counts this node as a holder when it is one. As in a write, a failed
// candidate is replaced by the next one.
func (r *Repairer) repairPartition(ctx context.Context, rep *RepairReport, failed map[identity.NodeID]bool, ns string, part byte) error {
	local, err := r.x.digest(ns, part)
	if err != nil {
		return fmt.Errorf("search: repair: digest of partition %d of %q: %w", part, ns, err)
	}
	cands, err := r.post.candidates(ctx, partitionID(ns, part))
	if err != nil {
		rep.Errors++
		r.log.Warn("index repair lookup failed", "namespace", ns, "partition", part, "err", err)
		return nil
	}
	self := r.post.net.Self().ID
	want := r.post.copies(cands)
	done := 0
	for _, c := range cands {
		if done == want {
			break
		}
		if c.ID == self {
			done++
			continue
		}
		if failed[c.ID] {
			rep.Skipped++
			continue
		}
		sent, err := r.syncHolder(ctx, rep, c, ns, part, local)
		rep.PostingsSent += sent
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var le localError
			if errors.As(err, &le) {
				return err
			}
			rep.Errors++
			failed[c.ID] = true
			r.log.Warn("index posting transfer failed; skipping the holder until the next pass",
				"namespace", ns, "partition", part, "peer", c.ID.Short(), "sent", sent, "err", err)
			continue
		}
		done++
	}
	return nil
}

// localError is a failure of this holder's own index, which stops the
// pass instead of being counted as a failed transfer.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// syncHolder sends the holder c the postings of the partition that it
// lacks: its digest first, then its keys in the buckets whose digests
// differ, then the missing postings. It returns how many it sent.
func (r *Repairer) syncHolder(ctx context.Context, rep *RepairReport, c wire.Contact, ns string, part byte, local *partitionDigest) (int, error) {
	resp, err := r.post.request(ctx, c, &wire.IndexSync{Namespace: ns, Partition: part, Count: local.count, Digest: local.digest})
	if err != nil {
		return 0, err
	}
	remote, ok := resp.(*wire.IndexBuckets)
	if !ok {
		return 0, fmt.Errorf("index-sync to %s: unexpected %v", c.ID.Short(), resp.Type())
	}
	if len(remote.Buckets) == 0 {
		rep.InSync++
		return 0, nil
	}
	sent := 0
	for b := range wire.IndexBucketCount {
		if local.buckets[b].Count == 0 || local.buckets[b] == remote.Buckets[b] {
			continue
		}
		rep.Buckets++
		n, err := r.syncBucket(ctx, c, ns, part, byte(b), remote.Buckets[b].Count == 0)
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// syncBucket lists the holder's keys in one bucket, unless it reported
// the bucket empty, and sends it the postings held here that it lacks,
// at most wire.MaxIndexPostings per IndexAdd.
func (r *Repairer) syncBucket(ctx context.Context, c wire.Contact, ns string, part, bucket byte, empty bool) (int, error) {
	remote := map[string]bool{}
	if !empty {
		var err error
		if remote, err = r.listBucket(ctx, c, ns, part, bucket); err != nil {
			return 0, err
		}
	}
	var missing []wire.IndexPosting
	err := r.x.bucketKeys(ns, part, bucket, nil, func(key []byte) error {
		if remote[string(key)] {
			return nil
		}
		entry, err := r.x.entry(ns, key)
		if err != nil {
			return err
		}
		missing = append(missing, wire.IndexPosting{Token: wire.Hash(key[:32]), Entry: entry})
		return nil
	})
	if err != nil {
		return 0, localError{fmt.Errorf("search: repair: read bucket %d of partition %d of %q: %w", bucket, part, ns, err)}
	}
	sent := 0
	for batch := range slices.Chunk(missing, wire.MaxIndexPostings) {
		if _, err := r.post.request(ctx, c, &wire.IndexAdd{Namespace: ns, Postings: batch}); err != nil {
			return sent, err
		}
		sent += len(batch)
	}
	return sent, nil
}

// listBucket reads every page of a holder's keys in one bucket.
func (r *Repairer) listBucket(ctx context.Context, c wire.Contact, ns string, part, bucket byte) (map[string]bool, error) {
	keys := make(map[string]bool)
	msg := &wire.IndexList{Namespace: ns, Partition: part, Bucket: bucket}
	for {
		resp, err := r.post.request(ctx, c, msg)
		if err != nil {
			return nil, err
		}
		page, ok := resp.(*wire.IndexKeys)
		if !ok {
			return nil, fmt.Errorf("index-list to %s: unexpected %v", c.ID.Short(), resp.Type())
		}
		for _, k := range page.Keys {
			keys[string(k)] = true
		}
		if len(page.Next) == 0 {
			return keys, nil
		}
		if bytes.Compare(page.Next, msg.After) <= 0 {
			return nil, fmt.Errorf("index-list to %s: cursor did not advance", c.ID.Short())
		}
		if len(keys) >= maxBucketKeys {
			return nil, fmt.Errorf("index-list to %s: more than %d keys in one bucket", c.ID.Short(), maxBucketKeys)
		}
		msg = &wire.IndexList{Namespace: ns, Partition: part, Bucket: bucket, After: page.Next}
	}
}
