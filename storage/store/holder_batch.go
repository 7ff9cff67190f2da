package store

import (
	"errors"
	"fmt"

	"github.com/yuinet/yui/network/wire"
)

// getRecords serves the newest version held of each named record, until
// the response would exceed pageBudget. Key hashes left out appear in
// neither list, and the reader asks for them again.
func (h *Holder) getRecords(m *wire.GetRecords) wire.Message {
	d := h.descriptor(m.Namespace)
	if d == nil {
		return wireError(wire.CodeNotFound, fmt.Sprintf("namespace %q is not held here", m.Namespace))
	}
	out := &wire.RecordList{}
	used := 0
	for _, k := range m.KeyHashes {
		key := recordKey(m.Namespace, DirectoryOf(k, d.Params().DirBits), k)
		head, err := h.meta.getHead(key)
		if isNotFound(err) {
			out.NotFound = append(out.NotFound, k)
			continue
		}
		var rec *wire.Record
		if err == nil {
			rec, err = h.meta.getRecord(head)
		}
		if errors.Is(err, errPacked) {
			if len(out.Records)+len(out.Packed) > 0 && used+packedEntrySize > pageBudget {
				break
			}
			used += packedEntrySize
			out.Packed = append(out.Packed, packedEntry(k, head))
			continue
		}
		if err != nil {
			// The entry is dropped, so the next request finds it missing
			// and anti-entropy fetches it again.
			h.damagedRecord(key, head, err)
			out.NotFound = append(out.NotFound, k)
			continue
		}
		size := recordSize(rec)
		if len(out.Records)+len(out.Packed) > 0 && used+size > pageBudget {
			break
		}
		used += size
		out.Records = append(out.Records, *rec)
	}
	return out
}

// packedEntrySize estimates the encoded size of a packed entry without
// wrapped keys, as a page budget counts it.
const packedEntrySize = 128

// packedEntry returns the compact entry of a packed head.
func packedEntry(k wire.Hash, head *recordHead) wire.PackedEntry {
	return wire.PackedEntry{KeyHash: k, Version: head.Version, Writer: head.Writer, Ref: *head.Packed, Wraps: head.Wraps}
}

// recordSize estimates the encoded size of rec, as a page budget counts it.
func recordSize(rec *wire.Record) int {
	size := len(rec.Envelope) + len(rec.Header) + len(rec.Inline) + 256*len(rec.Wraps)
	for _, g := range rec.Groups {
		size += len(g)
	}
	return size
}

// putRecords stores each version of a batch as putRecord would. It
// returns Ack when every version was stored or was already held, and
// otherwise the first rejection, after storing the versions that verify.
func (h *Holder) putRecords(m *wire.PutRecords) wire.Message {
	if h.Tier() < Upper {
		return h.reject(RejectNotHolder, wire.CodeNotHolder, "node is in the %v tier and holds no directories", h.Tier())
	}
	d := h.descriptor(m.Namespace)
	if d == nil {
		return wireError(wire.CodeNotFound, fmt.Sprintf("namespace %q is unknown here; send its descriptor first", m.Namespace))
	}
	var first wire.Message
	for i := range m.Records {
		var packed *wire.PackedRef
		if len(m.Packed) > 0 {
			packed = &m.Packed[i]
		}
		resp := h.putOne(d, m.Namespace, m.Dir, &m.Records[i], packed)
		if _, ok := resp.(*wire.Ack); !ok && first == nil {
			first = resp
		}
	}
	if first != nil {
		return first
	}
	return &wire.Ack{}
}

// putOne checks one record version of directory shard dir and stores it,
// or only its reference when packed is set.
func (h *Holder) putOne(d *Descriptor, ns string, dir uint32, rec *wire.Record, packed *wire.PackedRef) wire.Message {
	env, err := checkRecord(d, rec)
	switch {
	case errors.Is(err, ErrForbidden):
		return h.reject(RejectForbidden, wire.CodeForbidden, "%v", err)
	case err != nil:
		return h.reject(RejectInvalid, wire.CodeBadRequest, "%v", err)
	}
	if want := DirectoryOf(env.Record.KeyHash, d.Params().DirBits); want != dir {
		return h.reject(RejectInvalid, wire.CodeBadRequest, "record %s belongs in directory shard %d, not %d", env.Record, want, dir)
	}
	if e := h.storeRecord(ns, dir, env, rec, packed); e != nil {
		return e
	}
	return &wire.Ack{}
}
