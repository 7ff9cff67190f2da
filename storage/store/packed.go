package store

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// A version segment packs the signed record versions of a batch write: a
// CBOR array of encoded wire.Record values, at most segmentSize bytes and
// MaxBatchRecords versions, compressed, and stored and coded like any
// chunk under the SHA-256 of its bytes. Directory holders keep a compact entry per record
// (version, writer and a wire.PackedRef) instead of the whole version, so
// a batch's versions cost the code's overhead rather than R copies.
//
// Holders store a packed entry only after checking the full version sent
// with it, as they check every PutRecord. A holder that serves a forged
// entry cannot make readers accept it: readers fetch the segment and use
// the entry only when the version found there verifies and has the
// entry's key hash, version and writer. A forged entry whose version is
// newer than the real one stays on that holder, but readers skip it and
// take the newest version that verifies from the others.

// A version segment is stored compressed: versionSegmentDeflate, then the
// CBOR array compressed with DEFLATE (RFC 1951). The versions of a batch
// repeat the writer key, the reader IDs of the wrapped keys, the group
// names and the value segment's ID. A segment of 500 sensor readings of
// TestStoreSurvivesThirdKilled shrank from 321,999 to 247,191 bytes, and
// every byte saved is saved on each of the code's shards. A segment that
// starts with a CBOR array header was written before compression and is
// read as it is. The tag cannot start a CBOR array.
const versionSegmentDeflate = 0x01

// maxVersionSegment is the most bytes a version segment's CBOR array may
// take, compressed or not.
const maxVersionSegment = segmentSize + 64<<10

// packVersions encodes records into version segments in order and
// returns the reference of each record.
func packVersions(records []*wire.Record) ([]wire.PackedRef, [][]byte, error) {
	refs := make([]wire.PackedRef, len(records))
	var parts [][][]byte
	size := 0
	for i, rec := range records {
		b, err := encodeRecord(rec)
		if err != nil {
			return nil, nil, err
		}
		n := len(parts)
		if n == 0 || size+len(b)+16 > segmentSize || len(parts[n-1]) == MaxBatchRecords {
			parts = append(parts, nil)
			size, n = 0, n+1
		}
		refs[i].Index = uint16(len(parts[n-1]))
		parts[n-1] = append(parts[n-1], b)
		size += len(b) + 16
	}
	segments := make([][]byte, len(parts))
	first := 0
	for i, p := range parts {
		b, err := marshal("version segment", p)
		if err != nil {
			return nil, nil, err
		}
		if b, err = deflateSegment(b); err != nil {
			return nil, nil, err
		}
		segments[i] = b
		id := wire.Hash(sha256.Sum256(b))
		for j := range p {
			refs[first+j].Segment = id
		}
		first += len(p)
	}
	return refs, segments, nil
}

