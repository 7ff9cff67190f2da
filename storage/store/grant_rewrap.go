package store

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// rewrapBatch is the most records a re-wrap sends in one PutRecords.
// Each holder checks every record's signature before it responds, so a
// full batch of wire.MaxRecordBatch timed out on loaded machines.
const rewrapBatch = 128

// rewrapAttempts is how many times a re-wrap sends a batch that failed.
const rewrapAttempts = 3

// rewrapParallelism bounds the directory shards a Rewrap lists at once
// and the PutRecords batches it has in flight at once. Each batch goes
// to the R holders of its directory shard.
const rewrapParallelism = 4

// Rewrap is the second half of a read grant: it wraps the header key of
// the newest version of every record in the grant's scope for the new
// reader, and stores the added keys on the records' directory holders.
// Run may be cut short and run again, by the same Rewrap or by one from
// a new GrantAccess of the same grant: records whose header key the
// reader already has are counted and skipped.
type Rewrap struct {
	s  *Store
	v  *nsView
	ch grantChange
}

// RewrapProgress counts what a Rewrap has done so far.
type RewrapProgress struct {
	// Dirs is the number of directory shards of the namespace, and
	// DirsListed how many of them were listed so far.
	Dirs, DirsListed int
	// Total counts the records listed so far whose header key was not
	// yet wrapped for the reader; it is final once every directory shard
	// is listed. Rewrapped counts those whose added key was stored.
	Total, Rewrapped int
	// Already counts the records in scope whose header key the reader
	// had before this run, from an earlier run of the same grant.
	Already int
}

// Dirs returns the number of directory shards Run lists.
func (r *Rewrap) Dirs() int { return 1 << r.v.d.Params().DirBits }

// Run re-wraps the records in scope and calls progress, if not nil,
// after each directory shard listed and each batch stored. Calls to
// progress do not overlap. Run stops at the first batch that no holder
// set stored, or when ctx ends, and returns the counts so far.
func (r *Rewrap) Run(ctx context.Context, progress func(RewrapProgress)) (RewrapProgress, error) {
	t := &rewrapTracker{report: progress}
	t.p.Dirs = r.Dirs()

	msgs, err := r.list(ctx, t)
	if err == nil {
		err = r.send(ctx, msgs, t)
	}
	p := t.snapshot()
	if err != nil {
		return p, fmt.Errorf("store: wrap keys of existing records of %q for reader %q (%d of %d stored): %w",
			r.v.name(), r.ch.grantee.Name, p.Rewrapped, p.Total, err)
	}
	r.s.log.Info("re-wrapped existing records for a read grant", "namespace", r.v.name(), "reader", r.ch.grantee.Name,
		"scope", r.ch.scope, "rewrapped", p.Rewrapped, "already", p.Already)
	return p, nil
}

// rewrapTracker keeps a Run's counts; mu guards p and serializes report.
type rewrapTracker struct {
	mu     sync.Mutex
	p      RewrapProgress
	report func(RewrapProgress)
}

func (t *rewrapTracker) add(f func(p *RewrapProgress)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.p)
	if t.report != nil {
		t.report(t.p)
	}
}

func (t *rewrapTracker) snapshot() RewrapProgress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.p
}

// dirBatch is a PutRecords of one directory shard.
type dirBatch struct {
	dir uint32
	msg *wire.PutRecords
}

// list lists every directory shard, rewrapParallelism at once, and
// returns the PutRecords batches that carry the reader's added keys.
func (r *Rewrap) list(ctx context.Context, t *rewrapTracker) ([]dirBatch, error) {
	var (
		mu      sync.Mutex
		batches []dirBatch
	)
	err := forEachBounded(ctx, t.p.Dirs, rewrapParallelism, func(ctx context.Context, i int) error {
		dir := uint32(i)
		versions, already, err := r.listDir(ctx, dir)
		if err != nil {
			return err
		}
		mu.Lock()
		for part := range slices.Chunk(versions, rewrapBatch) {
			for _, m := range putMessages(r.v.name(), dir, part) {
				batches = append(batches, dirBatch{dir: dir, msg: m})
			}
		}
		mu.Unlock()
		t.add(func(p *RewrapProgress) {
			p.DirsListed++
			p.Total += len(versions)
			p.Already += already
		})
		return nil
	})
	return batches, err
}

