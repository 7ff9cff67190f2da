package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// nsView is one user's view of a namespace: the descriptor and the keys
// the user holds for it.
type nsView struct {
	d    *Descriptor
	user *seal.User
	// keys is the encoding of the user's public keys; readerID(keys)
	// names the user in wrapped keys.
	keys []byte
	// ks is the full key set for owners and writers. A reader's holds
	// only KeyHashing; nil for a user with no access at all.
	ks     *seal.KeySet
	master seal.DataKey // owners and writers only
	writer bool
	owner  bool
	grants []readGrant // owners and writers only
}

func (v *nsView) name() string { return v.d.Namespace() }

// resolve returns user's view of namespace ns and checks that it grants
// need. With create set, a namespace that does not exist is created with
// the user as owner. A view from a cached descriptor that lacks the right
// is checked again against a freshly fetched one, since the access may
// have been granted since.
func (s *Store) resolve(ctx context.Context, userName, ns string, need Right, create bool) (*nsView, error) {
	if err := seal.ValidateNamespace(ns); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	u, err := s.LoadUser(userName)
	if err != nil {
		return nil, err
	}
	d, err := s.descriptor(ctx, ns, false)
	if errors.Is(err, ErrNotFound) && create {
		d, err = s.createNamespace(ctx, u, ns)
	}
	if err != nil {
		return nil, err
	}
	v, err := s.view(d, u)
	if err != nil {
		return nil, err
	}
	if v.allows(need) == nil {
		return v, nil
	}
	if d, err = s.descriptor(ctx, ns, true); err != nil {
		return nil, err
	}
	if v, err = s.view(d, u); err != nil {
		return nil, err
	}
	return v, v.allows(need)
}

// viewKey names a user's view of one descriptor version. Descriptors are
// never changed once parsed, so their pointers identify them.
type viewKey struct {
	d *Descriptor
	u *seal.User
}

// maxViews bounds the cache of opened views.
const maxViews = 256

// view returns u's view of d, from a cache, because opening one unwraps
// secrets with HPKE, which costs more than the rest of a small read.
func (s *Store) view(d *Descriptor, u *seal.User) (*nsView, error) {
	k := viewKey{d, u}
	s.mu.Lock()
	v := s.views[k]
	s.mu.Unlock()
	if v != nil {
		return v, nil
	}
	v, err := openView(d, u)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.views) >= maxViews {
		clear(s.views)
	}
	s.views[k] = v
	return v, nil
}

// openView unwraps the secrets the descriptor holds for u.
func openView(d *Descriptor, u *seal.User) (*nsView, error) {
	keys, err := u.Public().Marshal()
	if err != nil {
		return nil, err
	}
	v := &nsView{d: d, user: u, keys: keys}
	ns := d.Namespace()
	if m, ok := findMember(d.body.Members, keys); ok && d.acl.MayWrite(u.SigningKey()) {
		master, err := seal.UnwrapKey(u, m.Secret, secretContext(ns, masterRole))
		if err != nil {
			return nil, fmt.Errorf("%w: namespace secret of %q: %w", ErrCorrupt, ns, err)
		}
		v.master = master
		if v.ks, err = seal.DeriveKeySet(ns, master[:]); err != nil {
			return nil, err
		}
		v.writer, v.owner = true, d.acl.IsOwner(u.SigningKey())
		if v.grants, err = openGrants(v.ks, d.body.Grants); err != nil {
			return nil, err
		}
		return v, nil
	}
	if m, ok := findMember(d.body.Readers, keys); ok {
		hashing, err := seal.UnwrapKey(u, m.Secret, secretContext(ns, keyHashRole))
		if err != nil {
			return nil, fmt.Errorf("%w: key-hashing key of %q: %w", ErrCorrupt, ns, err)
		}
		v.ks = &seal.KeySet{Namespace: ns, KeyHashing: hashing}
	}
	return v, nil
}

