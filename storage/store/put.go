package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// InlineMax is the largest value stored inline in its record version
// rather than chunked and coded.
const InlineMax = 4 << 10

// draft is a record version before sealing.
type draft struct {
	key         string
	contentType string
	size        uint64
	refs        []chunk.Ref
	inline      []byte
	segment     *wire.SegmentRef
	groups      map[string]map[string][]byte
	readers     map[string][]PublicUser
	// created is the time of the key's first write, carried over from
	// the version this one replaces; zero for a key written first now.
	created time.Time
	// priorRead is set once created was read from the directory.
	priorRead bool
	// cell is the cluster the value's chunks are placed in; "" places
	// them globally.
	cell string
}

// Put writes a value under key, creating the namespace with the user as
// owner if it does not exist. It returns after every chunk and the record
// version are stored durably on their holders.
func (s *Store) Put(ctx context.Context, user, namespace, key string, value io.Reader, opts PutOptions) (*RecordInfo, error) {
	if err := validatePut(key, opts); err != nil {
		return nil, err
	}
	v, err := s.resolve(ctx, user, namespace, Write, true)
	if err != nil {
		return nil, err
	}
	dr := &draft{key: key, contentType: opts.ContentType, groups: opts.Groups, readers: opts.GroupReaders}
	dr.cell = s.writeCell(ctx, v, opts.Cell)

	// The creation time of the version being replaced is read while the
	// value is written.
	created := make(chan time.Time, 1)
	go func() { created <- s.priorCreated(ctx, v, key) }()
	err = s.writeValue(ctx, v, value, dr, opts.Progress)
	dr.created, dr.priorRead = <-created, true
	if err != nil {
		return nil, err
	}
	return s.commit(ctx, v, dr)
}

func validatePut(key string, opts PutOptions) error {
	if err := seal.ValidateKey(key); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(opts.ContentType) > seal.MaxContentTypeLen {
		return fmt.Errorf("%w: content type is %d bytes, limit %d", ErrInvalid, len(opts.ContentType), seal.MaxContentTypeLen)
	}
	if maxGroups := seal.MaxGroups - 1; len(opts.Groups) > maxGroups {
		return fmt.Errorf("%w: %d field groups, limit %d", ErrInvalid, len(opts.Groups), maxGroups)
	}
	for name := range opts.Groups {
		if err := seal.ValidateGroup(name); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if isReservedGroup(name) {
			return fmt.Errorf("%w: group %q: names starting with %q are reserved for the store", ErrInvalid, name, reservedGroupPrefix)
		}
	}
	for name := range opts.GroupReaders {
		if _, ok := opts.Groups[name]; !ok {
			return fmt.Errorf("%w: readers are given for group %q, which the write does not carry", ErrInvalid, name)
		}
	}
	return nil
}

// commit seals dr as a new version and stores it on the directory
// holders.
func (s *Store) commit(ctx context.Context, v *nsView, dr *draft) (*RecordInfo, error) {
	if !dr.priorRead {
		dr.created, dr.priorRead = s.priorCreated(ctx, v, dr.key), true
	}
	version := s.clock.next()
	if dr.created.IsZero() {
		dr.created = versionTime(version)
	}
	rec, env, err := s.sealRecord(v, version, dr)
	if err != nil {
		return nil, err
	}
	if err := s.publishRecord(ctx, v.d, env.Record.KeyHash, rec); err != nil {
		return nil, err
	}
	info := s.recordInfo(v, env, dr.key, dr.contentType, dr.size, storedChunks(rec, len(dr.refs)))
	info.Created = dr.created
	info.Groups = dr.groups
	return info, nil
}

// writeValue streams value into dr: inline if it is at most InlineMax
// bytes, otherwise chunk by chunk with Parallelism chunks in flight. A
// value placed in a cell is never inline, since an inline value lives on
// the directory holders, which are placed globally.
func (s *Store) writeValue(ctx context.Context, v *nsView, value io.Reader, dr *draft, progress func(int64)) error {
	head := make([]byte, InlineMax+1)
	n, err := io.ReadFull(value, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("store: read value: %w", err)
	}
	if n <= InlineMax && dr.cell == "" {
		if progress != nil {
			progress(int64(n))
		}
		return s.inlineValue(v, head[:n], dr)
	}
	return s.chunkValue(ctx, v, io.MultiReader(bytes.NewReader(head[:n]), value), dr, progress)
}

