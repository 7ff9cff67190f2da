package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/yuinet/yui/message"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
)

// Timing of the message service. The Machine's own timers (retries,
// announcements, expiry) come on top through its NextDeadline.
const (
	// msgPoll is how often the service looks for new local users and
	// signs fresh location records.
	msgPoll = 2 * time.Second
	// msgLocationTTL is how long a signed location record is valid, and
	// msgResign how old one may get before it is replaced.
	msgLocationTTL = 10 * time.Minute
	msgResign      = time.Minute
	// msgRequestTimeout bounds one request to one peer.
	msgRequestTimeout = 3 * time.Second
	// msgLookupTimeout bounds a lookup of a user's closest nodes.
	msgLookupTimeout = 10 * time.Second
	// msgLookupWidth is how many nodes a lookup returns. The Machine
	// picks its custodians among them and this node.
	msgLookupWidth = 8
	// maxMsgRequests bounds the requests in flight at once.
	maxMsgRequests = 64
)

// closestFunc returns up to n nodes closest to target, without this node.
type closestFunc func(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error)

// msgService drives a message.Machine over the node's transport and keeps
// its items in the data folder. It owns one goroutine, which runs the
// Machine's timers and signs location records for the local users;
// requests and lookups run on their own goroutines.
type msgService struct {
	log     *slog.Logger
	tr      transport.Transport
	users   *store.Store
	closest closestFunc
	files   *msgFiles
	self    wire.Contact

	// mu guards the fields below.
	mu      sync.Mutex
	machine *message.Machine
	// local are the local users by signing key, with when their
	// location record was last signed.
	local map[string]*msgUser

	requests chan struct{} // semaphore of maxMsgRequests slots
	rejected rateLimitedLog
	wake     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	inflight goroutines
	stopOnce sync.Once
}

type msgUser struct {
	name   string
	keys   *seal.User
	signed time.Time
}

func newMsgService(log *slog.Logger, tr transport.Transport, users *store.Store, closest closestFunc,
	self wire.Contact, dataDir string, quota message.Quota) (*msgService, error) {
	files, err := openMsgFiles(dataDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &msgService{
		log:      log,
		tr:       tr,
		users:    users,
		closest:  closest,
		files:    files,
		self:     self,
		machine:  message.New(message.Config{Self: self, Quota: quota}),
		local:    make(map[string]*msgUser),
		requests: make(chan struct{}, maxMsgRequests),
		rejected: rateLimitedLog{every: 10 * time.Second},
		wake:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	s.restore()
	return s, nil
}

// start runs the service's loop until close.
func (s *msgService) start() {
	s.refreshUsers()
	go s.run()
}

func (s *msgService) run() {
	defer close(s.done)
	poll := time.NewTicker(msgPoll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		s.mu.Lock()
		deadline := s.machine.NextDeadline()
		s.mu.Unlock()
		timer.Reset(min(waitUntil(deadline), msgPoll))

		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-poll.C:
			s.refreshUsers()
		case <-timer.C:
			s.mu.Lock()
			s.machine.Tick(time.Now())
			s.mu.Unlock()
			s.flush()
		}
	}
}

// close stops the loop and waits for the requests in flight, which it
// cancels. It is safe to call more than once.
func (s *msgService) close() {
	s.stopOnce.Do(func() {
		s.cancel()
		<-s.done
		s.inflight.stop()
	})
}

// refreshUsers hands the Machine a location record for each local user,
// new ones at once and known ones when their record is due for renewal.
func (s *msgService) refreshUsers() {
	names, err := s.users.Users()
	if err != nil {
		s.log.Error("listing local users for messages failed", "err", err)
		return
	}
	now := time.Now()
	for _, name := range names {
		u, err := s.users.LoadUser(name)
		if err != nil {
			s.log.Warn("local user unusable for messages", "user", name, "err", err)
			continue
		}
		key := string(u.SigningKey())
		s.mu.Lock()
		known := s.local[key]
		s.mu.Unlock()
		if known != nil && now.Sub(known.signed) < msgResign {
			continue
		}
		loc, err := message.NewLocation(u, s.self, now, now.Add(msgLocationTTL))
		if err != nil {
			s.log.Error("signing a location record failed", "user", name, "err", err)
			continue
		}
		s.mu.Lock()
		s.local[key] = &msgUser{name: name, keys: u, signed: now}
		s.machine.SetUser(now, loc)
		s.mu.Unlock()
		if known == nil {
			s.log.Info("announcing user for messages", "user", name, "key", message.Fingerprint(u.SigningKey()))
		}
	}
	s.flush()
}

// send signs and encrypts text from the local user named from to the
// user with keys to, and starts routing it. toName, if not empty, is kept
// to show the recipient by name among the sent messages.
func (s *msgService) send(from string, to seal.PublicKeys, text []byte, ttl time.Duration, toName string) (*message.Item, error) {
	u, err := s.users.LoadUser(from)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = message.DefaultTTL
	}
	var id message.ID
	rand.Read(id[:]) // never returns an error; it crashes the program if the OS fails
	now := time.Now()
	it, err := message.NewMessage(u, to, id, text, now, now.Add(ttl))
	if err != nil {
		return nil, err
	}
	if err := s.files.saveText(it.ID, text); err != nil {
		return nil, err
	}
	if toName != "" {
		if err := s.files.saveRecipientName(it.ID, toName); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	err = s.machine.Send(now, it)
	s.mu.Unlock()
	s.flush()
	return it, err
}

// waitSettled waits until the item leaves StatePending or ctx ends, and
// returns its status then.
func (s *msgService) waitSettled(ctx context.Context, key message.Key) (message.Status, bool) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		st, ok := s.machine.Status(key)
		s.mu.Unlock()
		if !ok || st.State != message.StatePending {
			return st, ok
		}
		select {
		case <-ctx.Done():
			return st, ok
		case <-tick.C:
		}
	}
}

