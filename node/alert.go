package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// Timing of the alert service. The Machine's own timers (expiry, summaries)
// come on top through its NextDeadline.
const (
	// alertPoll is how often the service compares the Machine's neighbours
	// with the overlay's contacts and rereads the authorities file.
	alertPoll = time.Second
	// alertSync is the Machine's SyncInterval: a node whose link was down
	// gets what it missed at most this long after the link is back, even
	// when no push to it failed visibly.
	alertSync = 5 * time.Second
	// alertHeard is how long a peer that sent an alert message stays a
	// neighbour without being in the routing table or LAN group.
	alertHeard = 2 * time.Minute
	// alertSendTimeout bounds one message to one peer.
	alertSendTimeout = 3 * time.Second
	// maxAlertSends bounds the messages in flight at once.
	maxAlertSends = 64
	// maxStoredAlerts bounds the alert files read at start.
	maxStoredAlerts = 16384
)

// alertService drives an alert.Machine over the node's transport: its
// neighbours are the overlay's contacts (routing table and LAN group) and
// any peer that sent it an alert message recently. It owns one goroutine,
// which polls the contacts and runs the Machine's timers; sends run on
// their own goroutines.
type alertService struct {
	log     *slog.Logger
	tr      transport.Transport
	dataDir string
	// peers returns the overlay's current contacts.
	peers func() []wire.Contact
	// broadcast, when set, sends newly accepted alerts on the LAN, and
	// lan is the broadcaster to close.
	broadcast func(raw []byte)
	lan       *alertLAN

	// mu guards the fields below.
	mu       sync.Mutex
	machine  *alert.Machine
	contacts map[alert.Peer]wire.Contact
	heard    map[alert.Peer]time.Time
	watchers map[chan *alert.Signed]struct{}
	// authStamp is the authorities file's modification time and size as
	// last read.
	authStamp fileStamp

	sends    chan struct{} // semaphore of maxAlertSends slots
	rejected rateLimitedLog
	backlog  rateLimitedLog
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	inflight goroutines
	stopOnce sync.Once
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newAlertService(log *slog.Logger, tr transport.Transport, dataDir string, peers func() []wire.Contact) (*alertService, error) {
	s := &alertService{
		log:      log,
		tr:       tr,
		dataDir:  dataDir,
		peers:    peers,
		contacts: make(map[alert.Peer]wire.Contact),
		heard:    make(map[alert.Peer]time.Time),
		watchers: make(map[chan *alert.Signed]struct{}),
		sends:    make(chan struct{}, maxAlertSends),
		rejected: rateLimitedLog{every: 10 * time.Second},
		backlog:  rateLimitedLog{every: 10 * time.Second},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	auths, stamp, err := s.readAuthorities()
	if err != nil {
		return nil, err
	}
	s.authStamp = stamp
	// Half the sync interval as the resend wait lets the next summary
	// repair a lost push, while a push in flight when a summary was sent
	// is not sent twice.
	s.machine = alert.New(alert.Config{Authorities: auths, SyncInterval: alertSync, ResendAfter: alertSync / 2})
	if err := os.MkdirAll(filepath.Join(dataDir, alert.AlertsDir), 0o700); err != nil {
		return nil, fmt.Errorf("node: create alerts folder: %w", err)
	}
	s.restore()
	return s, nil
}

// start runs the service's loop until close.
func (s *alertService) start() { go s.run() }

func (s *alertService) run() {
	defer close(s.done)
	poll := time.NewTicker(alertPoll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		s.mu.Lock()
		deadline := s.machine.NextDeadline()
		s.mu.Unlock()
		timer.Reset(min(waitUntil(deadline), alertPoll))

		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-poll.C:
			s.syncNeighbours()
			s.reloadAuthorities()
		case <-timer.C:
			s.mu.Lock()
			s.machine.Tick(time.Now())
			s.mu.Unlock()
			s.flush()
		}
	}
}

// close stops the loop and waits for the sends in flight. It is safe to
// call more than once.
func (s *alertService) close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		<-s.done
		if s.lan != nil {
			s.lan.close()
		}
		s.inflight.stop()
		s.mu.Lock()
		for ch := range s.watchers {
			close(ch)
			delete(s.watchers, ch)
		}
		s.mu.Unlock()
	})
}

// publish hands the Machine an alert signed by a local client. It rereads
// the authorities file first, so that an alert sent right after 'yui
// authority create' or 'add' is not rejected before the next poll.
func (s *alertService) publish(signed *alert.Signed) error {
	s.reloadAuthorities()
	s.mu.Lock()
	err := s.machine.Publish(time.Now(), signed)
	s.mu.Unlock()
	s.flush()
	return err
}

