package node

import (
	"context"

	"github.com/yuinet/yui/job/sched"
)

// jobHoldersPerSegment bounds the holders listed for one segment. The
// job's snapshot, which lists them, travels in one JobState message of
// at most wire.MaxMessageSize, and each holder costs about 66 bytes
// there. The first holders are the closest to the data's key, the ones
// a reader asks first.
const jobHoldersPerSegment = 4

// jobHoldersBatch is how many segment keys one store.Holders call takes.
const jobHoldersBatch = 1024

// setUnitHolders gives each segment of units the nodes that the store
// placed its bytes on, as workers, so that the manager sends a unit
// first to a node that holds its data. A segment whose holders cannot be
// found keeps none, and its unit goes to any worker: holders are a
// preference, so a failed look-up slows the job at most.
func (n *Node) setUnitHolders(ctx context.Context, user, namespace string, units []sched.Unit) {
	var segs []*sched.Segment
	for i := range units {
		for j := range units[i].Segments {
			segs = append(segs, &units[i].Segments[j])
		}
	}
	for start := 0; start < len(segs); start += jobHoldersBatch {
		batch := segs[start:min(start+jobHoldersBatch, len(segs))]
		keys := make([]string, len(batch))
		for i, s := range batch {
			keys[i] = s.Key
		}
		holders, err := n.storage.store.Holders(ctx, user, namespace, keys)
		if err != nil {
			n.log.Warn("job units go without holders; the scheduler will not prefer the nodes that hold them",
				"namespace", namespace, "segments", len(keys), "err", err)
			return
		}
		for i, ids := range holders {
			ids = ids[:min(len(ids), jobHoldersPerSegment)]
			for _, id := range ids {
				batch[i].Holders = append(batch[i].Holders, sched.WorkerID(id.String()))
			}
		}
	}
}
