package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// List returns the live records of a namespace that the user can read
// and whose key starts with prefix, sorted by key. Each directory shard is
// read from its first holder that responds.
func (s *Store) List(ctx context.Context, user, namespace, prefix string) ([]RecordInfo, error) {
	v, err := s.resolve(ctx, user, namespace, Read, false)
	if err != nil {
		return nil, err
	}
	var infos []RecordInfo
	for dir := range uint32(1) << v.d.Params().DirBits {
		err := s.scanDirectory(ctx, v.d, dir, false, func(rec *wire.Record, env *seal.Envelope) {
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
	h, err := s.openHeader(v, rec, env)
	if err != nil || !strings.HasPrefix(h.Key, prefix) || seal.KeyHash(v.ks, h.Key) != env.Record.KeyHash {
		return nil
	}
	info := s.recordInfo(v, env, h.Key, h.ContentType, h.Size, storedChunks(rec, len(h.Chunks)))
	s.openGroups(v, rec, env, info)
	return info
}

// scanDirectory pages through directory shard dir of a namespace from the
// first of its holders that responds, and calls fn for each version that
// verifies.
func (s *Store) scanDirectory(ctx context.Context, d *Descriptor, dir uint32, digest bool, fn func(*wire.Record, *seal.Envelope)) error {
	cands, err := s.closest(ctx, DirectoryID(d.Namespace(), dir), int(d.Params().Replicas))
	if err != nil {
		return err
	}
	var lastErr error
	for _, c := range cands {
		if lastErr = s.pageDirectory(ctx, c, d, dir, digest, fn); lastErr == nil {
			return nil
		}
	}
	if lastErr == nil {
		return nil // no holders: nothing was ever stored
	}
	return fmt.Errorf("%w: list directory %d of %q: %w", ErrUnavailable, dir, d.Namespace(), lastErr)
}

func (s *Store) pageDirectory(ctx context.Context, c wire.Contact, d *Descriptor, dir uint32, digest bool, fn func(*wire.Record, *seal.Envelope)) error {
	var after wire.Hash
	for {
		resp, err := s.request(ctx, c, &wire.ListRecords{Namespace: d.Namespace(), Dir: dir, After: after, Digest: digest})
		if err != nil {
			return err
		}
		page, ok := resp.(*wire.RecordPage)
		if !ok {
			return fmt.Errorf("store: holder %s responded to ListRecords with %v", c.ID.Short(), resp.Type())
		}
		verified := 0
		for i := range page.Records {
			rec := &page.Records[i]
			env, err := d.VerifyRecord(rec.Envelope)
			if err != nil {
				continue
			}
			if !digest {
				if env, err = checkRecord(d, rec); err != nil {
					continue
				}
			}
			after = wire.Hash(env.Record.KeyHash)
			verified++
			fn(rec, env)
		}
		if !page.More || len(page.Records) == 0 {
			return nil
		}
		if verified == 0 {
			// Without one verified key hash the next page cannot start
			// after this one.
			return fmt.Errorf("store: holder %s sent a page of records that do not verify", c.ID.Short())
		}
	}
}
