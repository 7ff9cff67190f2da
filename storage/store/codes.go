package store

import (
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/erasure"
)

// listedShard is one shard a holder listed: its index and its code, the
// zero Params when the holder did not name it.
type listedShard struct {
	index uint16
	code  erasure.Params
}

// listedOf returns the shards r lists of its i-th chunk. r has passed
// Validate, so Codes is absent or matches Held.
func listedOf(r *wire.ShardIndexes, i int) []listedShard {
	out := make([]listedShard, len(r.Held[i]))
	for j, x := range r.Held[i] {
		out[j].index = x
		if r.Codes != nil {
			c := r.Codes[i][j]
			out[j].code = erasure.Params{Data: int(c.Data), Parity: int(c.Parity)}
		}
	}
	return out
}
