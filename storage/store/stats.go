package store

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Reasons a holder rejects a write, as Stats.Rejected keys them.
const (
	RejectForbidden = "forbidden"
	RejectNotHolder = "not_holder"
	RejectFull      = "full"
	RejectInvalid   = "invalid"
)

// Stats is a snapshot of a holder's counters.
type Stats struct {
	Tier Tier
	// ShardsHeld and ShardBytes count the shards stored and their
	// encoded bytes; MetaEntries and MetaBytes count records,
	// descriptors and tombstones.
	ShardsHeld, ShardBytes int64
	MetaEntries, MetaBytes int64
	ShardsWritten          uint64 // PutShard requests stored
	RecordsWritten         uint64 // PutRecord requests that replaced a version
	CorruptShards          uint64 // shards that failed their hash on read
	RepairsDone            uint64 // shards rebuilt and record versions copied by repair
	RepairBytes            uint64 // bytes repair sent to other holders
	Rejected               map[string]uint64
}

// counters are a holder's live counters; the Repairer adds to them too.
type counters struct {
	shardsWritten, recordsWritten, corrupt atomic.Uint64
	repairs, repairBytes                   atomic.Uint64

	mu       sync.Mutex // guards rejected
	rejected map[string]uint64
}

func (c *counters) reject(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rejected == nil {
		c.rejected = make(map[string]uint64)
	}
	c.rejected[reason]++
}

func (c *counters) rejectedSnapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.rejected)
}
