package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
)

// Tiers a node can be started in. TierAuto lets the store rank the node
// by its uptime and free disk.
const (
	TierAuto   = ""
	TierUpper  = "upper"
	TierMiddle = "middle"
	TierLower  = "lower"
)

// ErrInvalidTier reports a Config.Tier the node does not know.
var ErrInvalidTier = errors.New("node: invalid tier")

// parseTier checks a tier name; "auto" is accepted as TierAuto.
func parseTier(s string) (string, error) {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "auto":
		return TierAuto, nil
	case TierAuto, TierUpper, TierMiddle, TierLower:
		return s, nil
	}
	return "", fmt.Errorf("%w %q: want upper, middle, lower or auto", ErrInvalidTier, s)
}

// usersDir is the folder in the data folder that holds local users' key
// files, one NAME.pem each.
const usersDir = "users"

// defaultStoreTimeout bounds one storage request to a peer when the
// store's own context sets no deadline.
const defaultStoreTimeout = 10 * time.Second

// openStorage prepares the store before the node listens, so that the
// first storage message from a peer finds its holder. It also creates the
// default user on a node's first start, so that 'yui put' works with no
// setup.
func (n *Node) openStorage() error {
	tier, err := parseTier(n.cfg.Tier)
	if err != nil {
		return err
	}
	users := &userDir{dir: filepath.Join(n.cfg.DataDir, usersDir)}
	created, err := users.ensure(api.DefaultUser)
	if err != nil {
		return err
	}
	if created {
		n.log.Info("created user", "user", api.DefaultUser, "file", users.path(api.DefaultUser))
	}
	n.storage = &storage{tier: tier, users: users}
	return nil
}

// startStorage connects the store to the network once the node listens.
func (n *Node) startStorage() error {
	n.storage.net = &storeNetwork{
		self:    wire.Contact{ID: n.id.ID, Addr: advertisedAddr(n.tr.LocalAddr())},
		router:  n.router,
		tr:      n.tr,
		timeout: defaultStoreTimeout,
	}
	return nil
}

// closeStorage stops the store. The transport is closed by then, so no
// peer's message reaches the holder any more.
func (n *Node) closeStorage() {
	if n.storage == nil {
		return
	}
	n.storage.mu.Lock()
	n.storage.h, n.storage.gw = nil, nil
	n.storage.mu.Unlock()
}

// isStorageType reports whether t is a message of the storage protocol.
func isStorageType(t wire.Type) bool {
	return t >= wire.TypePutShard && t <= wire.TypeNamespace
}

// handleStorage serves a storage message from a peer with the local
// holder. A node that holds nothing answers CodeNotHolder, so the sender
// moves on to the next closest node.
func (n *Node) handleStorage(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	h := n.storage.holder()
	if h == nil {
		if !isRequest {
			return nil
		}
		return &wire.Error{Code: wire.CodeNotHolder, Message: "node holds no data"}
	}
	return h.HandleMessage(ctx, from, msg)
}

// messageHandler serves storage messages; the store's holder is one.
type messageHandler interface {
	HandleMessage(ctx context.Context, from transport.Peer, msg wire.Message) wire.Message
}

// storage is the node's part of the distributed store: the holder that
// serves peers, the gateway that serves local users, and their users.
type storage struct {
	tier  string
	users *userDir
	net   *storeNetwork

	// mu guards h and gw, which are set once the store has opened.
	mu sync.RWMutex
	h  messageHandler
	gw store.Gateway
}

func (s *storage) holder() messageHandler {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.h
}

func (s *storage) gatewayOrNil() store.Gateway {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gw
}

// userDir keeps the local users' key files in one folder.
type userDir struct {
	dir string

	// mu serializes Create, so that two requests for one name get one
	// user and one ErrExists.
	mu sync.Mutex
}

// ErrUserExists reports a user name that is taken.
var ErrUserExists = errors.New("node: user exists")

// ErrNoUser reports a user name without a key file.
var ErrNoUser = errors.New("node: no such user")

func (d *userDir) path(name string) string { return filepath.Join(d.dir, name+".pem") }

// Create makes a user with new keys.
func (d *userDir) Create(name string) (*seal.User, error) {
	if err := api.ValidateUserName(name); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	if _, err := os.Stat(d.path(name)); err == nil {
		return nil, fmt.Errorf("%w: %q has a key file %s; pick another name", ErrUserExists, name, d.path(name))
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: create users folder: %w", err)
	}
	u, err := seal.NewUser()
	if err != nil {
		return nil, err
	}
	if err := seal.SaveUser(d.path(name), u); err != nil {
		return nil, err
	}
	return u, nil
}

