package node

import (
	"context"
	"strings"

	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/identity"
)

// jobHoldersBudget bounds the bytes that holders add to a job's snapshot,
// which travels in one JobState message of at most wire.MaxMessageSize
// and goes to the backup again after each round of commits. The snapshot
// lists each distinct holder list once (segments refer to it by number),
// and each holder costs about jobHolderBytes there (a node ID in hex). So
// a job whose segments have d distinct holder lists keeps up to
// jobHoldersBudget / jobHolderBytes / d holders in each, and at most
// sched.MaxHolders.
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
	holders := make([][]identity.NodeID, 0, len(segs))
	for start := 0; start < len(segs); start += jobHoldersBatch {
		batch := segs[start:min(start+jobHoldersBatch, len(segs))]
		keys := make([]string, len(batch))
		for i, s := range batch {
			keys[i] = s.Key
		}
		found, err := n.storage.store.Holders(ctx, user, namespace, keys)
		if err != nil {
			n.log.Warn("job units go without holders; the scheduler will not prefer the nodes that hold them",
				"namespace", namespace, "segments", len(keys), "err", err)
			return
		}
		holders = append(holders, found...)
	}
	if lists, perList := assignHolders(segs, holders); perList == 0 && lists > 0 {
		n.log.Info("job units go without holders: too many distinct holder lists to list them in the job's snapshot",
			"namespace", namespace, "segments", len(segs), "lists", lists, "max", jobHoldersBudget/jobHolderBytes)
	}
}

// assignHolders sets the Holders of segs[i] to holders[i], cut to the
// number of holders per list that the snapshot budget allows. Segments
// with equal lists share one slice, as they share one entry in the
// snapshot. It returns the number of distinct non-empty lists and the
// most holders kept per list, which is 0 when there are more lists than
// jobHoldersBudget / jobHolderBytes.
func assignHolders(segs []*sched.Segment, holders [][]identity.NodeID) (lists, perList int) {
	distinct := make(map[string][]sched.WorkerID)
	keys := make([]string, len(segs))
	for i := range segs {
		if i >= len(holders) || len(holders[i]) == 0 {
			continue
		}
		ids := make([]string, len(holders[i]))
		for j, id := range holders[i] {
			ids[j] = id.String()
		}
		keys[i] = strings.Join(ids, ",")
		if _, ok := distinct[keys[i]]; !ok {
			list := make([]sched.WorkerID, len(ids))
			for j, id := range ids {
				list[j] = sched.WorkerID(id)
			}
			distinct[keys[i]] = list
		}
	}
	if len(distinct) == 0 {
		return 0, 0
	}
	perList = min(sched.MaxHolders, jobHoldersBudget/jobHolderBytes/len(distinct))
	if perList == 0 {
		return len(distinct), 0
	}
	for i, key := range keys {
		if key != "" {
			list := distinct[key]
			segs[i].Holders = list[:min(len(list), perList):min(len(list), perList)]
		}
	}
	return len(distinct), perList
}
