package search

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
)

// partitionDigest is the summary of the postings a holder stores in one
// index partition: the count and digest of every bucket, and of the
// partition as a whole.
type partitionDigest struct {
	count   uint64
	digest  wire.Hash
	buckets [wire.IndexBucketCount]wire.IndexBucket
}

// partitionPrefix is the key prefix of the postings of partition part
// of namespace ns, which are those whose token starts with part.
func partitionPrefix(ns string, part byte) []byte {
	key := make([]byte, 0, 3+len(ns))
	key = append(key, postingPrefix, byte(len(ns)))
	key = append(key, ns...)
	return append(key, part)
}

// digest returns the count and digest of each bucket of a partition
// held here. A bucket's digest is the SHA-256 of its posting keys (token,
// then entry ID) in key order. The partition's is the SHA-256 of every
// bucket's count and digest. Two holders with the same postings in a
// partition thus compute the same digests.
func (x *Index) digest(ns string, part byte) (*partitionDigest, error) {
	d := &partitionDigest{}
	prefix := partitionPrefix(ns, part)

	var h hash.Hash
	current := -1
	finish := func() {
		if current >= 0 {
			copy(d.buckets[current].Digest[:], h.Sum(nil))
		}
	}
	err := x.cfg.Engine.Scan(prefix, engine.PrefixEnd(prefix), func(key, _ []byte) error {
		suffix := key[len(prefix)-1:]
		if len(suffix) != wire.IndexKeySize {
			return nil // not a posting key of this layout
		}
		if b := int(suffix[1]); b != current {
			finish()
			current, h = b, sha256.New()
		}
		h.Write(suffix)
		d.buckets[current].Count++
		d.count++
		return nil
	})
	if err != nil {
		return nil, err
	}
	finish()

	all := sha256.New()
	for _, b := range d.buckets {
		all.Write(binary.BigEndian.AppendUint64(nil, b.Count))
		all.Write(b.Digest[:])
	}
	copy(d.digest[:], all.Sum(nil))
	return d, nil
}

// heldPartition is one index partition this holder stores postings in.
type heldPartition struct {
	ns   string
	part byte
}

// heldPartitions returns every partition with at least one posting here,
// seeking past each one found instead of reading its postings.
func (x *Index) heldPartitions() ([]heldPartition, error) {
	var held []heldPartition
	lower := []byte{postingPrefix}
	upper := engine.PrefixEnd(lower)
	for {
		var found *heldPartition
		err := x.cfg.Engine.Scan(lower, upper, func(key, _ []byte) error {
			if len(key) >= 3 && len(key) >= 3+int(key[1]) {
				n := int(key[1])
				found = &heldPartition{ns: string(key[2 : 2+n]), part: key[2+n]}
			}
			return engine.StopScan
		})
		if err != nil {
			return nil, err
		}
		if found == nil {
			return held, nil
		}
		held = append(held, *found)
		lower = engine.PrefixEnd(partitionPrefix(found.ns, found.part))
		if lower == nil {
			return held, nil
		}
	}
}

// bucketKeys calls fn with each posting key, token then entry ID, that
// this holder stores in a bucket of a partition, in key order and after
// the key after when it is set, until fn returns engine.StopScan.
func (x *Index) bucketKeys(ns string, part, bucket byte, after []byte, fn func(key []byte) error) error {
	prefix := append(partitionPrefix(ns, part), bucket)
	lower := prefix
	if len(after) == wire.IndexKeySize {
		// A key one byte longer than the cursor's sorts right after it.
		lower = append(postingKey(ns, wire.Hash(after[:32]), after[32:]), 0)
	}
	return x.cfg.Engine.Scan(lower, engine.PrefixEnd(prefix), func(key, _ []byte) error {
		suffix := key[len(prefix)-2:]
		if len(suffix) != wire.IndexKeySize {
			return nil
		}
		return fn(suffix)
	})
}

// entry returns the sealed entry stored under a posting key.
func (x *Index) entry(ns string, key []byte) ([]byte, error) {
	return x.cfg.Engine.Get(postingKey(ns, wire.Hash(key[:32]), key[32:]))
}

func (x *Index) sync(from transport.Peer, m *wire.IndexSync) wire.Message {
	if !x.holds() {
		return x.reject(from, wire.CodeNotHolder, "this node is not in the upper tier and holds no index")
	}
	d, err := x.digest(m.Namespace, m.Partition)
	if err != nil {
		x.log.Error("reading postings failed", "peer", from.ID.Short(), "namespace", m.Namespace, "err", err)
		return &wire.Error{Code: wire.CodeInternal, Message: "reading postings failed"}
	}
	if d.count == m.Count && d.digest == m.Digest {
		return &wire.IndexBuckets{Buckets: []wire.IndexBucket{}}
	}
	return &wire.IndexBuckets{Buckets: d.buckets[:]}
}

func (x *Index) list(from transport.Peer, m *wire.IndexList) wire.Message {
	if !x.holds() {
		return x.reject(from, wire.CodeNotHolder, "this node is not in the upper tier and holds no index")
	}
	if len(m.After) != 0 && (m.After[0] != m.Partition || m.After[1] != m.Bucket) {
		return x.reject(from, wire.CodeBadRequest, "cursor is outside bucket %d of partition %d", m.Bucket, m.Partition)
	}
	limit := int(m.Limit)
	if limit == 0 {
		limit = wire.MaxIndexKeys
	}
	resp := &wire.IndexKeys{Keys: [][]byte{}}
	err := x.bucketKeys(m.Namespace, m.Partition, m.Bucket, m.After, func(key []byte) error {
		if len(resp.Keys) == limit {
			resp.Next = bytes.Clone(resp.Keys[len(resp.Keys)-1])
			return engine.StopScan
		}
		resp.Keys = append(resp.Keys, bytes.Clone(key))
		return nil
	})
	if err != nil {
		x.log.Error("reading postings failed", "peer", from.ID.Short(), "namespace", m.Namespace, "err", err)
		return &wire.Error{Code: wire.CodeInternal, Message: "reading postings failed"}
	}
	return resp
}
