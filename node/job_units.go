package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/storage/store"
)

// maxSegmentsPerUnit bounds --segments-per-unit: an assignment names at
// most this many segment keys.
const maxSegmentsPerUnit = 256

// jobUnits cuts sorted segment keys into units of about per segments.
// The segments of one source and hour stay in one unit, however many
// they are, because they may hold the same readings twice (a file
// imported again) and only a worker that reads them together drops the
// copies.
func jobUnits(keys []string, per int) ([]sched.Unit, error) {
	groups := search.SourceHours(keys)
	// Split gets one segment per group, weighted by its size, and
	// never cuts a segment, so it never cuts a group.
	segs := make([]sched.Segment, len(groups))
	for i, g := range groups {
		segs[i] = sched.Segment{Key: g[0], Readings: len(g)}
	}
	units, err := sched.Split(segs, per)
	if err != nil {
		return nil, err
	}
	next := 0
	for i := range units {
		var expanded []sched.Segment
		for range units[i].Segments {
			for _, key := range groups[next] {
				expanded = append(expanded, sched.Segment{Key: key, Readings: 1})
			}
			next++
		}
		units[i].Segments = expanded
	}
	return units, nil
}

// checkSegmentsPerUnit rejects a unit size the scheduler cannot use; 0
// means the default.
func checkSegmentsPerUnit(per int) (int, error) {
	switch {
	case per == 0:
		return jobSegmentsPerUnit, nil
	case per < 0 || per > maxSegmentsPerUnit:
		return 0, fmt.Errorf("%w: segments per unit %d; use 1 to %d, or 0 for the default %d",
			search.ErrInvalidQuery, per, maxSegmentsPerUnit, jobSegmentsPerUnit)
	}
	return per, nil
}

// ErrReader reports a job reader that cannot read the job's namespace on
// the submitting node.
var ErrReader = errors.New("node: job reader cannot read the namespace")

// checkReader reads the first record of the job's input (a segment, or
// a ciphertext of an encrypted job) as its reader on this node, which is
// one of the job's workers, so that a reader that
// does not exist or has no grant fails the submission at once. Without
// this check every unit would fail on every worker, again and again,
// and the job would take its retries and benches to end.
func (n *Node) checkReader(ctx context.Context, reader string, q search.Query, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := n.storage.store.Get(ctx, reader, q.Namespace, keys[0], io.Discard, store.GetOptions{})
	switch {
	case errors.Is(err, store.ErrUnknownUser):
		return fmt.Errorf("%w: reader %q is not a user of this node; create it on every worker node with 'yui user create %s' and grant it read access: %v",
			ErrReader, reader, reader, err)
	case errors.Is(err, store.ErrForbidden):
		return fmt.Errorf("%w: reader %q cannot read record %q of namespace %q; %s: %v",
			ErrReader, reader, keys[0], q.Namespace, n.grantAdvice(q.Namespace, "", reader), err)
	}
	// Other errors, such as holders out of reach, may pass; the workers
	// retry them.
	return nil
}
