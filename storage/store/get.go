package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// firstReaders is how many directory holders a read asks at first; the
// rest are asked only when none of these holds the record.
const firstReaders = 3

// dirAnswer is one directory holder's response to a GetRecord.
type dirAnswer struct {
	c wire.Contact
	// asked is set once the request was started, and answered once the
	// holder responded with a record or with CodeNotFound.
	asked, answered bool
	rec             *wire.Record
	env             *seal.Envelope
	// ref locates a version that was read from a version segment.
	ref *wire.PackedRef
}

// newestVersion returns the newest version of a record that verifies
// among its directory holders, and stores it on the holders asked that
// responded with an older version or none. A tombstone gives ErrNotFound.
func (s *Store) newestVersion(ctx context.Context, d *Descriptor, keyHash seal.Hash) (*wire.Record, *seal.Envelope, error) {
	bv := s.newestVersions(ctx, d, []seal.Hash{keyHash}, true)[keyHash]
	return bv.rec, bv.env, bv.err
}

// supersedes reports whether a is newer than b, with ties broken on the
// writer key as holders break them.
func supersedes(a, b *seal.Envelope) bool {
	if a.Record.Version != b.Record.Version {
		return a.Record.Version > b.Record.Version
	}
	return bytes.Compare(a.Writer, b.Writer) > 0
}

// Get writes the newest version of key to w and returns its description,
// with the field groups the user holds keys for.
func (s *Store) Get(ctx context.Context, user, namespace, key string, w io.Writer, opts GetOptions) (*RecordInfo, error) {
	if err := seal.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	v, err := s.resolve(ctx, user, namespace, Read, false)
	if err != nil {
		return nil, err
	}
	rec, env, err := s.newestVersion(ctx, v.d, seal.KeyHash(v.ks, key))
	if err != nil {
		return nil, fmt.Errorf("get %q in %q: %w", key, namespace, err)
	}
	header, dk, err := s.openHeader(v, rec, env)
	if err != nil {
		return nil, err
	}
	if header.Key != key {
		return nil, fmt.Errorf("%w: record for %q carries the header of %q", ErrCorrupt, key, header.Key)
	}
	info := s.recordInfo(v, env, header.Key, header.ContentType, header.Size, storedChunks(rec, len(header.Chunks)))
	info.Created = createdOf(rec, env, dk)
	s.openGroups(v, rec, env, info)
	if err := s.readValue(ctx, v, rec, header, cellOf(rec, env, dk), w, opts.Progress); err != nil {
		return nil, err
	}
	return info, nil
}