func (s *Store) inlineValue(v *nsView, value []byte, dr *draft) error {
	dr.size = uint64(len(value))
	if len(value) == 0 {
		return nil
	}
	ref, sealed, err := chunk.Seal(v.ks.Chunk, value)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	dr.refs, dr.inline = []chunk.Ref{ref}, sealed
	return nil
}

func (s *Store) chunkValue(ctx context.Context, v *nsView, r io.Reader, dr *draft, progress func(int64)) error {
	chunker, err := chunk.New(r, v.d.Params().Chunking)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg      sync.WaitGroup
		slots   = make(chan struct{}, s.cfg.Parallelism)
		written = make(map[chunk.ID]bool)
		done    int64
		failed  failedHolders
	)
	code := v.d.Params().Code()
	for ctx.Err() == nil {
		data, err := chunker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cancel(fmt.Errorf("store: read value: %w", err))
			break
		}
		if len(dr.refs) == seal.MaxChunks {
			cancel(fmt.Errorf("%w: value has more than %d chunks; store it in parts", ErrInvalid, seal.MaxChunks))
			break
		}
		ref, sealed, err := chunk.Seal(v.ks.Chunk, data)
		if err != nil {
			cancel(err)
			break
		}
		dr.refs = append(dr.refs, ref)
		dr.size += uint64(ref.Size)
		done += int64(ref.Size)
		if written[ref.ID] {
			continue // deduplicated within the value
		}
		written[ref.ID] = true

		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := s.writeChunk(ctx, dr.cell, ref.ID, sealed, code, &failed); err != nil {
				cancel(err)
			}
		})
		if progress != nil {
			progress(done)
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// sealRecord seals dr's header and groups, signs the envelope and wraps
// the keys for every reader.
func (s *Store) sealRecord(v *nsView, version uint64, dr *draft) (*wire.Record, *seal.Envelope, error) {
	id := seal.RecordID{Namespace: v.name(), KeyHash: seal.KeyHash(v.ks, dr.key), Version: version}
	headerKey := seal.NewDataKey()
	header := &seal.Header{Key: dr.key, ContentType: dr.contentType, Size: dr.size, Chunks: dr.refs}
	sealedHeader, err := seal.SealHeader(headerKey, id, header)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	rec := &wire.Record{Header: sealedHeader, Inline: dr.inline, Segment: dr.segment}
	rec.Groups = make(map[string][]byte, len(dr.groups)+1)
	if rec.Groups[metaGroup], err = sealMeta(headerKey, id, dr.created, dr.cell); err != nil {
		return nil, nil, err
	}
	groupKeys := make(map[string]seal.DataKey, len(dr.groups))
	for name, fields := range dr.groups {
		groupKeys[name] = seal.NewDataKey()
		if rec.Groups[name], err = seal.SealGroup(groupKeys[name], id, name, fields); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	env := seal.NewEnvelope(id, sealedHeader, header.ChunkIDs(), rec.Groups)
	if rec.Envelope, err = seal.SignEnvelope(v.user, env); err != nil {
		return nil, nil, err
	}
	if rec.Wraps, err = s.wrapKeys(v, id, dr, headerKey, groupKeys); err != nil {
		return nil, nil, err
	}
	return rec, env, nil
}

// wrapKeys wraps the header key for the namespace's owners and writers
// and the read grantees whose grant covers the key, and each group key
// for the owners and writers and the group's readers.
func (s *Store) wrapKeys(v *nsView, id seal.RecordID, dr *draft, headerKey seal.DataKey, groupKeys map[string]seal.DataKey) ([]wire.Wrap, error) {
	members := memberKeys(v.d)
	granted := grantedReaders(v.grants, dr.key)
	var wraps []wire.Wrap
	add := func(readers [][]byte, role string, dk seal.DataKey) error {
		for _, keys := range readers {
			w, err := wrapFor(keys, dk, seal.WrapContext{Namespace: id.Namespace, Scope: id.KeyHash, Version: id.Version, Role: role})
			if err != nil {
				return err
			}
			if role == seal.RoleHeader {
				w.Group = ""
			}
			wraps = append(wraps, w)
		}
		return nil
	}
	if err := add(unique(members, granted), seal.RoleHeader, headerKey); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(groupKeys) {
		readers := granted
		if list, ok := dr.readers[name]; ok {
			readers = nil
			for _, u := range list {
				readers = append(readers, u.Keys)
			}
		}
		if err := add(unique(members, readers), name, groupKeys[name]); err != nil {
			return nil, err
		}
	}
	if len(wraps) > wire.MaxGroups {
		return nil, fmt.Errorf("%w: record needs %d wrapped keys, limit %d; grant fewer readers per key or use fewer groups",
			ErrInvalid, len(wraps), wire.MaxGroups)
	}
	return wraps, nil
}

func wrapFor(keys []byte, dk seal.DataKey, ctx seal.WrapContext) (wire.Wrap, error) {
	pk, err := seal.ParsePublicKeys(keys)
	if err != nil {
		return wire.Wrap{}, fmt.Errorf("%w: reader keys: %w", ErrInvalid, err)
	}
	wrapped, err := seal.WrapKey(pk, dk, ctx)
	if err != nil {
		return wire.Wrap{}, err
	}
	return wire.Wrap{Reader: readerID(keys), Group: ctx.Role, Key: wrapped}, nil
}

func memberKeys(d *Descriptor) [][]byte {
	keys := make([][]byte, 0, len(d.body.Members))
	for _, m := range d.body.Members {
		keys = append(keys, m.Keys)
	}
	return keys
}

func grantedReaders(grants []readGrant, key string) [][]byte {
	var keys [][]byte
	for _, g := range grants {
		if g.covers(key) {
			keys = append(keys, g.Reader)
		}
	}
	return keys
}

// unique returns the key encodings of both lists without repeats.
func unique(a, b [][]byte) [][]byte {
	var out [][]byte
	for _, k := range slices.Concat(a, b) {
		if !slices.ContainsFunc(out, func(x []byte) bool { return bytes.Equal(x, k) }) {
			out = append(out, k)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// publishRecord stores rec on the R closest directory holders of its
// directory shard.
func (s *Store) publishRecord(ctx context.Context, d *Descriptor, keyHash seal.Hash, rec *wire.Record) error {
	if _, err := encodeRecord(rec); err != nil {
		return err
	}
	dir := DirectoryOf(keyHash, d.Params().DirBits)
	msg := &wire.PutRecord{Namespace: d.Namespace(), Dir: dir, Record: *rec}
	_, err := s.replicate(ctx, DirectoryID(d.Namespace(), dir), int(d.Params().Replicas), msg.Type(), func(ctx context.Context, c wire.Contact) error {
		return s.putRecordTo(ctx, c, d, msg)
	})
	if err != nil {
		return fmt.Errorf("store: write record %s of %q: %w", keyHash, d.Namespace(), err)
	}
	return nil
}

// putRecordTo sends a PutRecord. A holder that lacks the namespace's
// descriptor, or holds an older one that does not name the writer, gets
// the descriptor and the record again.
func (s *Store) putRecordTo(ctx context.Context, c wire.Contact, d *Descriptor, msg *wire.PutRecord) error {
	_, err := s.request(ctx, c, msg)
	if code := errorCode(err); code == wire.CodeNotFound || code == wire.CodeForbidden {
		if _, perr := s.request(ctx, c, &wire.PutNamespace{Namespace: d.Namespace(), Descriptor: d.Bytes()}); perr == nil {
			_, err = s.request(ctx, c, msg)
		}
	}
	return err
}

// Delete writes a tombstone version of key. It returns ErrNotFound if the
// key has no live version.
func (s *Store) Delete(ctx context.Context, user, namespace, key string) error {
	if err := seal.ValidateKey(key); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	v, err := s.resolve(ctx, user, namespace, Write, false)
	if err != nil {
		return err
	}
	keyHash := seal.KeyHash(v.ks, key)
	if _, _, err := s.newestVersion(ctx, v.d, keyHash); err != nil {
		return fmt.Errorf("delete %q in %q: %w", key, namespace, err)
	}
	id := seal.RecordID{Namespace: namespace, KeyHash: keyHash, Version: s.clock.next()}
	signed, err := seal.SignEnvelope(v.user, seal.NewTombstone(id))
	if err != nil {
		return err
	}
	return s.publishRecord(ctx, v.d, keyHash, &wire.Record{Envelope: signed})
}