// handle serves an alert message from a peer.
func (s *alertService) handle(from transport.Peer, msg wire.Message) {
	now := time.Now()
	s.mu.Lock()
	if from.Addr.IsValid() {
		s.contacts[from.ID] = from.Contact()
	}
	s.heard[from.ID] = now
	s.machine.HandleMessage(now, from.ID, msg)
	s.mu.Unlock()
	s.flush()
}

// handleBroadcast serves an alert heard on LAN broadcast. The sender is
// not a neighbour: nothing goes back to it over this path.
func (s *alertService) handleBroadcast(from alert.Peer, msg *wire.AlertPush) {
	s.mu.Lock()
	s.machine.HandleMessage(time.Now(), from, msg)
	s.mu.Unlock()
	s.flush()
}

// meet hands the Machine a peer found on the LAN right now, so that
// the two exchange summaries at once instead of at the next poll. LAN
// discovery reports a peer again when it comes back after silence, which
// is what makes a node whose link was down catch up within seconds.
func (s *alertService) meet(c wire.Contact) {
	s.mu.Lock()
	s.contacts[c.ID] = c
	s.machine.NeighbourUp(time.Now(), c.ID)
	s.mu.Unlock()
	s.flush()
}

// syncNeighbours makes the Machine's neighbours the overlay's contacts
// plus the peers heard from recently.
func (s *alertService) syncNeighbours() {
	contacts := s.peers()
	now := time.Now()

	s.mu.Lock()
	want := make(map[alert.Peer]bool, len(contacts))
	for _, c := range contacts {
		want[c.ID] = true
		s.contacts[c.ID] = c
	}
	for p, t := range s.heard {
		if now.Sub(t) > alertHeard {
			delete(s.heard, p)
			continue
		}
		want[p] = true
	}
	have := make(map[alert.Peer]bool)
	for _, p := range s.machine.Neighbours() {
		have[p] = true
		if !want[p] {
			s.machine.NeighbourDown(now, p)
		}
	}
	for _, c := range contacts {
		if !have[c.ID] {
			s.machine.NeighbourUp(now, c.ID)
		}
	}
	for p := range s.contacts {
		if !want[p] {
			delete(s.contacts, p)
		}
	}
	s.mu.Unlock()
	s.flush()
}

// flush sends what the Machine queued and handles its events. It must be
// called without mu held.
func (s *alertService) flush() {
	s.mu.Lock()
	out := s.machine.Outbox()
	events := s.machine.Events()
	targets := make([]wire.Contact, len(out))
	for i, o := range out {
		targets[i] = s.contacts[o.To]
	}
	s.mu.Unlock()

	for i, o := range out {
		s.send(targets[i], o)
	}
	for _, e := range events {
		s.handleEvent(e)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *alertService) send(to wire.Contact, o alert.Outgoing) {
	if !to.Addr.IsValid() {
		// A neighbour whose messages came with no address cannot be
		// sent to. Its next summary gives this node the chance to reply.
		return
	}
	select {
	case <-s.stop:
		return
	case s.sends <- struct{}{}:
	default:
		if n := s.backlog.suppress(time.Now()); n >= 0 {
			s.log.Warn("alert sends are backed up, dropping messages until the next summary",
				"to", to.ID.Short(), "type", o.Msg.Type(), "in_flight", maxAlertSends, "dropped_before", n)
		}
		s.unreachable(o.To)
		return
	}
	started := s.inflight.Go(func() {
		defer func() { <-s.sends }()
		ctx, cancel := context.WithTimeout(context.Background(), alertSendTimeout)
		defer cancel()
		if err := s.tr.Send(ctx, to, o.Msg); err != nil {
			s.log.Debug("alert message not sent", "to", to, "type", o.Msg.Type(), "err", err)
			s.unreachable(o.To)
		}
	})
	if !started {
		<-s.sends // the service is stopping
	}
}

func (s *alertService) unreachable(p alert.Peer) {
	s.mu.Lock()
	s.machine.Unreachable(time.Now(), p)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *alertService) handleEvent(e alert.Event) {
	switch e.Kind {
	case alert.Accepted:
		from := "local client"
		if !e.From.IsZero() {
			from = e.From.Short()
		}
		s.log.Info("alert accepted", "alert", e.Alert.ID, "authority", e.Alert.Authority,
			"sequence", e.Alert.Sequence, "level", e.Alert.Level, "from", from,
			"expires", e.Alert.Expires.Format(time.RFC3339))
		s.save(e.Alert)
		s.notify(e.Alert)
		if s.broadcast != nil {
			s.broadcast(e.Alert.Raw)
		}
	case alert.Rejected:
		if n := s.rejected.suppress(time.Now()); n >= 0 {
			s.log.Warn("alert rejected", "from", e.From.Short(), "err", e.Err, "suppressed", n)
		}
	case alert.Dropped:
		s.log.Info("alert dropped", "alert", e.Alert.ID, "authority", e.Alert.Authority,
			"expires", e.Alert.Expires.Format(time.RFC3339))
		s.remove(e.Alert.ID)
	}
}

// notify hands a to every watcher. A watcher too slow to keep up is closed,
// so that its client reconnects and lists what it missed.
func (s *alertService) notify(a *alert.Signed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.watchers {
		select {
		case ch <- a:
		default:
			close(ch)
			delete(s.watchers, ch)
		}
	}
}

// watch returns a channel of newly accepted alerts and a function that
// ends the watch.
func (s *alertService) watch() (<-chan *alert.Signed, func()) {
	ch := make(chan *alert.Signed, 64)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.watchers[ch]; ok {
			close(ch)
			delete(s.watchers, ch)
		}
	}
}

