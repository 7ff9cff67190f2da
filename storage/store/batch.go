package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// Batch limits.
const (
	// MaxBatchValue is the largest value PutBatch packs; larger values
	// belong in Put.
	MaxBatchValue = 64 << 10
	// MaxBatchRecords is the most records one PutBatch writes.
	MaxBatchRecords = 4096
	// segmentSize is the most bytes of sealed values one segment packs.
	segmentSize = 1 << 20
)

// packed is one batch record's sealed value and where it lies.
type packed struct {
	ref     chunk.Ref
	segment int
	offset  int
}

// PutBatch writes many small records of one namespace. Their sealed values
// are packed into segments of up to 1 MiB, each coded and stored like a
// chunk, so a small value costs the code's overhead instead of R copies.
// Then each record version is stored on its directory holders. Records
// whose version was stored are returned in order; on error, the records
// before the failed one may have been written.
func (s *Store) PutBatch(ctx context.Context, user, namespace string, records []BatchRecord) ([]RecordInfo, error) {
	if err := validateBatch(records); err != nil {
		return nil, err
	}
	v, err := s.resolve(ctx, user, namespace, Write, true)
	if err != nil {
		return nil, err
	}
	refs, segments, err := packValues(v.ks, records)
	if err != nil {
		return nil, err
	}
	ids, err := s.writeSegments(ctx, v, segments)
	if err != nil {
		return nil, err
	}
	return s.commitBatch(ctx, v, records, refs, ids)
}

func validateBatch(records []BatchRecord) error {
	if len(records) == 0 || len(records) > MaxBatchRecords {
		return fmt.Errorf("%w: batch has %d records; send 1 to %d", ErrInvalid, len(records), MaxBatchRecords)
	}
	seen := make(map[string]bool, len(records))
	for _, r := range records {
		if err := validatePut(r.Key, PutOptions{ContentType: r.ContentType}); err != nil {
			return err
		}
		if len(r.Value) > MaxBatchValue {
			return fmt.Errorf("%w: value of %q is %d bytes, a batch takes at most %d; write it with Put",
				ErrInvalid, r.Key, len(r.Value), MaxBatchValue)
		}
		if seen[r.Key] {
			return fmt.Errorf("%w: key %q appears twice in the batch", ErrInvalid, r.Key)
		}
		seen[r.Key] = true
	}
	return nil
}

// packValues seals each non-empty value and packs the sealed bytes into
// segments in order.
func packValues(ks *seal.KeySet, records []BatchRecord) ([]*packed, [][]byte, error) {
	refs := make([]*packed, len(records))
	var segments [][]byte
	for i, r := range records {
		if len(r.Value) == 0 {
			continue
		}
		ref, sealed, err := chunk.Seal(ks.Chunk, r.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if n := len(segments); n == 0 || len(segments[n-1])+len(sealed) > segmentSize {
			segments = append(segments, make([]byte, 0, segmentSize))
		}
		n := len(segments) - 1
		refs[i] = &packed{ref: ref, segment: n, offset: len(segments[n])}
		segments[n] = append(segments[n], sealed...)
	}
	return refs, segments, nil
}

// writeSegments stores each segment as a chunk named by its SHA-256.
func (s *Store) writeSegments(ctx context.Context, v *nsView, segments [][]byte) ([]chunk.ID, error) {
	ids := make([]chunk.ID, len(segments))
	errs := make([]error, len(segments))
	slots := make(chan struct{}, s.cfg.Parallelism)
	var wg sync.WaitGroup
	for i, seg := range segments {
		ids[i] = sha256.Sum256(seg)
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = s.writeChunk(ctx, ids[i], seg, v.d.Params().Code())
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (s *Store) commitBatch(ctx context.Context, v *nsView, records []BatchRecord, refs []*packed, ids []chunk.ID) ([]RecordInfo, error) {
	infos := make([]RecordInfo, len(records))
	errs := make([]error, len(records))
	slots := make(chan struct{}, 4*s.cfg.Parallelism)
	var wg sync.WaitGroup
	for i, r := range records {
		dr := &draft{key: r.Key, contentType: r.ContentType, size: uint64(len(r.Value))}
		if p := refs[i]; p != nil {
			dr.refs = []chunk.Ref{p.ref}
			dr.segment = &wire.SegmentRef{
				Chunk:  wire.Hash(ids[p.segment]),
				Offset: uint32(p.offset),
				Length: uint32(p.ref.Size) + chunk.Overhead,
			}
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			info, err := s.commit(ctx, v, dr)
			if err == nil {
				infos[i] = *info
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return infos[:i], fmt.Errorf("batch record %q: %w", records[i].Key, err)
		}
	}
	return infos, nil
}
