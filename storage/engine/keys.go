package engine

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Key layout of a ShardStore. Every key starts with one byte that names its
// keyspace; new keyspaces take a new byte and are listed here.
//
//	'f'                           store format version (8-byte big-endian)
//	'c' name                      usage counter, an int64 kept by AddInt64
//	's' chunk ID (32) index (2)   encoded erasure.Shard; index big-endian,
//	                              so a chunk's shards sort by index
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
// rejects a store written with another version.
const storeFormat = 1

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

const shardKeyLen = 1 + ChunkIDLen + 2

func shardKey(id ChunkID, index int) []byte {
	key := make([]byte, 0, shardKeyLen)
	key = append(key, prefixShard)
	key = append(key, id[:]...)
	return binary.BigEndian.AppendUint16(key, uint16(index))
}

func chunkPrefix(id ChunkID) []byte {
	return append([]byte{prefixShard}, id[:]...)
}

// parseShardKey splits a key from the shard keyspace.
func parseShardKey(key []byte) (ChunkID, int, error) {
	var id ChunkID
	if len(key) != shardKeyLen || key[0] != prefixShard {
		return id, 0, fmt.Errorf("%w: %x is not a shard key", ErrCorrupt, key)
	}
	copy(id[:], key[1:1+ChunkIDLen])
	return id, int(binary.BigEndian.Uint16(key[1+ChunkIDLen:])), nil
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
