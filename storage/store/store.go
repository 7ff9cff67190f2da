package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// Network is the store's access to other nodes. The daemon implements it
// over its routing core and QUIC, and tests over an in-memory transport.
type Network interface {
	// Self returns this node's contact.
	Self() wire.Contact
	// Closest returns up to n live nodes closest to target, closest
	// first, from a lookup. It may leave out this node; the store adds
	// itself when it is among the closest. Repair requests up to 4 times
	// the nodes a target needs and takes the result to hold every live
	// node within its farthest one, and a result shorter than a target
	// needs to hold the whole network. Under a context from
	// WithDownProbe it also returns, and Request also sends to, nodes it
	// took for down.
	Closest(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error)
	// Request sends msg to a node and returns its response, which is a
	// *wire.Error when the node failed or refused. The store never passes
	// its own contact: it calls its local holder directly.
	Request(ctx context.Context, to wire.Contact, msg wire.Message) (wire.Message, error)
}

// Config configures a Store. DataDir and Network are required.
type Config struct {
	// DataDir is the node's data folder; users live in DataDir/users.
	DataDir string
	Network Network
	// Holder is this node's holder, which the store calls directly
	// instead of sending requests to itself. Nil for a node that holds
	// nothing.
	Holder *Holder
	// Namespace is the parameters of namespaces this gateway creates;
	// zero means DefaultNamespaceParams.
	Namespace NamespaceParams
	// Parallelism is the number of chunks in flight during one Put or
	// Get; default 4. Memory use is about Parallelism × 3 chunk sizes.
	Parallelism int
	// RequestTimeout bounds each request to a holder; default 10s.
	RequestTimeout time.Duration
	// DescriptorTTL is how long a fetched namespace descriptor is reused
	// before it is fetched again; default 10s.
	DescriptorTTL time.Duration
	// Cell, if set, returns this node's geographic cluster (a cell of
	// package geo), or "" while it is unknown. Namespaces placed by
	// cluster store the chunks written here in that cell.
	Cell func() string
	// Now defaults to time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Store is a node's gateway to the distributed store: it implements
// Gateway for the node's local users. All methods are safe for concurrent
// use.
type Store struct {
	cfg   Config
	net   Network
	peers peers
	log   *slog.Logger
	clock clock
	rtt   *latencies

	usersMu sync.Mutex // guards users
	users   map[string]*seal.User

	// mu guards descriptors, views, members and notHolders.
	mu          sync.Mutex
	descriptors map[string]cachedDescriptor
	views       map[viewKey]*nsView
	members     map[string]cachedMembers // by cell
	// notHolders maps nodes that responded with CodeNotHolder to the
	// time until which placement skips them.
	notHolders map[identity.NodeID]time.Time
}

type cachedDescriptor struct {
	d       *Descriptor
	fetched time.Time
}

var _ Gateway = (*Store)(nil)

// notHolderTTL is how long a node that responded with CodeNotHolder is
// skipped.
const notHolderTTL = 5 * time.Minute

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if cfg.DataDir == "" || cfg.Network == nil {
		return nil, errors.New("store: config needs DataDir and Network")
	}
	if cfg.Namespace == (NamespaceParams{}) {
		cfg.Namespace = DefaultNamespaceParams()
	}
	if err := cfg.Namespace.Validate(); err != nil {
		return nil, err
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 4
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.DescriptorTTL <= 0 {
		cfg.DescriptorTTL = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rtt := newLatencies()
	return &Store{
		cfg:         cfg,
		net:         cfg.Network,
		log:         cfg.Logger.With("node", cfg.Network.Self().ID.Short()),
		clock:       clock{now: cfg.Now},
		rtt:         rtt,
		peers:       peers{net: cfg.Network, holder: cfg.Holder, timeout: cfg.RequestTimeout, rtt: rtt},
		users:       make(map[string]*seal.User),
		descriptors: make(map[string]cachedDescriptor),
		views:       make(map[viewKey]*nsView),
		members:     make(map[string]cachedMembers),
		notHolders:  make(map[identity.NodeID]time.Time),
	}, nil
}

// RemoteError is a holder's error response.
type RemoteError struct {
	Peer    identity.NodeID
	Code    wire.ErrorCode
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("store: holder %s: code %d: %s", e.Peer.Short(), e.Code, e.Message)
}

// Unwrap maps the holder's code to the matching sentinel.
func (e *RemoteError) Unwrap() error {
	switch e.Code {
	case wire.CodeForbidden:
		return ErrForbidden
	case wire.CodeNotFound:
		return ErrNotFound
	case wire.CodeBadRequest:
		return ErrInvalid
	}
	return ErrUnavailable
}

func errorCode(err error) wire.ErrorCode {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// request sends msg to a holder and records holders that respond with
// CodeNotHolder.
func (s *Store) request(ctx context.Context, to wire.Contact, msg wire.Message) (wire.Message, error) {
	resp, err := s.peers.request(ctx, to, msg)
	if errorCode(err) == wire.CodeNotHolder {
		s.markNotHolder(to.ID)
	}
	return resp, err
}

// peers sends requests to holders, calling the local holder directly
// instead of sending to itself.
type peers struct {
	net     Network
	holder  *Holder
	timeout time.Duration
	// rtt, if set, records the latency of each request a holder responds
	// to.
	rtt *latencies
}

// request sends msg and turns an error response into a *RemoteError.
func (p peers) request(ctx context.Context, to wire.Contact, msg wire.Message) (wire.Message, error) {
	var resp wire.Message
	self := p.net.Self()
	if to.ID == self.ID {
		if p.holder == nil {
			return nil, &RemoteError{Peer: to.ID, Code: wire.CodeNotHolder, Message: "this node stores no data"}
		}
		resp = p.holder.HandleMessage(ctx, transport.Peer{ID: self.ID, Addr: self.Addr}, msg)
	} else {
		ctx, cancel := context.WithTimeout(ctx, p.timeout)
		defer cancel()
		start := time.Now()
		var err error
		if resp, err = p.net.Request(ctx, to, msg); err != nil {
			return nil, fmt.Errorf("%w: %v to %s: %w", ErrUnavailable, msg.Type(), to.ID.Short(), err)
		}
		if p.rtt != nil {
			p.rtt.observe(msg.Type(), time.Since(start))
		}
	}
	if e, ok := resp.(*wire.Error); ok {
		return nil, &RemoteError{Peer: to.ID, Code: e.Code, Message: e.Message}
	}
	if resp == nil {
		return nil, &RemoteError{Peer: to.ID, Code: wire.CodeUnsupported, Message: "no response"}
	}
	return resp, nil
}

// closest returns up to n nodes closest to target in XOR order, this node
// included when its holder's tier is least or higher.
func (p peers) closest(ctx context.Context, target identity.NodeID, n int, least Tier) ([]wire.Contact, error) {
	contacts, err := p.net.Closest(ctx, target, n)
	if err != nil {
		return nil, fmt.Errorf("%w: lookup %s: %w", ErrUnavailable, target.Short(), err)
	}
	// The network may share its result with other callers, so it is
	// copied before it is sorted in place.
	contacts = slices.Clone(contacts)
	if p.holder != nil && p.holder.Tier() >= least && least > Lower {
		contacts = append(contacts, p.net.Self())
	}
	contacts = sortByDistance(target, contacts)
	return contacts[:min(len(contacts), n)], nil
}

func (s *Store) markNotHolder(id identity.NodeID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notHolders[id] = s.cfg.Now().Add(notHolderTTL)
}

func (s *Store) isNotHolder(id identity.NodeID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.notHolders[id]
	if ok && now.After(until) {
		delete(s.notHolders, id)
		return false
	}
	return ok
}

// closest returns up to n candidate holders for target in XOR order: the
// lookup's result plus this node if it holds data, without nodes known
// to hold nothing.
func (s *Store) closest(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error) {
	contacts, err := s.peers.closest(ctx, target, n+spareCandidates, Middle)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	kept := contacts[:0]
	for _, c := range contacts {
		if !s.isNotHolder(c.ID, now) {
			kept = append(kept, c)
		}
	}
	return kept[:min(len(kept), n)], nil
}

// Stats returns the local holder's counters, or zero Stats without one.
func (s *Store) Stats() Stats {
	if s.cfg.Holder == nil {
		return Stats{}
	}
	return s.cfg.Holder.Stats()
}