// openHeader unwraps the header key for the user and opens the header.
// It returns the header key too, which also opens the metadata group.
func (s *Store) openHeader(v *nsView, rec *wire.Record, env *seal.Envelope) (*seal.Header, seal.DataKey, error) {
	dk, ok := unwrapFor(v, env.Record, rec.Wraps, seal.RoleHeader)
	if !ok {
		return nil, dk, fmt.Errorf("%w: %s is not readable by this user", ErrForbidden, env.Record)
	}
	h, err := seal.OpenHeader(dk, env.Record, rec.Header)
	if err == nil {
		err = env.CheckChunks(h)
	}
	if err != nil {
		return nil, dk, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return h, dk, nil
}

// unwrapFor returns the key of role wrapped to the user, if any.
func unwrapFor(v *nsView, id seal.RecordID, wraps []wire.Wrap, role string) (seal.DataKey, bool) {
	me := readerID(v.keys)
	group := role
	if role == seal.RoleHeader {
		group = ""
	}
	ctx := seal.WrapContext{Namespace: id.Namespace, Scope: id.KeyHash, Version: id.Version, Role: role}
	for _, w := range wraps {
		if w.Reader != me || w.Group != group {
			continue
		}
		if dk, err := seal.UnwrapKey(v.user, w.Key, ctx); err == nil {
			return dk, true
		}
	}
	return seal.DataKey{}, false
}

func (s *Store) openGroups(v *nsView, rec *wire.Record, env *seal.Envelope, info *RecordInfo) {
	for _, name := range sortedKeys(rec.Groups) {
		if name == metaGroup {
			continue // the store's own, read by createdOf
		}
		dk, ok := unwrapFor(v, env.Record, rec.Wraps, name)
		var fields map[string][]byte
		var err error
		if ok {
			fields, err = seal.OpenGroup(dk, env.Record, name, rec.Groups[name])
		}
		if !ok || err != nil {
			info.HiddenGroups = append(info.HiddenGroups, name)
			continue
		}
		if info.Groups == nil {
			info.Groups = make(map[string]map[string][]byte)
		}
		info.Groups[name] = fields
	}
}

// readValue writes the value the header describes to w, fetching up to
// Parallelism chunks ahead of the one being written, from the holders of
// cell when the version was placed in one.
func (s *Store) readValue(ctx context.Context, v *nsView, rec *wire.Record, h *seal.Header, cell string, w io.Writer, progress func(int64)) error {
	if len(h.Chunks) == 0 {
		return nil
	}
	if len(rec.Inline) > 0 || rec.Segment != nil {
		data, err := s.smallValue(ctx, v, rec, cell, h.Chunks[0])
		if err != nil {
			return err
		}
		return writeOut(w, data, int64(len(data)), progress)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	code := v.d.Params().Code()
	results := make([]chan chunkResult, len(h.Chunks))
	start := func(i int) {
		results[i] = make(chan chunkResult, 1)
		go func() {
			sealed, err := s.readChunk(ctx, cell, h.Chunks[i].ID, code)
			var data []byte
			if err == nil {
				data, err = chunk.Open(h.Chunks[i], sealed)
			}
			results[i] <- chunkResult{data, err}
		}()
	}
	var done int64
	for i := range h.Chunks {
		for j := i; j < min(i+s.cfg.Parallelism, len(h.Chunks)); j++ {
			if results[j] == nil {
				start(j)
			}
		}
		r := <-results[i]
		results[i] = nil
		if r.err != nil {
			cancel()
			drain(results[i+1:])
			return fmt.Errorf("read chunk %d of %q: %w", i, h.Key, r.err)
		}
		done += int64(len(r.data))
		if err := writeOut(w, r.data, done, progress); err != nil {
			cancel()
			drain(results[i+1:])
			return err
		}
	}
	return nil
}

type chunkResult struct {
	data []byte
	err  error
}

// drain waits for the fetches already started, after a failure cancelled
// them, so that none outlives the call.
func drain(results []chan chunkResult) {
	for _, ch := range results {
		if ch != nil {
			<-ch
		}
	}
}

func writeOut(w io.Writer, data []byte, done int64, progress func(int64)) error {
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("store: write value: %w", err)
	}
	if progress != nil {
		progress(done)
	}
	return nil
}

// smallValue opens a value stored inline or packed into a segment.
func (s *Store) smallValue(ctx context.Context, v *nsView, rec *wire.Record, cell string, ref chunk.Ref) ([]byte, error) {
	if seg := rec.Segment; seg != nil {
		segment, err := s.readChunk(ctx, cell, chunk.ID(seg.Chunk), v.d.Params().Code())
		if err != nil {
			return nil, err
		}
		return openPacked(segment, seg, ref)
	}
	data, err := chunk.Open(ref, rec.Inline)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return data, nil
}

// storedChunks returns the number of chunks stored apart from the record:
// none for a value inline or packed into a segment.
func storedChunks(rec *wire.Record, refs int) int {
	if len(rec.Inline) > 0 || rec.Segment != nil {
		return 0
	}
	return refs
}

// recordInfo describes a version for the user.
func (s *Store) recordInfo(v *nsView, env *seal.Envelope, key, contentType string, size uint64, chunks int) *RecordInfo {
	t := versionTime(env.Record.Version)
	owner := ""
	if len(v.d.acl.Owners) > 0 {
		owner = s.userLabel(v.d.acl.Owners[0])
	}
	return &RecordInfo{
		Namespace:   env.Record.Namespace,
		Key:         key,
		Version:     env.Record.Version,
		Size:        size,
		ContentType: contentType,
		Owner:       owner,
		Writer:      s.userLabel(env.Writer),
		// Callers that can open the version set Created from it.
		Created:  t,
		Modified: t,
		Chunks:   chunks,
	}
}

// userLabel returns the name of a local user with signing key k, or
// "key:" and the first 16 hex digits of the key's SHA-256.
func (s *Store) userLabel(k ed25519.PublicKey) string {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	for name, u := range s.users {
		if u.SigningKey().Equal(k) {
			return name
		}
	}
	sum := sha256.Sum256(k)
	return "key:" + hex.EncodeToString(sum[:8])
}