// deflateSegment returns the compressed form of an encoded version
// segment.
func deflateSegment(plain []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(versionSegmentDeflate)
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("store: compress version segment: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("store: compress version segment: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("store: compress version segment: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeVersions splits a version segment, compressed or not, into its
// encoded versions.
func decodeVersions(segment []byte) ([][]byte, error) {
	if len(segment) > 0 && segment[0] == versionSegmentDeflate {
		plain, err := inflateSegment(segment[1:])
		if err != nil {
			return nil, err
		}
		segment = plain
	}
	var versions [][]byte
	if err := unmarshal("version segment", segment, maxVersionSegment, &versions); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return versions, nil
}

// inflateSegment decompresses a version segment, reading at most one byte
// more than maxVersionSegment, so that a small segment that inflates to
// gigabytes is rejected early.
func inflateSegment(compressed []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(compressed))
	defer r.Close()
	plain, err := io.ReadAll(io.LimitReader(r, maxVersionSegment+1))
	if err != nil {
		return nil, fmt.Errorf("%w: version segment does not decompress: %v", ErrCorrupt, err)
	}
	if len(plain) > maxVersionSegment {
		return nil, fmt.Errorf("%w: version segment decompresses to more than %d bytes", ErrCorrupt, maxVersionSegment)
	}
	return plain, nil
}

// openVersion returns the version at index in a decoded version
// segment, after checking it against the namespace's descriptor.
func openVersion(d *Descriptor, ref wire.PackedRef, versions [][]byte) (*wire.Record, *seal.Envelope, error) {
	if int(ref.Index) >= len(versions) {
		return nil, nil, fmt.Errorf("%w: version segment %x has %d versions, entry points at %d",
			ErrCorrupt, ref.Segment[:8], len(versions), ref.Index)
	}
	var rec wire.Record
	if err := unmarshal("packed record", versions[ref.Index], maxRecordSize, &rec); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	env, err := checkRecord(d, &rec)
	if err != nil {
		return nil, nil, err
	}
	return &rec, env, nil
}

// matchEntry checks that a version opened from a segment is the one a
// packed entry names, and returns a copy with the entry's wrapped keys
// joined to the version's.
func matchEntry(e *wire.PackedEntry, rec *wire.Record, env *seal.Envelope) (*wire.Record, error) {
	if wire.Hash(env.Record.KeyHash) != e.KeyHash || env.Record.Version != e.Version || !bytes.Equal(env.Writer, e.Writer) {
		return nil, fmt.Errorf("%w: version %d of %x in segment %x does not match its entry (version %d of %x)",
			ErrCorrupt, env.Record.Version, env.Record.KeyHash[:8], e.Ref.Segment[:8], e.Version, e.KeyHash[:8])
	}
	out := *rec
	out.Wraps = slices.Clone(rec.Wraps)
	if checkWraps(env, e.Wraps) == nil {
		mergeWraps(&out, e.Wraps)
	}
	return &out, nil
}

// segmentCache fetches each version segment once, and opens each version
// in it once, for the packed entries of one call. It is safe for
// concurrent use.
type segmentCache struct {
	d    *Descriptor
	read func(ctx context.Context, id chunk.ID) ([]byte, error)

	mu sync.Mutex // guards the maps
	// byID holds one entry per segment requested; its once fetches it.
	byID   map[wire.Hash]*cachedSegment
	opened map[wire.PackedRef]*openedVersion
}

type cachedSegment struct {
	mu sync.Mutex // held while the segment is read
	// done is set once the segment was read or failed for good.
	done     bool
	versions [][]byte
	err      error
}

type openedVersion struct {
	rec *wire.Record
	env *seal.Envelope
	err error
}

func newSegmentCache(d *Descriptor, read func(ctx context.Context, id chunk.ID) ([]byte, error)) *segmentCache {
	return &segmentCache{d: d, read: read, byID: make(map[wire.Hash]*cachedSegment), opened: make(map[wire.PackedRef]*openedVersion)}
}

// open returns the version an entry points at, fetching its segment on
// first use.
func (c *segmentCache) open(ctx context.Context, e *wire.PackedEntry) (*wire.Record, *seal.Envelope, error) {
	c.mu.Lock()
	seg := c.byID[e.Ref.Segment]
	if seg == nil {
		seg = &cachedSegment{}
		c.byID[e.Ref.Segment] = seg
	}
	c.mu.Unlock()

	seg.mu.Lock()
	if !seg.done {
		data, err := c.read(ctx, chunk.ID(e.Ref.Segment))
		if err == nil {
			seg.versions, err = decodeVersions(data)
		}
		// A read cut short by its caller's context, or by holders that
		// did not respond in time, is no evidence about the segment, so the
		// next caller reads it again.
		seg.err, seg.done = err, !readCutShort(err)
	}
	versions, err := seg.versions, seg.err
	seg.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}

	c.mu.Lock()
	ov := c.opened[e.Ref]
	c.mu.Unlock()
	if ov == nil {
		ov = &openedVersion{}
		ov.rec, ov.env, ov.err = openVersion(c.d, e.Ref, versions)
		c.mu.Lock()
		c.opened[e.Ref] = ov
		c.mu.Unlock()
	}
	if ov.err != nil {
		return nil, nil, ov.err
	}
	rec, err := matchEntry(e, ov.rec, ov.env)
	return rec, ov.env, err
}

// readCutShort reports whether err ended a read before it could tell
// whether the data is there and intact: the caller's context ended, or
// too few holders responded.
func readCutShort(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable)
}

// storeSegments returns a segment cache that reads segments as Get reads
// chunks.
func (s *Store) storeSegments(d *Descriptor) *segmentCache {
	code := d.Params().Code()
	return newSegmentCache(d, func(ctx context.Context, id chunk.ID) ([]byte, error) {
		return s.readChunk(ctx, "", id, code) // version segments are placed globally
	})
}
