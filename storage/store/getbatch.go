package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// BatchValue is the result of one key of a GetBatch: the record's
// description and value, or the error that reading it returned.
type BatchValue struct {
	Info  *RecordInfo
	Value []byte
	Err   error
}

// batchVersion is the newest version of one record found by a batched
// directory read, or why none was found.
type batchVersion struct {
	rec *wire.Record
	env *seal.Envelope
	err error
}

// GetBatch reads many records of one namespace. It asks each directory
// holder for up to wire.MaxRecordBatch records in one request, and fetches
// and decodes each segment once for all the records packed in it, so
// reading a batch costs about as many requests as reading one record per
// segment. Each result carries its own error; a value larger than
// MaxBatchValue is not read and gets ErrInvalid, because such values are
// streamed with Get. GetBatch returns an error of its own only when the
// request is invalid or the namespace cannot be read.
func (s *Store) GetBatch(ctx context.Context, user, namespace string, keys []string) ([]BatchValue, error) {
	v, hashes, versions, err := s.readNewest(ctx, user, namespace, keys)
	if err != nil {
		return nil, err
	}

	out := make([]BatchValue, len(keys))
	headers := make([]*seal.Header, len(keys))
	segments := make(map[chunk.ID]*segmentRead)
	cells := make([]string, len(keys))
	for i, k := range keys {
		out[i], headers[i], cells[i] = s.openBatchRecord(v, k, versions[hashes[i]])
		if rec := versions[hashes[i]].rec; out[i].Err == nil && rec.Segment != nil {
			segments[chunk.ID(rec.Segment.Chunk)] = &segmentRead{cell: cells[i]}
		}
	}
	s.readSegments(ctx, v, segments)
	for i := range out {
		if out[i].Err != nil {
			continue
		}
		value, err := s.batchValue(ctx, v, versions[hashes[i]].rec, headers[i], cells[i], segments)
		if err != nil {
			out[i] = BatchValue{Err: fmt.Errorf("get %q in %q: %w", keys[i], v.name(), err)}
			continue
		}
		out[i].Value = value
	}
	return out, nil
}

// readNewest checks 1 to MaxBatchRecords keys, resolves the namespace
// for reading and reads the newest version of each key's record. It
// returns the namespace view, the key hashes in key order and the
// versions by hash.
func (s *Store) readNewest(ctx context.Context, user, namespace string, keys []string) (*nsView, []seal.Hash, map[seal.Hash]batchVersion, error) {
	if len(keys) == 0 || len(keys) > MaxBatchRecords {
		return nil, nil, nil, fmt.Errorf("%w: batch read names %d keys; send 1 to %d", ErrInvalid, len(keys), MaxBatchRecords)
	}
	for _, k := range keys {
		if err := seal.ValidateKey(k); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	v, err := s.resolve(ctx, user, namespace, Read, false)
	if err != nil {
		return nil, nil, nil, err
	}

	hashes := make([]seal.Hash, len(keys))
	for i, k := range keys {
		hashes[i] = seal.KeyHash(v.ks, k)
	}
	return v, hashes, s.newestVersions(ctx, v.d, hashes, true), nil
}

// openBatchRecord opens the header of one record found by a batched read
// and describes it. The value is read later, with the other records of
// its segment. It also returns the cell the value is placed in.
func (s *Store) openBatchRecord(v *nsView, key string, bv batchVersion) (BatchValue, *seal.Header, string) {
	if bv.err != nil {
		return BatchValue{Err: fmt.Errorf("get %q in %q: %w", key, v.name(), bv.err)}, nil, ""
	}
	header, dk, err := s.openHeader(v, bv.rec, bv.env)
	if err != nil {
		return BatchValue{Err: err}, nil, ""
	}
	if header.Key != key {
		return BatchValue{Err: fmt.Errorf("%w: record for %q carries the header of %q", ErrCorrupt, key, header.Key)}, nil, ""
	}
	if header.Size > MaxBatchValue {
		return BatchValue{Err: fmt.Errorf("%w: value of %q is %d bytes, a batch read returns at most %d; read it with Get",
			ErrInvalid, key, header.Size, MaxBatchValue)}, nil, ""
	}
	info := s.recordInfo(v, bv.env, header.Key, header.ContentType, header.Size, storedChunks(bv.rec, len(header.Chunks)))
	info.Created = createdOf(bv.rec, bv.env, dk)
	s.openGroups(v, bv.rec, bv.env, info)
	return BatchValue{Info: info}, header, cellOf(bv.rec, bv.env, dk)
}

// segmentRead is one segment fetched for a batched read.
type segmentRead struct {
	cell string // where the segment is placed; "" globally
	data []byte
	err  error
}

// readSegments fetches and decodes each segment once, up to Parallelism
// at a time.
func (s *Store) readSegments(ctx context.Context, v *nsView, segments map[chunk.ID]*segmentRead) {
	slots := make(chan struct{}, s.cfg.Parallelism)
	var wg sync.WaitGroup
	for id, seg := range segments {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			seg.data, seg.err = s.readChunk(ctx, seg.cell, id, v.d.Params().Code())
		})
	}
	wg.Wait()
}

// batchValue returns the value of a record whose header opened: from
// its segment, inline, or read from its chunks.
func (s *Store) batchValue(ctx context.Context, v *nsView, rec *wire.Record, h *seal.Header, cell string, segments map[chunk.ID]*segmentRead) ([]byte, error) {
	if len(h.Chunks) == 0 {
		return []byte{}, nil
	}
	if seg := rec.Segment; seg != nil {
		read := segments[chunk.ID(seg.Chunk)]
		if read.err != nil {
			return nil, read.err
		}
		return openPacked(read.data, seg, h.Chunks[0])
	}
	var buf bytes.Buffer
	if err := s.readValue(ctx, v, rec, h, cell, &buf, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openPacked opens the value that seg locates in a decoded segment.
func openPacked(segment []byte, seg *wire.SegmentRef, ref chunk.Ref) ([]byte, error) {
	end := uint64(seg.Offset) + uint64(seg.Length)
	if end > uint64(len(segment)) {
		return nil, fmt.Errorf("%w: segment %x has %d bytes, record points at %d..%d",
			ErrCorrupt, seg.Chunk[:8], len(segment), seg.Offset, end)
	}
	data, err := chunk.Open(ref, segment[seg.Offset:end])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return data, nil
}