// listDir lists directory shard dir and returns the versions in scope
// with the reader's header key added, and how many in scope had it.
func (r *Rewrap) listDir(ctx context.Context, dir uint32) ([]versionOf, int, error) {
	type listed struct {
		rec *wire.Record
		env *seal.Envelope
	}
	var all []listed
	err := r.s.scanDirectory(ctx, r.v.d, dir, func(rec *wire.Record, env *seal.Envelope) {
		if !env.Tombstone {
			all = append(all, listed{rec, env})
		}
	})
	if err != nil {
		return nil, 0, err
	}

	// Opening each header and wrapping its key costs public-key
	// operations, so the listed records are spread over the cores.
	g := readGrant{Reader: r.ch.grantee.Keys, Scope: r.ch.scope, Prefix: r.ch.prefix}
	states := make([]wrapState, len(all))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(all)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(all); i += workers {
				var wrap wire.Wrap
				wrap, states[i] = r.s.grantWrap(r.v, all[i].rec, all[i].env, g)
				if states[i] == wrapNeeded {
					all[i].rec.Wraps = append(slices.Clone(all[i].rec.Wraps), wrap)
				}
			}
		})
	}
	wg.Wait()

	var versions []versionOf
	already := 0
	for i, st := range states {
		switch st {
		case wrapNeeded:
			versions = append(versions, versionOf{rec: all[i].rec})
		case wrapHeld:
			already++
		}
	}
	return versions, already, nil
}

// send sends the batches, rewrapParallelism at once, each to the R
// closest holders of its directory shard.
func (r *Rewrap) send(ctx context.Context, batches []dirBatch, t *rewrapTracker) error {
	d := r.v.d
	return forEachBounded(ctx, len(batches), rewrapParallelism, func(ctx context.Context, i int) error {
		// A batch once started is finished even if ctx ends, because a
		// later run counts a record as re-wrapped when any directory
		// holder it lists has the key.
		//
		// NOTE: a batch that fails on some holders leaves them without
		// the key, and a later run, which lists the key elsewhere, does
		// not send it to them again.
		ctx = context.WithoutCancel(ctx)
		b := batches[i]
		var err error
		for attempt := 1; attempt <= rewrapAttempts; attempt++ {
			_, err = r.s.replicate(ctx, DirectoryID(d.Namespace(), b.dir), int(d.Params().Replicas), b.msg.Type(),
				func(ctx context.Context, c wire.Contact) error { return r.s.putRecordsTo(ctx, c, d, b.msg) })
			if err == nil {
				break
			}
			r.s.log.Warn("re-wrap batch failed", "namespace", d.Namespace(), "reader", r.ch.grantee.Name,
				"dir", b.dir, "records", len(b.msg.Records), "attempt", attempt, "err", err)
		}
		if err != nil {
			return fmt.Errorf("store %d records of directory %d: %w", len(b.msg.Records), b.dir, err)
		}
		t.add(func(p *RewrapProgress) { p.Rewrapped += len(b.msg.Records) })
		return nil
	})
}

// forEachBounded calls fn for 0 to n-1, at most limit at once. After the
// first error it starts no more calls, cancels the context of those
// running, waits for them and returns that error.
func forEachBounded(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	slots := make(chan struct{}, limit)
	for i := range n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// wrapState is the work a grant needs for one listed record.
type wrapState int

const (
	wrapSkip   wrapState = iota // out of scope, or the owner cannot open it
	wrapNeeded                  // in scope and the reader lacks its header key
	wrapHeld                    // in scope and the reader has its header key
)

// grantWrap returns the header key of rec wrapped for the grant's reader
// when the record is in scope, the owner can open it and the reader does
// not have that key yet.
func (s *Store) grantWrap(v *nsView, rec *wire.Record, env *seal.Envelope, g readGrant) (wire.Wrap, wrapState) {
	dk, ok := unwrapFor(v, env.Record, rec.Wraps, seal.RoleHeader)
	if !ok {
		return wire.Wrap{}, wrapSkip
	}
	h, err := seal.OpenHeader(dk, env.Record, rec.Header)
	if err != nil || !g.covers(h.Key) {
		return wire.Wrap{}, wrapSkip
	}
	reader := readerID(g.Reader)
	if slices.ContainsFunc(rec.Wraps, func(w wire.Wrap) bool { return w.Reader == reader && w.Group == "" }) {
		return wire.Wrap{}, wrapHeld
	}
	ctx := seal.WrapContext{Namespace: env.Record.Namespace, Scope: env.Record.KeyHash, Version: env.Record.Version, Role: seal.RoleHeader}
	w, err := wrapFor(g.Reader, dk, ctx)
	if err != nil {
		return wire.Wrap{}, wrapSkip
	}
	w.Group = ""
	return w, wrapNeeded
}
