package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// metaGroup is the reserved field group that carries a record version's
// store metadata: "created", the time of the key's first write as 8
// big-endian bytes of Unix milliseconds, and "cell", the cluster whose
// holders store the value's chunks, absent for a value placed globally. It is sealed under the header
// key, so every reader of the header can open it and it needs no wrapped
// key of its own. The envelope's signature covers it like any group.
//
// NOTE: the creation time belongs in seal.Header; it lives in this group
// because that type is outside this package and its encoding is a fixed
// array.
const metaGroup = "yui.meta"

// reservedGroupPrefix starts the group names users may not choose.
const reservedGroupPrefix = "yui."

const (
	createdField = "created"
	cellField    = "cell"
)

// sealMeta seals the metadata group of version id under the header key.
func sealMeta(headerKey seal.DataKey, id seal.RecordID, created time.Time, cell string) ([]byte, error) {
	fields := map[string][]byte{createdField: binary.BigEndian.AppendUint64(nil, uint64(created.UnixMilli()))}
	if cell != "" {
		fields[cellField] = []byte(cell)
	}
	sealed, err := seal.SealGroup(headerKey, id, metaGroup, fields)
	if err != nil {
		return nil, fmt.Errorf("store: seal record metadata: %w", err)
	}
	return sealed, nil
}

// createdOf returns the creation time a record version carries, or the
// version's own time when it carries none, as versions written before
// the metadata group existed do.
func createdOf(rec *wire.Record, env *seal.Envelope, headerKey seal.DataKey) time.Time {
	fallback := versionTime(env.Record.Version)
	sealed, ok := rec.Groups[metaGroup]
	if !ok {
		return fallback
	}
	fields, err := seal.OpenGroup(headerKey, env.Record, metaGroup, sealed)
	if err != nil || len(fields[createdField]) != 8 {
		return fallback
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(fields[createdField]))).UTC()
}

// cellOf returns the cell whose holders store the chunks of a record
// version, or "" for a version placed globally, as every version written
// before placement by cluster existed is.
func cellOf(rec *wire.Record, env *seal.Envelope, headerKey seal.DataKey) string {
	sealed, ok := rec.Groups[metaGroup]
	if !ok {
		return ""
	}
	fields, err := seal.OpenGroup(headerKey, env.Record, metaGroup, sealed)
	if err != nil || checkCell(string(fields[cellField])) != nil {
		return ""
	}
	return string(fields[cellField])
}

// priorCreated returns the creation time of the newest live version of a
// key, read from the first directory holders as a Get does, or the zero
// time when none of them holds a live version. It also makes the clock
// issue a version above the one found, so that the new write supersedes
// it even when the other writer's clock ran ahead.
//
// NOTE: only the first firstReaders holders are asked, so right after
// churn, when none of them has the key yet, an overwrite starts a new
// creation time.
func (s *Store) priorCreated(ctx context.Context, v *nsView, key string) time.Time {
	return s.priorCreatedAll(ctx, v, []string{key})[key]
}

// priorCreatedAll returns priorCreated for each key, with one GetRecords
// per directory holder for up to wire.MaxRecordBatch keys. Keys without a
// live version are left out.
func (s *Store) priorCreatedAll(ctx context.Context, v *nsView, keys []string) map[string]time.Time {
	hashes := make([]seal.Hash, len(keys))
	for i, k := range keys {
		hashes[i] = seal.KeyHash(v.ks, k)
	}
	versions := s.newestVersions(ctx, v.d, hashes, false)
	out := make(map[string]time.Time)
	for i, k := range keys {
		bv := versions[hashes[i]]
		if bv.err != nil {
			continue
		}
		dk, ok := unwrapFor(v, bv.env.Record, bv.rec.Wraps, seal.RoleHeader)
		if !ok {
			out[k] = versionTime(bv.env.Record.Version)
			continue
		}
		out[k] = createdOf(bv.rec, bv.env, dk)
	}
	return out
}

// isReservedGroup reports whether users may not name a group so.
func isReservedGroup(name string) bool { return strings.HasPrefix(name, reservedGroupPrefix) }
