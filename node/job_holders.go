package node

import (
	"context"

	"github.com/yuinet/yui/job/sched"
)

// jobHoldersBudget bounds the bytes that holders add to a job's snapshot,
// which travels in one JobState message of at most wire.MaxMessageSize
// and goes to the backup again after each round of commits. Each holder
// costs about jobHolderBytes there (a node ID in hex), so a job of n
// segments lists up to jobHoldersBudget / jobHolderBytes / n holders per
// segment, and at most sched.MaxHolders.
const (
	jobHoldersBudget = 512 << 10
	jobHolderBytes   = 66
)

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
	if len(segs) == 0 {
		return
	}
	perSegment := min(sched.MaxHolders, jobHoldersBudget/jobHolderBytes/len(segs))
	if perSegment == 0 {
		// NOTE: the snapshot repeats a holder list per segment, although
		// many segments share one directory shard and so one list. Listing
		// each distinct list once would let larger jobs keep holders.
		n.log.Info("job units go without holders: too many segments to list them in the job's snapshot",
			"namespace", namespace, "segments", len(segs), "max", jobHoldersBudget/jobHolderBytes)
		return
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
			ids = ids[:min(len(ids), perSegment)]
			for _, id := range ids {
				batch[i].Holders = append(batch[i].Holders, sched.WorkerID(id.String()))
			}
		}
	}
}
