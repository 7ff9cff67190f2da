package erasure

import (
	"errors"
	"fmt"
)

// MaxShards is the maximum of Data+Parity. Reed–Solomon over GF(2^8), the
// field reedsolomon uses up to this size, has at most 256 distinct shard
// positions.
const MaxShards = 256

// MaxShardSize is the maximum length in bytes of one shard's payload. It
// keeps an encoded shard with its header inside one network message
// (network/wire.MaxMessageSize is 2 MiB), so a chunk may be at most
// Data × MaxShardSize bytes long.
const MaxShardSize = 1 << 20

// DefaultParams is the redundancy for chunks and packed segments: 31 data
// and 17 parity shards, 1.55× storage overhead. Placed on the 48 nodes of
// a 48-node cluster, a chunk survives any 16 of them failing at once with
// one shard to spare, because it loses at most 16 shards and any 31
// rebuild it. After repair spreads the 48 shards over the 32 survivors, at
// most two on a node, any 8 more failing cost at most 16 shards again. The
// spare shard covers a chunk written or repaired one shard short. The
// computation behind the choice, and the parameters it rules out, are in
// docs/redundancy.md.
var DefaultParams = Params{Data: 31, Parity: 17}

// ErrInvalidParams reports Params that no code can be built from.
var ErrInvalidParams = errors.New("erasure: invalid params")

// Params is the shape of a Reed–Solomon code: a chunk is split into Data
// shards and Parity shards are added, so that any Data of the Data+Parity
// shards rebuild it. Data = 1 is replication: every shard is a full copy.
type Params struct {
	Data   int // data shards; at least 1
	Parity int // parity shards; 0 keeps no redundancy
}

// Replication returns the params that keep copies full copies of a chunk.
func Replication(copies int) Params {
	return Params{Data: 1, Parity: copies - 1}
}

// Validate returns an error wrapping ErrInvalidParams that names the bad
// field, or nil when a code with these params can be built.
func (p Params) Validate() error {
	if problem := p.problem(); problem != "" {
		return fmt.Errorf("%w %v: %s", ErrInvalidParams, p, problem)
	}
	return nil
}

// problem describes what makes p invalid, or returns "" for valid params.
func (p Params) problem() string {
	switch {
	case p.Data < 1:
		return fmt.Sprintf("Data is %d, need at least 1", p.Data)
	case p.Parity < 0:
		return fmt.Sprintf("Parity is %d, need 0 or more", p.Parity)
	case p.Data > MaxShards || p.Parity > MaxShards:
		// Checked apart from the total so that the sum cannot overflow.
		return fmt.Sprintf("Data and Parity must each be at most %d", MaxShards)
	case p.Total() > MaxShards:
		return fmt.Sprintf("%d shards in total, the maximum is %d", p.Total(), MaxShards)
	}
	return ""
}

// Total returns the number of shards, Data+Parity.
func (p Params) Total() int { return p.Data + p.Parity }

// IsReplication reports whether every shard is a full copy of the chunk.
func (p Params) IsReplication() bool { return p.Data == 1 }

// Overhead returns stored bytes per chunk byte, Total/Data, ignoring the
// per-shard header and the padding of the last data shard.
func (p Params) Overhead() float64 { return float64(p.Total()) / float64(p.Data) }

// MaxChunkSize returns the longest chunk these params can encode.
func (p Params) MaxChunkSize() int { return p.Data * MaxShardSize }

// ShardSize returns the payload length of each shard of a chunk of size
// bytes: size/Data rounded up, since the last data shard is zero-padded.
func (p Params) ShardSize(size int) int { return (size + p.Data - 1) / p.Data }

// String returns "Data+Parity", or "replication n" for Data = 1.
func (p Params) String() string {
	if p.Data == 1 && p.Parity >= 0 {
		return fmt.Sprintf("replication %d", p.Total())
	}
	return fmt.Sprintf("%d+%d", p.Data, p.Parity)
}
