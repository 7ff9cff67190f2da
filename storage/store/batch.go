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
// are packed into value segments of up to 1 MiB and their signed versions
// into version segments, each coded and stored like a chunk, so a small
// record costs the code's overhead instead of R copies. Then each
// directory holder gets a packed head per record. The records are
// returned in order. On error, some records may have been written on
// some of their directory holders, and repair spreads those to the rest.
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
	cell := s.writeCell(ctx, v, "")
	ids, err := s.writeSegments(ctx, cell, v, segments)
	if err != nil {
		return nil, err
	}
	return s.commitBatch(ctx, v, cell, records, refs, ids)
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

// writeSegments stores each segment as a chunk named by its SHA-256, on
// the holders of cell when it is set.
func (s *Store) writeSegments(ctx context.Context, cell string, v *nsView, segments [][]byte) ([]chunk.ID, error) {
	ids := make([]chunk.ID, len(segments))
	errs := make([]error, len(segments))
	var failed failedHolders
	slots := make(chan struct{}, s.cfg.Parallelism)
	var wg sync.WaitGroup
	for i, seg := range segments {
		ids[i] = sha256.Sum256(seg)
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = s.writeChunk(ctx, cell, ids[i], seg, v.d.Params().Code(), &failed)
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

// commitBatch seals a version of each record, packs the versions into
// version segments and stores those like chunks. Then it stores on each
// directory holder only a packed entry per record, with one PutRecords
// per holder and part of the batch. The creation times of the versions
// replaced are read first, with one GetRecords per holder.
//
// The value segments lie in cell; the version segments are placed
// globally like the directory that refers to them.
func (s *Store) commitBatch(ctx context.Context, v *nsView, cell string, records []BatchRecord, refs []*packed, ids []chunk.ID) ([]RecordInfo, error) {
	keys := make([]string, len(records))
	for i, r := range records {
		keys[i] = r.Key
	}
	created := s.priorCreatedAll(ctx, v, keys)

	infos := make([]RecordInfo, len(records))
	sealed := make([]*wire.Record, len(records))
	envs := make([]*seal.Envelope, len(records))
	for i, r := range records {
		dr := batchDraft(r, refs[i], ids)
		if dr.segment != nil {
			dr.cell = cell
		}
		version := s.clock.next()
		dr.created, dr.priorRead = created[r.Key], true
		if dr.created.IsZero() {
			dr.created = versionTime(version)
		}
		rec, env, err := s.sealRecord(v, version, dr)
		if err != nil {
			return nil, fmt.Errorf("batch record %q: %w", r.Key, err)
		}
		sealed[i], envs[i] = rec, env
		info := s.recordInfo(v, env, dr.key, dr.contentType, dr.size, 0)
		info.Created = dr.created
		infos[i] = *info
	}

	at, segments, err := packVersions(sealed)
	if err != nil {
		return nil, err
	}
	if _, err := s.writeSegments(ctx, "", v, segments); err != nil {
		return nil, err
	}
	if err := s.publishPacked(ctx, v.d, sealed, envs, at); err != nil {
		return nil, err
	}
	return infos, nil
}

// batchDraft returns the draft of one batch record whose sealed value
// lies in a value segment, or of an empty one.
func batchDraft(r BatchRecord, p *packed, ids []chunk.ID) *draft {
	dr := &draft{key: r.Key, contentType: r.ContentType, size: uint64(len(r.Value))}
	if p != nil {
		dr.refs = []chunk.Ref{p.ref}
		dr.segment = &wire.SegmentRef{
			Chunk:  wire.Hash(ids[p.segment]),
			Offset: uint32(p.offset),
			Length: uint32(p.ref.Size) + chunk.Overhead,
		}
	}
	return dr
}

// publishPacked stores a packed entry of each version on the R closest
// holders of its directory shard, a directory shard at a time.
func (s *Store) publishPacked(ctx context.Context, d *Descriptor, recs []*wire.Record, envs []*seal.Envelope, at []wire.PackedRef) error {
	byDir := make(map[uint32][]versionOf)
	for i, rec := range recs {
		dir := DirectoryOf(envs[i].Record.KeyHash, d.Params().DirBits)
		byDir[dir] = append(byDir[dir], versionOf{rec: rec, ref: &at[i]})
	}
	for dir, versions := range byDir {
		for _, msg := range putMessages(d.Namespace(), dir, versions) {
			_, err := s.replicate(ctx, DirectoryID(d.Namespace(), dir), int(d.Params().Replicas), msg.Type(),
				func(ctx context.Context, c wire.Contact) error { return s.putRecordsTo(ctx, c, d, msg) })
			if err != nil {
				return fmt.Errorf("store: write %d records of %q: %w", len(msg.Records), d.Namespace(), err)
			}
		}
	}
	return nil
}
