package store

import (
	"fmt"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/seal"
)

// maxRecordSize bounds an encoded record version, so that it fits one
// wire message with room for the message's own framing.
const maxRecordSize = wire.MaxMessageSize - 64<<10

// checkRecord verifies a record version against its namespace's
// descriptor, without keys: the envelope's signature and writer, and
// every sealed part against the hashes the envelope lists. Holders call it
// before storing a version and readers before trusting one.
func checkRecord(d *Descriptor, rec *wire.Record) (*seal.Envelope, error) {
	env, err := d.VerifyRecord(rec.Envelope)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	if env.Tombstone {
		if len(rec.Header) > 0 || len(rec.Groups) > 0 || len(rec.Wraps) > 0 || len(rec.Inline) > 0 || rec.Segment != nil {
			return nil, fmt.Errorf("%w: tombstone of %s carries data", ErrInvalid, env.Record)
		}
		return env, nil
	}
	if err := env.CheckHeader(rec.Header); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(rec.Groups) != len(env.Groups) {
		return nil, fmt.Errorf("%w: %s carries %d groups, its envelope lists %d", ErrInvalid, env.Record, len(rec.Groups), len(env.Groups))
	}
	for name, sealed := range rec.Groups {
		if err := env.CheckGroup(name, sealed); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if err := checkValue(env, rec); err != nil {
		return nil, err
	}
	return env, checkWraps(env, rec.Wraps)
}

// checkValue checks an inline value against the one chunk ID the envelope
// lists. A segment reference cannot be checked without the segment, so
// readers check the bytes it points to.
func checkValue(env *seal.Envelope, rec *wire.Record) error {
	if len(rec.Inline) == 0 && rec.Segment == nil {
		return nil
	}
	if len(env.Chunks) != 1 {
		return fmt.Errorf("%w: %s has an inline or packed value but lists %d chunks", ErrInvalid, env.Record, len(env.Chunks))
	}
	if len(rec.Inline) > 0 {
		if err := chunk.VerifyID(env.Chunks[0], rec.Inline); err != nil {
			return fmt.Errorf("%w: inline value of %s: %w", ErrInvalid, env.Record, err)
		}
	}
	return nil
}

func checkWraps(env *seal.Envelope, wraps []wire.Wrap) error {
	for i, w := range wraps {
		if len(w.Key) != seal.WrappedKeySize {
			return fmt.Errorf("%w: wrapped key %d of %s is %d bytes, want %d", ErrInvalid, i, env.Record, len(w.Key), seal.WrappedKeySize)
		}
		if w.Group == "" {
			continue
		}
		if !hasGroup(env, w.Group) {
			return fmt.Errorf("%w: wrapped key %d of %s is for group %q, which the envelope does not list", ErrInvalid, i, env.Record, w.Group)
		}
	}
	return nil
}

func hasGroup(env *seal.Envelope, name string) bool {
	for _, g := range env.Groups {
		if g.Name == name {
			return true
		}
	}
	return false
}

// mergeWraps adds to held the wrapped keys of extra it lacks, up to
// wire.MaxGroups. Wrapped keys are not signed, which lets an owner grant
// read access to versions already written; a forged one fails to unwrap
// at its reader. It reports whether held changed.
func mergeWraps(held *wire.Record, extra []wire.Wrap) bool {
	changed := false
	for _, w := range extra {
		if len(held.Wraps) >= wire.MaxGroups {
			break
		}
		if !containsWrap(held.Wraps, w) {
			held.Wraps = append(held.Wraps, w)
			changed = true
		}
	}
	return changed
}

func containsWrap(wraps []wire.Wrap, w wire.Wrap) bool {
	for _, x := range wraps {
		if x.Reader == w.Reader && x.Group == w.Group && string(x.Key) == string(w.Key) {
			return true
		}
	}
	return false
}

// encodeRecord returns the stored encoding of rec and checks its size.
func encodeRecord(rec *wire.Record) ([]byte, error) {
	b, err := marshal("record", rec)
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("%w: record version is %d bytes, limit %d; use fewer or smaller groups",
			ErrInvalid, len(b), maxRecordSize)
	}
	return b, nil
}
