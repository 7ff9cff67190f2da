package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/store"
)

// accessTimeout bounds the access change of a grant or revoke: one
// descriptor signed and sent to the namespace's holders.
const accessTimeout = 2 * time.Minute

// maxEndedGrants bounds the ended grant tasks a node keeps so that
// clients can still read their result.
const maxEndedGrants = 64

// grantTasks runs the re-wraps of read grants in the background, so that
// a grant does not stop halfway when the HTTP request that started it
// ends. Tasks live in memory: after a restart, the same grant sent again
// re-wraps what a stopped task left.
type grantTasks struct {
	log *slog.Logger
	// ctx ends when the node stops, and with it every running task.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards byID, ended and each task's info
	byID  map[string]*grantTask
	ended []string // IDs of ended tasks, oldest first
}

// grantTask is one read grant's re-wrap.
type grantTask struct {
	owner string
	// same identifies the grant: namespace, reader keys and scope.
	same    string
	started time.Time
	info    api.GrantTask
}

func newGrantTasks(log *slog.Logger) *grantTasks {
	ctx, cancel := context.WithCancel(context.Background())
	return &grantTasks{log: log, ctx: ctx, cancel: cancel, byID: make(map[string]*grantTask)}
}

// close stops the running tasks and waits for them; it is safe to call
// twice.
func (g *grantTasks) close() {
	g.cancel()
	g.wg.Wait()
}

// running returns the state of the running task of the same grant, if
// there is one.
func (g *grantTasks) running(owner, same string) (api.GrantTask, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range g.byID {
		if t.owner == owner && t.same == same && t.info.State == api.GrantRunning {
			return t.info, true
		}
	}
	return api.GrantTask{}, false
}

// get returns the state of task id if owner started it on namespace.
func (g *grantTasks) get(owner, namespace, id string) (api.GrantTask, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.byID[id]
	if !ok || t.owner != owner || t.info.Namespace != namespace {
		return api.GrantTask{}, false
	}
	return t.info, true
}

// latest returns the state of the running task that re-wraps namespace
// for the reader named reader, or else of the newest ended one.
func (g *grantTasks) latest(namespace, reader string) (api.GrantTask, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var best *grantTask
	for _, t := range g.byID {
		if t.info.Namespace != namespace || t.info.User != reader {
			continue
		}
		switch {
		case best == nil, t.info.State == api.GrantRunning:
			best = t
		case best.info.State != api.GrantRunning && t.started.After(best.started):
			best = t
		}
	}
	if best == nil {
		return api.GrantTask{}, false
	}
	return best.info, true
}

// start runs rw in the background and returns its task's first state.
func (g *grantTasks) start(owner, same string, info api.GrantTask, rw *store.Rewrap) api.GrantTask {
	t := &grantTask{owner: owner, same: same, started: time.Now(), info: info}
	t.info.ID = newTaskID()
	t.info.State = api.GrantRunning
	t.info.Dirs = rw.Dirs()
	first := t.info
	g.mu.Lock()
	g.byID[t.info.ID] = t
	g.mu.Unlock()

	g.log.Info("grant re-wrap started", "task", first.ID, "namespace", info.Namespace, "reader", info.User,
		"scope", info.KeyOrPrefix)
	g.wg.Go(func() {
		p, err := rw.Run(g.ctx, func(p store.RewrapProgress) {
			g.mu.Lock()
			setRewrapProgress(&t.info, p)
			g.mu.Unlock()
		})
		g.finish(t, p, err)
	})
	return first
}

// finish records the end of task t and removes the oldest ended tasks
// beyond maxEndedGrants.
func (g *grantTasks) finish(t *grantTask, p store.RewrapProgress, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	setRewrapProgress(&t.info, p)
	t.info.State = api.GrantDone
	if err != nil {
		t.info.State = api.GrantFailed
		t.info.Error = err.Error()
		t.info.Fix = fmt.Sprintf("run 'yui grant %s %q %s read' again: it re-wraps only the records the reader cannot read yet",
			t.info.Namespace, t.info.KeyOrPrefix, t.info.User)
		g.log.Warn("grant re-wrap failed", "task", t.info.ID, "namespace", t.info.Namespace,
			"reader", t.info.User, "rewrapped", p.Rewrapped, "total", p.Total, "err", err)
	} else {
		g.log.Info("grant re-wrap done", "task", t.info.ID, "namespace", t.info.Namespace,
			"reader", t.info.User, "rewrapped", p.Rewrapped, "already", p.Already)
	}

	g.ended = append(g.ended, t.info.ID)
	for len(g.ended) > maxEndedGrants {
		delete(g.byID, g.ended[0])
		g.ended = g.ended[1:]
	}
}