// handle serves a messaging request from a peer.
func (s *msgService) handle(from transport.Peer, msg wire.Message) wire.Message {
	s.mu.Lock()
	resp := s.machine.HandleRequest(time.Now(), from.ID, msg)
	s.mu.Unlock()
	s.flush()
	if resp == nil {
		return &wire.Error{Code: wire.CodeBadRequest, Message: msg.Type().String() + " is a response, not a request"}
	}
	return resp
}

// flush sends what the Machine queued, runs its lookups and handles its
// events, until handling them queues nothing more. It must be called
// without mu held.
func (s *msgService) flush() {
	for {
		s.mu.Lock()
		out := s.machine.Outbox()
		lookups := s.machine.Lookups()
		events := s.machine.Events()
		s.mu.Unlock()
		if len(out)+len(lookups)+len(events) == 0 {
			break
		}

		for _, o := range out {
			s.request(o)
		}
		for _, target := range lookups {
			s.lookup(target)
		}
		for _, e := range events {
			s.handleEvent(e)
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// goAsync runs fn on its own goroutine within the request bound, or
// returns false when the service is stopping.
func (s *msgService) goAsync(fn func()) bool {
	select {
	case <-s.ctx.Done():
		return false
	case s.requests <- struct{}{}:
	}
	started := s.inflight.Go(func() {
		defer func() { <-s.requests }()
		fn()
	})
	if !started {
		<-s.requests
	}
	return started
}

func (s *msgService) request(o message.Outgoing) {
	s.goAsync(func() {
		ctx, cancel := context.WithTimeout(s.ctx, msgRequestTimeout)
		defer cancel()
		resp, err := s.tr.Request(ctx, o.To, o.Msg)
		s.mu.Lock()
		if err != nil {
			s.log.Debug("message request failed", "to", o.To, "type", o.Msg.Type(), "err", err)
			s.machine.HandleFailure(time.Now(), o.Request)
		} else {
			s.machine.HandleResponse(time.Now(), o.Request, resp)
		}
		s.mu.Unlock()
		s.flush()
	})
}

func (s *msgService) lookup(target identity.NodeID) {
	s.goAsync(func() {
		ctx, cancel := context.WithTimeout(s.ctx, msgLookupTimeout)
		defer cancel()
		contacts, err := s.closest(ctx, target, msgLookupWidth)
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Debug("lookup for messages failed", "target", target.Short(), "err", err)
		}
		s.mu.Lock()
		s.machine.HandleClosest(time.Now(), target, contacts)
		s.mu.Unlock()
		s.flush()
	})
}

func (s *msgService) handleEvent(e message.Event) {
	switch e.Kind {
	case message.Received:
		s.received(e.Item)
	case message.Held:
		if err := s.files.save(msgHeldDir, e.Item.Key(), e.Item.Raw); err != nil {
			s.log.Error("held message not saved; a restart will lose it", "id", e.Item.ID, "err", err)
		}
	case message.Released:
		if err := s.files.remove(msgHeldDir, e.Item.Key()); err != nil {
			s.log.Error("released message file not removed", "id", e.Item.ID, "err", err)
		}
	case message.StatusChanged:
		s.statusChanged(e.Status)
	case message.Rejected:
		if n := s.rejected.suppress(time.Now()); n >= 0 {
			s.log.Warn("message item rejected", "from", e.From.Short(), "err", e.Err, "suppressed", n)
		}
	}
}

// received stores a message for its local recipient and sends the
// receipt back to its sender.
func (s *msgService) received(it *message.Item) {
	if it.Kind != message.KindMessage {
		return
	}
	if err := s.files.save(msgInboxDir, it.Key(), it.Raw); err != nil {
		s.log.Error("received message not saved; a restart will lose it", "id", it.ID, "err", err)
	}
	s.mu.Lock()
	u := s.local[string(it.To)]
	s.mu.Unlock()
	if u == nil {
		s.log.Error("received a message for a user with no keys here", "id", it.ID, "user", message.Fingerprint(it.To))
		return
	}
	s.log.Info("message received", "id", it.ID, "user", u.name, "from", message.Fingerprint(it.From))
	r, err := message.NewReceipt(u.keys, it, time.Now())
	if err != nil {
		s.log.Error("signing a receipt failed", "id", it.ID, "err", err)
		return
	}
	s.mu.Lock()
	err = s.machine.Send(time.Now(), r)
	s.mu.Unlock()
	if err != nil && !errors.Is(err, message.ErrDuplicate) {
		s.log.Error("sending a receipt failed", "id", it.ID, "err", err)
	}
	// flush, which called handleEvent, sends the receipt's requests.
}

func (s *msgService) statusChanged(st *message.Status) {
	b, err := message.EncodeStatus(*st)
	if err == nil {
		err = s.files.save(msgSentDir, st.Item.Key(), b)
	}
	if err != nil {
		s.log.Error("message status not saved", "id", st.Item.ID, "state", st.State, "err", err)
	}
	if st.Item.Kind != message.KindMessage {
		return
	}
	switch st.State {
	case message.StateRejected:
		s.log.Warn("message rejected by every custodian", "id", st.Item.ID, "err", st.Error)
	case message.StateDelivered, message.StateHeld, message.StateExpired:
		s.log.Info("message "+st.State.String(), "id", st.Item.ID, "custodians", st.Custodians, "receipt", st.Receipt != nil)
	}
}

// restore loads the held items, sent statuses and received keys saved
// before a restart.
func (s *msgService) restore() {
	now := time.Now()
	held := s.files.loadItems(msgHeldDir, s.log)
	inbox := s.files.loadItems(msgInboxDir, s.log)
	statuses := s.files.loadStatuses(s.log)
	s.machine.RestoreHeld(now, held)
	s.machine.RestoreReceived(inbox)
	s.machine.Restore(now, statuses)
	if len(held)+len(statuses) > 0 {
		s.log.Info("restored messages", "held", len(held), "sent", len(statuses), "inbox", len(inbox))
	}
}

// userName returns the name of the local user with signing key key, or
// "" when it is not local.
func (s *msgService) userName(key []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.local[string(key)]; u != nil {
		return u.name
	}
	return ""
}

// userKeys returns the keys of the local user named name.
func (s *msgService) userKeys(name string) (*seal.User, error) {
	if name == "" {
		name = store.DefaultUser
	}
	u, err := s.users.LoadUser(name)
	if err != nil {
		return nil, fmt.Errorf("node: messages of user %q: %w", name, err)
	}
	return u, nil
}

func (s *msgService) counters() message.Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.machine.Counters()
}
