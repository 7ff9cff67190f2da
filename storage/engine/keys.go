package engine

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/yuinet/yui/storage/erasure"
)

// Key layout of a ShardStore. Every key starts with one byte that names its
// keyspace; new keyspaces take a new byte and are listed here.
//
//	'f'                           store format version (8-byte big-endian)
//	'c' name                      usage counter, an int64 kept by AddInt64
//	's' chunk ID (32) index (2)   encoded erasure.Shard; index big-endian,
//	    data (2) parity (2)       so a chunk's shards sort by index, then
//	                              the shard's code, so that listing a
//	                              chunk's shards gives their codes without
//	                              reading them. Format 1 wrote the key
//	                              without the code; such keys are still
//	                              read, and listed with an unknown code.
//	'h' key                       record's signed header (MetaHeader)
//	't' key                       tombstone of a deleted record (MetaTombstone)
//
// Keys outside these keyspaces are not used by ShardStore, so tests may use
// them for raw engine writes.
const (
	prefixFormat    = 'f'
	prefixCounter   = 'c'
	prefixShard     = 's'
	prefixHeader    = 'h'
	prefixTombstone = 't'
)

// storeFormat is the version of the key layout above. NewShardStore
// rejects a store written with another version, except format 1, whose
// keys this layout still reads: it marks such a store format 2.
const (
	storeFormat    = 2
	oldStoreFormat = 1
)

var (
	formatKey           = []byte{prefixFormat}
	counterShards       = []byte{prefixCounter, 's'}
	counterShardBytes   = []byte{prefixCounter, 'b'}
	counterMetaEntries  = []byte{prefixCounter, 'm'}
	counterMetaBytes    = []byte{prefixCounter, 'n'}
	shardKeyspacePrefix = []byte{prefixShard}
)

// ChunkIDLen is the length of a chunk ID in bytes.
const ChunkIDLen = 32

// ChunkID names a chunk: the SHA-256 of its encrypted bytes, which the
// storage layer computes. ShardStore only uses it as a key.
type ChunkID [ChunkIDLen]byte

// String returns the ID as 64 hexadecimal digits.
func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

const (
	oldShardKeyLen = 1 + ChunkIDLen + 2 // format 1, without the code
	shardKeyLen    = oldShardKeyLen + 4
)

// shardKey returns the key of shard index of chunk id coded with p.
func shardKey(id ChunkID, index int, p erasure.Params) []byte {
	key := indexPrefix(id, index)
	key = binary.BigEndian.AppendUint16(key, uint16(p.Data))
	return binary.BigEndian.AppendUint16(key, uint16(p.Parity))
}

// indexPrefix returns the prefix of the keys of shard index of chunk id,
// whatever its code, which is also the whole key of format 1.
func indexPrefix(id ChunkID, index int) []byte {
	key := make([]byte, 0, shardKeyLen)
	key = append(key, prefixShard)
	key = append(key, id[:]...)
	return binary.BigEndian.AppendUint16(key, uint16(index))
}

func chunkPrefix(id ChunkID) []byte {
	return append([]byte{prefixShard}, id[:]...)
}

// parseShardKey splits a key from the shard keyspace. The code of a
// format 1 key is the zero Params.
func parseShardKey(key []byte) (ChunkID, ShardRef, error) {
	var id ChunkID
	if (len(key) != shardKeyLen && len(key) != oldShardKeyLen) || key[0] != prefixShard {
		return id, ShardRef{}, fmt.Errorf("%w: %x is not a shard key", ErrCorrupt, key)
	}
	copy(id[:], key[1:1+ChunkIDLen])
	ref := ShardRef{Index: int(binary.BigEndian.Uint16(key[1+ChunkIDLen:]))}
	if len(key) == shardKeyLen {
		ref.Params.Data = int(binary.BigEndian.Uint16(key[oldShardKeyLen:]))
		ref.Params.Parity = int(binary.BigEndian.Uint16(key[oldShardKeyLen+2:]))
	}
	return id, ref, nil
}

// ShardRef names one shard of a chunk held in a ShardStore: its index and
// its code. Params is zero for a shard stored by format 1, whose code is
// known only from the shard itself.
type ShardRef struct {
	Index  int
	Params erasure.Params
}

// MetaKind selects a metadata keyspace. Its value is the keyspace's prefix
// byte.
type MetaKind byte

// Metadata keyspaces.
const (
	// MetaHeader holds records' signed headers.
	MetaHeader MetaKind = prefixHeader
	// MetaTombstone holds tombstones, which mark records as deleted so that
	// repair does not bring them back.
	MetaTombstone MetaKind = prefixTombstone
)

func (k MetaKind) String() string {
	switch k {
	case MetaHeader:
		return "header"
	case MetaTombstone:
		return "tombstone"
	}
	return fmt.Sprintf("MetaKind(%#x)", byte(k))
}

func (k MetaKind) valid() bool { return k == MetaHeader || k == MetaTombstone }

func metaKey(kind MetaKind, key []byte) []byte {
	return append([]byte{byte(kind)}, key...)
}