// Load reads a user's keys.
func (d *userDir) Load(name string) (*seal.User, error) {
	if err := api.ValidateUserName(name); err != nil {
		return nil, err
	}
	u, err := seal.LoadUser(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %q: %s does not exist; create the user with 'yui user create %s'",
			ErrNoUser, name, d.path(name), name)
	}
	return u, err
}

// ensure creates the user name unless it exists.
func (d *userDir) ensure(name string) (created bool, err error) {
	if _, err := d.Create(name); err != nil {
		if errors.Is(err, ErrUserExists) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// List returns every local user, sorted by name. A key file that does
// not load fails the whole list, naming the file.
func (d *userDir) List() ([]api.User, error) {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []api.User{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: list users: %w", err)
	}
	users := []api.User{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pem")
		if !ok || e.IsDir() || api.ValidateUserName(name) != nil {
			continue
		}
		u, err := d.Load(name)
		if err != nil {
			return nil, err
		}
		pub, err := publicUser(name, u)
		if err != nil {
			return nil, err
		}
		users = append(users, pub)
	}
	return users, nil
}

// publicUser returns the API view of a user: its name and public keys.
func publicUser(name string, u *seal.User) (api.User, error) {
	keys, err := u.Public().Marshal()
	if err != nil {
		return api.User{}, fmt.Errorf("node: encode public keys of user %q: %w", name, err)
	}
	sum := sha256.Sum256(keys)
	return api.User{Name: name, PublicKeys: keys, Fingerprint: hex.EncodeToString(sum[:])}, nil
}

// storeNetwork is how the store reaches other nodes: closest-node lookups
// on the router and requests over the transport. It implements
// store.Network.
type storeNetwork struct {
	self   wire.Contact
	router *router
	tr     transport.Transport
	// timeout bounds a request whose context has no deadline.
	timeout time.Duration
}

// widenFanout is how many of a lookup's closest nodes Closest asks for
// their own closest contacts when the lookup found fewer than wanted.
const widenFanout = 3

// Self returns this node's contact.
func (sn *storeNetwork) Self() wire.Contact { return sn.self }

// Closest returns up to n nodes closest to target, closest first, without
// this node. A lookup returns at most the routing core's K nodes, but a
// chunk's shards may need more holders than that: the rest come from the
// routing table and from the lookup's closest nodes. Those extra contacts
// were not heard from during the lookup, so some may have gone.
func (sn *storeNetwork) Closest(ctx context.Context, target identity.NodeID, n int) ([]wire.Contact, error) {
	res, err := sn.router.lookup(ctx, target)
	if err != nil {
		return nil, err
	}
	contacts := slices.Clone(res.Closest)
	if len(contacts) < n {
		contacts = append(contacts, sn.widen(ctx, target, res.Closest, n)...)
	}
	contacts = sortByDistance(target, contacts)
	contacts = slices.DeleteFunc(contacts, func(c wire.Contact) bool { return c.ID == sn.self.ID })
	return contacts[:min(n, len(contacts))], nil
}

// widen gathers more contacts near target: the routing table's and those
// that the closest responsive nodes return.
func (sn *storeNetwork) widen(ctx context.Context, target identity.NodeID, closest []wire.Contact, n int) []wire.Contact {
	var (
		mu  sync.Mutex
		out []wire.Contact
		wg  sync.WaitGroup
	)
	sn.router.withMachine(func(m *kademlia.Machine) {
		out = append(out, m.Closest(target, n)...)
	})
	for _, c := range closest[:min(widenFanout, len(closest))] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := sn.Request(ctx, c, &wire.FindNode{Target: target})
			nodes, ok := resp.(*wire.Nodes)
			if err != nil || !ok {
				return
			}
			mu.Lock()
			out = append(out, nodes.Contacts...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// Request sends req to a node and returns its response. A *wire.Error
// response is returned as the message: only a failure to reach the node
// is an error.
func (sn *storeNetwork) Request(ctx context.Context, to wire.Contact, req wire.Message) (wire.Message, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sn.timeout)
		defer cancel()
	}
	return sn.tr.Request(ctx, to, req)
}

// sortByDistance sorts contacts by XOR distance to target, closest first,
// and drops duplicates.
func sortByDistance(target identity.NodeID, contacts []wire.Contact) []wire.Contact {
	slices.SortFunc(contacts, func(a, b wire.Contact) int {
		return identity.Compare(identity.Xor(target, a.ID), identity.Xor(target, b.ID))
	})
	return slices.CompactFunc(contacts, func(a, b wire.Contact) bool { return a.ID == b.ID })
}