// list returns the held alerts, oldest first.
func (s *alertService) list() []*alert.Signed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.machine.Alerts(time.Now())
}

func (s *alertService) counters() alert.Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.machine.Counters()
}

// reloadAuthorities rereads the authorities file when it changed, so that
// 'yui authority add' takes effect on a running node.
func (s *alertService) reloadAuthorities() {
	auths, stamp, err := s.readAuthorities()
	s.mu.Lock()
	defer s.mu.Unlock()
	if stamp == s.authStamp {
		return
	}
	s.authStamp = stamp
	if err != nil {
		s.log.Error("authorities file unreadable, keeping the authorities loaded before", "err", err)
		return
	}
	s.machine.SetAuthorities(auths)
	s.log.Info("authorities reloaded", "authorities", len(auths))
}

func (s *alertService) readAuthorities() (alert.Authorities, fileStamp, error) {
	var stamp fileStamp
	if fi, err := os.Stat(filepath.Join(s.dataDir, alert.AuthoritiesFile)); err == nil {
		stamp = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	list, err := alert.ReadAuthorities(s.dataDir)
	if err != nil {
		return nil, stamp, err
	}
	auths, err := alert.NewAuthorities(list)
	return auths, stamp, err
}

// save writes an accepted alert to the alerts folder.
func (s *alertService) save(a *alert.Signed) {
	path := filepath.Join(s.dataDir, alert.AlertsDir, hex.EncodeToString(a.ID[:]))
	if err := writeFileAtomic(path, a.Raw); err != nil {
		s.log.Error("alert not saved; a restart will lose it", "alert", a.ID, "err", err)
	}
}

func (s *alertService) remove(id alert.ID) {
	path := filepath.Join(s.dataDir, alert.AlertsDir, hex.EncodeToString(id[:]))
	if err := removeFile(path); err != nil {
		s.log.Error("expired alert file not removed", "alert", id, "err", err)
	}
}

// restore loads the saved alerts into the Machine and removes the files
// of those that expired while the node was down.
func (s *alertService) restore() {
	dir := filepath.Join(s.dataDir, alert.AlertsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Error("saved alerts unreadable", "dir", dir, "err", err)
		return
	}
	var raws [][]byte
	for i, e := range entries {
		if i == maxStoredAlerts {
			s.log.Warn("too many saved alerts, reading only some", "dir", dir, "limit", maxStoredAlerts)
			break
		}
		raw, err := readAlertFile(filepath.Join(dir, e.Name()))
		if err != nil {
			s.log.Warn("saved alert unreadable, skipping it", "file", e.Name(), "err", err)
			continue
		}
		raws = append(raws, raw)
	}
	n := s.machine.Restore(time.Now(), raws)
	held := make(map[string]bool)
	for _, a := range s.machine.Alerts(time.Now()) {
		held[hex.EncodeToString(a.ID[:])] = true
	}
	for _, e := range entries {
		if !held[e.Name()] && e.Type().IsRegular() {
			removeFile(filepath.Join(dir, e.Name()))
		}
	}
	if n > 0 {
		s.log.Info("restored saved alerts", "alerts", n)
	}
}

func readAlertFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > wire.MaxAlertSize {
		return nil, errors.New("not a regular file of at most wire.MaxAlertSize bytes")
	}
	return os.ReadFile(path)
}
