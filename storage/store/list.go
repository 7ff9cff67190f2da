package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// List returns the live records of a namespace that the user can read
// and whose key starts with prefix, sorted by key. Each directory shard is
// read from up to listReaders holders, newest versions merged.
func (s *Store) List(ctx context.Context, user, namespace, prefix string) ([]RecordInfo, error) {
	v, err := s.resolve(ctx, user, namespace, Read, false)
	if err != nil {
		return nil, err
	}
	var infos []RecordInfo
	for dir := range uint32(1) << v.d.Params().DirBits {
		err := s.scanDirectory(ctx, v.d, dir, func(rec *wire.Record, env *seal.Envelope) {
			if info := s.listEntry(v, rec, env, prefix); info != nil {
				infos = append(infos, *info)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(infos, func(a, b RecordInfo) int { return strings.Compare(a.Key, b.Key) })
	return infos, nil
}

// listEntry describes a listed record version, or returns nil for a
// tombstone, a version the user cannot open, or a key outside prefix.
func (s *Store) listEntry(v *nsView, rec *wire.Record, env *seal.Envelope, prefix string) *RecordInfo {
	if env.Tombstone {
		return nil
	}
	h, dk, err := s.openHeader(v, rec, env)
	if err != nil || !strings.HasPrefix(h.Key, prefix) || seal.KeyHash(v.ks, h.Key) != env.Record.KeyHash {
		return nil
	}
	info := s.recordInfo(v, env, h.Key, h.ContentType, h.Size, storedChunks(rec, len(h.Chunks)))
	info.Created = createdOf(rec, env, dk)
	s.openGroups(v, rec, env, info)
	return info
}

// listReaders is how many directory holders List reads each directory
// shard from. Right after nodes join, the closest holders may be new ones
// that repair has not filled yet, so List merges the newest version of
// each record from several holders.
const listReaders = 3

// scanDirectory pages through directory shard dir of a namespace at up to
// listReaders of its holders, hedged so that a holder that does not
// respond is replaced by the next, and calls fn for the newest version of
// each record that verifies. Once one holder has sent every page of a
// listing that is not empty, the others get a grace period. It fails
// only when no holder responds.
func (s *Store) scanDirectory(ctx context.Context, d *Descriptor, dir uint32, fn func(*wire.Record, *seal.Envelope)) error {
	cands, err := s.closest(ctx, DirectoryID(d.Namespace(), dir), int(d.Params().Replicas))
	if err != nil {
		return err
	}
	if len(cands) == 0 {
		return nil // no holders: nothing was ever stored
	}

	merged := newDirMerge(d)
	segments := s.storeSegments(d)
	var (
		mu      sync.Mutex
		lastErr error
	)
	// Each page request has the full request timeout, and a holder that
	// is slow to page is replaced after the hedge delay instead.
	delay := s.rtt.hedgeDelay(wire.TypeListRecords)
	g := newGrace(delay)
	f := fanout{n: len(cands), want: min(listReaders, len(cands)), delay: delay, done: g.over}
	read := hedge(ctx, f, func(ctx context.Context, i int) bool {
		listed, err := s.pageDirectory(ctx, cands[i], d, dir, merged, segments)
		if err != nil {
			mu.Lock()
			lastErr = err
			mu.Unlock()
			return false
		}
		// An empty listing starts no grace period: it is what a holder
		// that joined since the writes returns at once.
		if listed > 0 {
			g.good()
		}
		return true
	})

	if read == 0 {
		if lastErr == nil {
			lastErr = ctx.Err()
		}
		return fmt.Errorf("%w: list directory %d of %q: %w", ErrUnavailable, dir, d.Namespace(), lastErr)
	}
	merged.each(fn)
	return nil
}

// pageDirectory reads every page of a directory shard from one holder
// into merged, and returns the number of record versions that verified.
// Packed versions are read from their version segments, each segment
// once per listing.
func (s *Store) pageDirectory(ctx context.Context, c wire.Contact, d *Descriptor, dir uint32, merged *dirMerge, segments *segmentCache) (int, error) {
	var after wire.Hash
	listed := 0
	for {
		resp, err := s.request(ctx, c, &wire.ListRecords{Namespace: d.Namespace(), Dir: dir, After: after})
		if err != nil {
			return listed, err
		}
		page, ok := resp.(*wire.RecordPage)
		if !ok {
			return listed, fmt.Errorf("store: holder %s responded to ListRecords with %v", c.ID.Short(), resp.Type())
		}
		verified := 0
		for i := range page.Records {
			if k, ok := merged.add(&page.Records[i]); ok {
				after = maxHash(after, k)
				verified++
			}
		}
		for i := range page.Packed {
			rec, _, err := segments.open(ctx, &page.Packed[i])
			if readCutShort(err) {
				// Leaving the entry out would list the shard without it
				// as if complete.
				return listed, fmt.Errorf("store: read the version segment of a record listed by %s: %w", c.ID.Short(), err)
			}
			if err != nil {
				s.log.Warn("packed record entry does not verify", "peer", c.ID.Short(), "err", err)
				continue
			}
			if k, ok := merged.add(rec); ok {
				after = maxHash(after, k)
				verified++
			}
		}
		listed += verified
		if !page.More || len(page.Records)+len(page.Packed) == 0 {
			return listed, nil
		}
		if verified == 0 {
			// Without one verified key hash the next page cannot start
			// after this one.
			return listed, fmt.Errorf("store: holder %s sent a page of records that do not verify", c.ID.Short())
		}
	}
}

// dirMerge collects the newest verified version of each record of a
// directory shard from several holders. It is safe for concurrent use.
type dirMerge struct {
	d *Descriptor

	mu    sync.Mutex // guards byKey and byEnv
	byKey map[wire.Hash]*mergedRecord
	// byEnv maps the SHA-256 of each envelope verified so far to its
	// record, so that the copies other holders send are not verified
	// again.
	byEnv map[wire.Hash]*mergedRecord
}

type mergedRecord struct {
	rec *wire.Record
	env *seal.Envelope
}

func newDirMerge(d *Descriptor) *dirMerge {
	return &dirMerge{d: d, byKey: make(map[wire.Hash]*mergedRecord), byEnv: make(map[wire.Hash]*mergedRecord)}
}

// add merges one listed record version and returns its key hash, or false
// if it does not verify. A copy of a version already held adds the
// wrapped keys it carries, since a grant may have reached some holders
// only.
func (m *dirMerge) add(rec *wire.Record) (wire.Hash, bool) {
	sum := wire.Hash(sha256.Sum256(rec.Envelope))
	m.mu.Lock()
	seen := m.byEnv[sum]
	m.mu.Unlock()
	if seen != nil {
		if checkWraps(seen.env, rec.Wraps) == nil {
			m.mu.Lock()
			mergeWraps(seen.rec, rec.Wraps)
			m.mu.Unlock()
		}
		return wire.Hash(seen.env.Record.KeyHash), true
	}

	env, err := checkRecord(m.d, rec)
	if err != nil {
		return wire.Hash{}, false
	}
	k := wire.Hash(env.Record.KeyHash)
	r := &mergedRecord{rec: rec, env: env}
	m.mu.Lock()
	defer m.mu.Unlock()
	if same := m.byEnv[sum]; same != nil {
		// Another holder's copy was verified meanwhile.
		mergeWraps(same.rec, rec.Wraps)
		return k, true
	}
	m.byEnv[sum] = r
	if held := m.byKey[k]; held == nil || supersedes(env, held.env) {
		m.byKey[k] = r
	}
	return k, true
}

// each calls fn for the newest version of each record, in key-hash order.
func (m *dirMerge) each(fn func(*wire.Record, *seal.Envelope)) {
	keys := slices.Collect(maps.Keys(m.byKey))
	sortHashes(keys)
	for _, k := range keys {
		r := m.byKey[k]
		fn(r.rec, r.env)
	}
}