func setRewrapProgress(info *api.GrantTask, p store.RewrapProgress) {
	info.Dirs, info.DirsListed = p.Dirs, p.DirsListed
	info.Total, info.Rewrapped, info.Already = p.Total, p.Rewrapped, p.Already
}

func newTaskID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serveGrant changes a namespace's access and responds with the grant's
// task: 200 when it is done, 202 while the node re-wraps existing records
// for a new reader. The work does not depend on the request: the access
// change runs under the node's context, and the re-wrap in the background.
func (n *Node) serveGrant(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	var g api.Grant
	if err := decodeJSONBody(w, r, &g); err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	right, grantee, err := parseGrant(&g)
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	info := api.GrantTask{Namespace: c.namespace, User: g.User, KeyOrPrefix: g.KeyOrPrefix, Right: g.Right, State: api.GrantDone}
	same := c.namespace + "\x00" + string(g.PublicKeys) + "\x00" + g.KeyOrPrefix
	if r.Method == http.MethodPost && right == store.Read {
		if running, ok := n.grants.running(c.user, same); ok {
			writeJSON(w, http.StatusAccepted, running)
			return
		}
	}

	ctx, cancel := context.WithTimeout(n.grants.ctx, accessTimeout)
	defer cancel()
	var rw *store.Rewrap
	if r.Method == http.MethodDelete {
		err = n.storage.store.Revoke(ctx, c.user, c.namespace, g.KeyOrPrefix, grantee, right)
	} else {
		rw, err = n.storage.store.GrantAccess(ctx, c.user, c.namespace, g.KeyOrPrefix, grantee, right)
	}
	if err != nil {
		n.writeStoreError(w, r, err)
		return
	}
	if rw == nil {
		writeJSON(w, http.StatusOK, info)
		return
	}
	writeJSON(w, http.StatusAccepted, n.grants.start(c.user, same, info, rw))
}

// serveGrantTask responds with the state of a grant task that the
// calling user started on this node.
func (n *Node) serveGrantTask(w http.ResponseWriter, r *http.Request) {
	c, ok := n.startCall(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	info, ok := n.grants.get(c.user, c.namespace, id)
	if !ok {
		writeJSON(w, http.StatusNotFound, api.StoreError{
			Error: fmt.Sprintf("no grant task %q of user %q on namespace %q on this node", id, c.user, c.namespace),
			Code:  api.CodeNotFound,
			Fix: fmt.Sprintf("the node keeps the last %d ended grants and forgets them when it restarts; "+
				"send the grant again, which re-wraps only what remains", maxEndedGrants),
		})
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// grantAdvice returns how to give reader read access to scope of
// namespace, or how to finish a grant to reader that has not finished.
func (n *Node) grantAdvice(namespace, scope, reader string) string {
	command := fmt.Sprintf("'yui grant %s %q %s read --keys FILE'", namespace, scope, reader)
	task, ok := n.grants.latest(namespace, reader)
	switch {
	case ok && task.State == api.GrantRunning:
		return fmt.Sprintf("a grant to %q is still re-wrapping the existing records of namespace %q (%d of %d done); "+
			"wait until 'yui grant' reports it done and submit again", reader, namespace, task.Rewrapped, task.Total)
	case ok && task.State == api.GrantFailed:
		return fmt.Sprintf("the grant to %q stopped after re-wrapping %d of %d existing records of namespace %q; "+
			"run %s again, which re-wraps only the rest", reader, task.Rewrapped, task.Total, namespace, command)
	}
	return fmt.Sprintf("grant it with %s; if you did and 'yui grant' did not report it done, run it again, "+
		"which re-wraps only the records the reader cannot read yet", command)
}