func secretContext(ns, role string) seal.WrapContext {
	return seal.WrapContext{Namespace: ns, Scope: descriptorScope, Role: role}
}

// allows returns ErrForbidden unless the user may write, for Write, or
// can at least find records, for Read.
func (v *nsView) allows(need Right) error {
	switch {
	case need == Write && !v.writer:
		return fmt.Errorf("%w: user may not write namespace %q", ErrForbidden, v.name())
	case v.ks == nil:
		return fmt.Errorf("%w: user has no access to namespace %q", ErrForbidden, v.name())
	}
	return nil
}

// descriptor returns the newest descriptor of ns, from the cache unless
// it is older than DescriptorTTL or fresh is set.
func (s *Store) descriptor(ctx context.Context, ns string, fresh bool) (*Descriptor, error) {
	s.mu.Lock()
	c, ok := s.descriptors[ns]
	s.mu.Unlock()
	if ok && !fresh && s.cfg.Now().Sub(c.fetched) < s.cfg.DescriptorTTL {
		return c.d, nil
	}
	d, err := s.fetchDescriptor(ctx, ns, c.d)
	if err != nil {
		return nil, err
	}
	s.cacheDescriptor(d)
	return d, nil
}

func (s *Store) cacheDescriptor(d *Descriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.descriptors[d.Namespace()] = cachedDescriptor{d: d, fetched: s.cfg.Now()}
}

// fetchDescriptor requests the namespace's descriptor from its closest
// holders, keeps the newest that verifies against known (or on first use,
// when known is nil), and pushes it to holders that responded without it.
//
// Every holder is asked at once, since a newer descriptor, such as one
// that revokes a writer, may have reached only some of them. A holder
// that has not responded within the attempt timeout, or within the grace
// period after the first good answer, is left out, as directory reads do, so
// that holders which died without leaving cost about one hedge delay and
// not the whole request timeout.
func (s *Store) fetchDescriptor(ctx context.Context, ns string, known *Descriptor) (*Descriptor, error) {
	replicas := int(s.cfg.Namespace.Replicas)
	if known != nil {
		replicas = int(known.Params().Replicas)
	}
	cands, err := s.closest(ctx, NamespaceID(ns), replicas)
	if err != nil {
		return nil, err
	}
	answers := s.askDescriptor(ctx, ns, cands)

	// Each descriptor must verify as an update of the best one so far,
	// which on first use is the first one that parses.
	best := known
	for _, a := range answers {
		if a.raw == nil {
			continue
		}
		d, err := ParseDescriptor(a.raw, best)
		if err != nil {
			continue
		}
		if best == nil || d.Version() > best.Version() {
			best = d
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoNamespace, ns)
	}
	s.repairDescriptor(ctx, best, cands, answers)
	return best, nil
}

// descriptorAnswer is one holder's response to GetNamespace.
type descriptorAnswer struct {
	responded bool   // with a descriptor or with an error such as not found
	raw       []byte // the descriptor as sent; nil when it sent none
}

// askDescriptor requests the descriptor of ns from every candidate at
// once and returns one answer per candidate.
func (s *Store) askDescriptor(ctx context.Context, ns string, cands []wire.Contact) []descriptorAnswer {
	answers := make([]descriptorAnswer, len(cands))
	msg := &wire.GetNamespace{Namespace: ns}
	g := newGrace(s.rtt.hedgeDelay(msg.Type()))
	f := fanout{
		n:       len(cands),
		want:    len(cands),
		timeout: s.rtt.attemptTimeout(msg.Type(), s.cfg.RequestTimeout),
		done:    g.over,
	}
	// hedge waits for the calls it cancels, so answers is complete when
	// it returns.
	hedge(ctx, f, func(ctx context.Context, i int) bool {
		resp, err := s.request(ctx, cands[i], msg)
		m, ok := resp.(*wire.Namespace)
		if err != nil || !ok {
			answers[i].responded = errorCode(err) == wire.CodeNotFound
			return answers[i].responded
		}
		answers[i].responded, answers[i].raw = true, m.Descriptor
		g.good()
		return true
	})
	return answers
}

