package store

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/chunk"
	"github.com/yuinet/yui/storage/erasure"
)

// NamespaceID returns the overlay key of a namespace's descriptor:
// SHA-256("yui/ns/" + name).
func NamespaceID(name string) identity.NodeID {
	return identity.KeyID([]byte("yui/ns/" + name))
}

// DirectoryID returns the overlay key of directory shard d of a namespace:
// SHA-256("yui/dir/" + name + "/" + d), with d in decimal.
func DirectoryID(name string, d uint32) identity.NodeID {
	return identity.KeyID([]byte("yui/dir/" + name + "/" + strconv.FormatUint(uint64(d), 10)))
}

// ChunkKey returns the overlay key of a chunk: its ID, which is already a
// uniform 256-bit hash.
func ChunkKey(id chunk.ID) identity.NodeID { return identity.NodeID(id) }

// DirectoryOf returns the directory shard a key hash falls in: its first
// dirBits bits.
func DirectoryOf(keyHash [32]byte, dirBits uint8) uint32 {
	if dirBits == 0 {
		return 0
	}
	return binary.BigEndian.Uint32(keyHash[:4]) >> (32 - uint32(dirBits))
}

// sortByDistance sorts contacts by XOR distance to target, closest first,
// and drops duplicates.
func sortByDistance(target identity.NodeID, contacts []wire.Contact) []wire.Contact {
	slices.SortFunc(contacts, func(a, b wire.Contact) int {
		return identity.Compare(identity.Xor(target, a.ID), identity.Xor(target, b.ID))
	})
	return slices.CompactFunc(contacts, func(a, b wire.Contact) bool { return a.ID == b.ID })
}

// ScaledParams returns the code a chunk is written with when only holders
// nodes can hold its shards: the namespace's code if it fits. Otherwise it
// keeps the namespace's parity and drops data shards while at least as
// many data shards as parity remain, so the overhead stays at most 2×.
// Below that it uses the widest code of the 1:1 ratio that fits,
// k = m = holders/2, and with one holder it keeps one copy. So 31+17
// becomes 30+17 on 47 holders, 17+17 on 34, 16+16 on 33 and 12+12 on 24.
func ScaledParams(nominal erasure.Params, holders int) erasure.Params {
	if holders >= nominal.Total() {
		return nominal
	}
	if holders < 2 {
		return erasure.Params{Data: 1, Parity: 0}
	}
	if data := holders - nominal.Parity; data >= max(nominal.Parity, 1) {
		return erasure.Params{Data: data, Parity: nominal.Parity}
	}
	return erasure.Params{Data: holders / 2, Parity: holders / 2}
}

// codeFor returns the code a sealed chunk of size bytes is written with
// on holders nodes: ScaledParams, with more data shards if the chunk would
// not fit the shards otherwise. The parity count is kept, so the chunk
// still survives the loss of that many shards.
func codeFor(nominal erasure.Params, holders, size int) erasure.Params {
	p := ScaledParams(nominal, holders)
	if need := (size + erasure.MaxShardSize - 1) / erasure.MaxShardSize; p.Data < need {
		p.Data = need
	}
	return p
}

// ScaledReplicas returns how many directory holders a record is written
// to when only holders nodes can hold it: min(r, holders).
func ScaledReplicas(r, holders int) int { return max(1, min(r, holders)) }

// readerID names a reader in a record's wrapped keys: the SHA-256 of the
// encoding of its public keys.
func readerID(encodedKeys []byte) wire.Hash { return sha256.Sum256(encodedKeys) }

// transportPeer returns the contact as the sender of a message handed to
// a holder directly.
func transportPeer(c wire.Contact) transport.Peer { return transport.Peer{ID: c.ID, Addr: c.Addr} }
