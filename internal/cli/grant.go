package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
)

// grantStall is how long 'yui grant' waits for a running grant that
// makes no progress before it stops waiting. Listing a directory shard
// of a large namespace makes no visible progress, so this is longer than
// requestTimeout.
const grantStall = 3 * time.Minute

// grantReportEvery is how often 'yui grant' prints a running grant's
// progress at most.
const grantReportEvery = 2 * time.Second

// errGrantStalled ends the wait for a grant that made no progress.
var errGrantStalled = errors.New("no progress")

// runGrant sends a grant and, for a read grant, waits until the node has
// re-wrapped the existing records, printing progress to standard error.
// start bounds the request that changes the access; the wait is bounded
// only by progress, and an interrupt ends it but not the node's work.
func runGrant(start context.Context, cmd *cobra.Command, client *api.Client, owner, namespace string, g api.Grant) error {
	task, err := client.StartGrant(start, owner, namespace, g)
	if err != nil {
		return err
	}
	if task.State != api.GrantRunning {
		return nil
	}

	ctx, stop := interruptible(cmd.Context())
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &grantWatch{out: cmd.ErrOrStderr(), cancel: cancel, last: time.Now()}
	go w.watchStall(ctx)
	task, err = client.WaitGrant(ctx, owner, task, w.report)
	if err == nil {
		return nil
	}

	again := fmt.Sprintf("'yui grant %s %q %s read'", namespace, g.KeyOrPrefix, g.User)
	switch {
	case errors.Is(context.Cause(ctx), errGrantStalled):
		return fmt.Errorf("the grant of namespace %q to %q made no progress for %v (%d of %d records re-wrapped); "+
			"the node keeps trying: check its log, and run %s again to follow it or to finish the rest",
			namespace, g.User, grantStall, task.Rewrapped, task.Total, again)
	case ctx.Err() != nil:
		return fmt.Errorf("stopped waiting for the grant of namespace %q to %q (%d of %d records re-wrapped); "+
			"the node finishes it: run %s again to follow it", namespace, g.User, task.Rewrapped, task.Total, again)
	}
	return err
}

// grantWatch prints a running grant's progress and ends the wait when
// the grant stops advancing.
type grantWatch struct {
	out    io.Writer
	cancel context.CancelCauseFunc

	mu       sync.Mutex // guards the fields below
	last     time.Time  // when the progress last changed
	seen     api.GrantTask
	reported time.Time
}

func (w *grantWatch) report(t *api.GrantTask) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if t.DirsListed != w.seen.DirsListed || t.Rewrapped != w.seen.Rewrapped || t.State != w.seen.State {
		w.last = now
	}
	w.seen = *t
	if t.State == api.GrantRunning && now.Sub(w.reported) < grantReportEvery {
		return
	}
	w.reported = now
	switch {
	case t.DirsListed < t.Dirs:
		fmt.Fprintf(w.out, "listing %s for %s: %d of %d directory shards, %d records to re-wrap so far\n",
			t.Namespace, t.User, t.DirsListed, t.Dirs, t.Total)
	default:
		fmt.Fprintf(w.out, "re-wrapped %d of %d records of %s for %s (%d had the key already)\n",
			t.Rewrapped, t.Total, t.Namespace, t.User, t.Already)
	}
}

func (w *grantWatch) watchStall(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.mu.Lock()
		idle := time.Since(w.last)
		w.mu.Unlock()
		if idle > grantStall {
			w.cancel(errGrantStalled)
			return
		}
	}
}