// repairDescriptor pushes d to the candidates that responded without it.
// Those that did not respond are left to repair passes, since a request
// to them would likely time out.
func (s *Store) repairDescriptor(ctx context.Context, d *Descriptor, cands []wire.Contact, answers []descriptorAnswer) {
	for i, c := range cands {
		if !answers[i].responded || bytes.Equal(answers[i].raw, d.Bytes()) {
			continue
		}
		if _, err := s.request(ctx, c, &wire.PutNamespace{Namespace: d.Namespace(), Descriptor: d.Bytes()}); err != nil {
			s.log.Debug("descriptor read repair failed", "namespace", d.Namespace(), "peer", c.ID.Short(), "err", err)
		}
	}
}

// createNamespace creates ns with u as its only owner and publishes the
// descriptor.
func (s *Store) createNamespace(ctx context.Context, u *seal.User, ns string) (*Descriptor, error) {
	master := seal.NewMasterSecret()
	ks, err := seal.DeriveKeySet(ns, master)
	if err != nil {
		return nil, err
	}
	keys, err := u.Public().Marshal()
	if err != nil {
		return nil, err
	}
	secret, err := seal.WrapKey(u.Public(), seal.DataKey(master), secretContext(ns, masterRole))
	if err != nil {
		return nil, err
	}
	grants, err := sealGrants(ks, nil)
	if err != nil {
		return nil, err
	}
	body := descriptorBody{
		Namespace: ns,
		Params:    s.cfg.Namespace,
		Members:   []Member{{Keys: keys, Secret: secret}},
		Grants:    grants,
	}
	acl := &seal.AccessList{Namespace: ns, Version: 1, Owners: []ed25519.PublicKey{u.SigningKey()}}
	d, err := s.signAndPublish(ctx, u, &body, acl)
	if err != nil {
		return nil, err
	}

	// Two gateways may create the same name at once. Holders keep the
	// first descriptor they receive, so read back which one won, trusting
	// no copy, since the cache now holds this gateway's own.
	won, err := s.fetchDescriptor(ctx, ns, nil)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(won.Bytes(), d.Bytes()) {
		return nil, fmt.Errorf("%w: namespace %q was created by another user at the same time", ErrForbidden, ns)
	}
	s.log.Info("created namespace", "namespace", ns)
	return d, nil
}

// signAndPublish signs acl and body as the next descriptor version,
// stores it on the namespace's holders and caches it.
func (s *Store) signAndPublish(ctx context.Context, owner *seal.User, body *descriptorBody, acl *seal.AccessList) (*Descriptor, error) {
	var err error
	if body.AccessList, err = seal.SignAccessList(owner, acl); err != nil {
		return nil, err
	}
	raw, err := signDescriptor(owner, body, acl.Version)
	if err != nil {
		return nil, err
	}
	d, err := ParseDescriptor(raw, nil)
	if err != nil {
		return nil, fmt.Errorf("store: new descriptor does not verify: %w", err)
	}
	if err := s.publishDescriptor(ctx, d); err != nil {
		return nil, err
	}
	s.cacheDescriptor(d)
	return d, nil
}

// publishDescriptor stores d on the R closest holders of the namespace,
// substituting the next closest for failures.
func (s *Store) publishDescriptor(ctx context.Context, d *Descriptor) error {
	msg := &wire.PutNamespace{Namespace: d.Namespace(), Descriptor: d.Bytes()}
	_, err := s.replicate(ctx, NamespaceID(d.Namespace()), int(d.Params().Replicas), msg.Type(), func(ctx context.Context, c wire.Contact) error {
		_, err := s.request(ctx, c, msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: publish descriptor of %q: %w", d.Namespace(), err)
	}
	return nil
}
