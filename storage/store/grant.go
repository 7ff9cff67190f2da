package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// grantChange is one change to a namespace's access, applied to a copy of
// its descriptor body and access list.
type grantChange struct {
	grantee PublicUser
	keys    seal.PublicKeys
	scope   string
	prefix  bool
	right   Right
	revoke  bool
}

// Grant gives grantee read or write access. Read access covers the
// versions written afterwards and the newest version of every record in
// scope now; write access covers the whole namespace. Grant returns once
// every record in scope is re-wrapped; GrantAccess leaves that to the
// caller.
func (s *Store) Grant(ctx context.Context, owner, namespace, keyOrPrefix string, grantee PublicUser, right Right) error {
	rw, err := s.GrantAccess(ctx, owner, namespace, keyOrPrefix, grantee, right)
	if err != nil || rw == nil {
		return err
	}
	_, err = rw.Run(ctx, nil)
	return err
}

// GrantAccess gives grantee read or write access for versions written
// afterwards. For read access it returns the Rewrap that still has to
// run to reach the records that exist now, and nil for write access.
func (s *Store) GrantAccess(ctx context.Context, owner, namespace, keyOrPrefix string, grantee PublicUser, right Right) (*Rewrap, error) {
	ch, err := parseGrant(keyOrPrefix, grantee, right)
	if err != nil {
		return nil, err
	}
	v, err := s.changeAccess(ctx, owner, namespace, ch)
	if err != nil {
		return nil, err
	}
	if right != Read {
		return nil, nil
	}
	return &Rewrap{s: s, v: v, ch: ch}, nil
}

// Revoke removes grantee's read or write access for versions written
// afterwards. Versions written before stay readable to a former reader
// who kept their keys, and stay valid if a former writer signed them.
//
// NOTE: a revoked writer still knows the namespace master secret, so it
// can still compute key hashes and chunk keys; rotating the secret would
// need every record re-sealed.
func (s *Store) Revoke(ctx context.Context, owner, namespace, keyOrPrefix string, grantee PublicUser, right Right) error {
	ch, err := parseGrant(keyOrPrefix, grantee, right)
	if err != nil {
		return err
	}
	ch.revoke = true
	_, err = s.changeAccess(ctx, owner, namespace, ch)
	return err
}

func parseGrant(keyOrPrefix string, grantee PublicUser, right Right) (grantChange, error) {
	if right != Read && right != Write {
		return grantChange{}, fmt.Errorf("%w: right %q; use %q or %q", ErrInvalid, right, Read, Write)
	}
	keys, err := seal.ParsePublicKeys(grantee.Keys)
	if err != nil {
		return grantChange{}, fmt.Errorf("%w: keys of user %q: %w", ErrInvalid, grantee.Name, err)
	}
	ch := grantChange{grantee: grantee, keys: keys, scope: keyOrPrefix, right: right}
	ch.prefix = keyOrPrefix == "" || strings.HasSuffix(keyOrPrefix, "/")
	if !ch.prefix {
		if err := seal.ValidateKey(keyOrPrefix); err != nil {
			return grantChange{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if right == Write && keyOrPrefix != "" {
		return grantChange{}, fmt.Errorf("%w: write access covers the whole namespace; grant it with an empty key", ErrInvalid)
	}
	return ch, nil
}

// changeAccess applies ch as a new descriptor version signed by owner and
// publishes it to the namespace's holders and its directory holders.
func (s *Store) changeAccess(ctx context.Context, owner, namespace string, ch grantChange) (*nsView, error) {
	if _, err := s.resolve(ctx, owner, namespace, Write, !ch.revoke); err != nil {
		return nil, err
	}
	u, err := s.LoadUser(owner)
	if err != nil {
		return nil, err
	}
	d, err := s.descriptor(ctx, namespace, true)
	if err != nil {
		return nil, err
	}
	v, err := openView(d, u)
	if err != nil {
		return nil, err
	}
	if !v.owner {
		return nil, fmt.Errorf("%w: only an owner of %q may change its access", ErrForbidden, namespace)
	}

	body := d.body
	body.Members = slices.Clone(body.Members)
	body.Readers = slices.Clone(body.Readers)
	body.Former = slices.Clone(body.Former)
	acl := *d.acl
	acl.Version++
	acl.Owners = slices.Clone(acl.Owners)
	acl.Writers = slices.Clone(acl.Writers)
	if err := s.applyChange(v, &body, &acl, ch); err != nil {
		return nil, err
	}
	next, err := s.signAndPublish(ctx, u, &body, &acl)
	if err != nil {
		return nil, err
	}
	s.pushToDirectories(ctx, next)
	s.log.Info("changed namespace access", "namespace", namespace, "grantee", ch.grantee.Name,
		"right", ch.right, "scope", ch.scope, "revoke", ch.revoke, "version", acl.Version)
	return openView(next, u)
}

func (s *Store) applyChange(v *nsView, body *descriptorBody, acl *seal.AccessList, ch grantChange) error {
	encoded := ch.grantee.Keys
	if ch.right == Write {
		if acl.IsOwner(ch.keys.Signing) {
			return fmt.Errorf("%w: user %q is an owner of %q; owners always write", ErrInvalid, ch.grantee.Name, v.name())
		}
		if ch.revoke {
			return s.revokeWriter(body, acl, ch)
		}
		return s.grantWriter(v, body, acl, ch)
	}
	grants := slices.DeleteFunc(slices.Clone(v.grants), func(g readGrant) bool {
		return bytes.Equal(g.Reader, encoded) && g.Scope == ch.scope && g.Prefix == ch.prefix
	})
	if !ch.revoke {
		grants = append(grants, readGrant{Reader: encoded, Scope: ch.scope, Prefix: ch.prefix})
	}
	if len(grants) > maxGrants {
		return fmt.Errorf("%w: namespace %q would have %d read grants, limit %d", ErrInvalid, v.name(), len(grants), maxGrants)
	}
	if err := s.updateReaders(v, body, grants, encoded, ch); err != nil {
		return err
	}
	sealed, err := sealGrants(v.ks, grants)
	if err != nil {
		return err
	}
	body.Grants = sealed
	return nil
}

// updateReaders adds the grantee to the readers, who receive the
// key-hashing key, or removes it once no grant names it.
func (s *Store) updateReaders(v *nsView, body *descriptorBody, grants []readGrant, encoded []byte, ch grantChange) error {
	stillGranted := slices.ContainsFunc(grants, func(g readGrant) bool { return bytes.Equal(g.Reader, encoded) })
	_, listed := findMember(body.Readers, encoded)
	switch {
	case stillGranted && !listed:
		wrapped, err := seal.WrapKey(ch.keys, seal.DataKey(v.ks.KeyHashing), secretContext(v.name(), keyHashRole))
		if err != nil {
			return err
		}
		if len(body.Readers) >= maxReaders {
			return fmt.Errorf("%w: namespace %q has %d readers, the limit", ErrInvalid, v.name(), maxReaders)
		}
		body.Readers = append(body.Readers, Member{Keys: encoded, Secret: wrapped})
	case !stillGranted && listed:
		body.Readers = slices.DeleteFunc(body.Readers, func(m Member) bool { return bytes.Equal(m.Keys, encoded) })
	}
	return nil
}

func (s *Store) grantWriter(v *nsView, body *descriptorBody, acl *seal.AccessList, ch grantChange) error {
	if !acl.MayWrite(ch.keys.Signing) {
		acl.Writers = append(acl.Writers, ch.keys.Signing)
	}
	if _, ok := findMember(body.Members, ch.grantee.Keys); !ok {
		wrapped, err := seal.WrapKey(ch.keys, v.master, secretContext(v.name(), masterRole))
		if err != nil {
			return err
		}
		body.Members = append(body.Members, Member{Keys: ch.grantee.Keys, Secret: wrapped})
	}
	body.Former = slices.DeleteFunc(body.Former, func(f FormerWriter) bool { return bytes.Equal(f.Key, ch.keys.Signing) })
	return nil
}

func (s *Store) revokeWriter(body *descriptorBody, acl *seal.AccessList, ch grantChange) error {
	acl.Writers = slices.DeleteFunc(acl.Writers, func(k ed25519.PublicKey) bool { return k.Equal(ch.keys.Signing) })
	body.Members = slices.DeleteFunc(body.Members, func(m Member) bool { return bytes.Equal(m.Keys, ch.grantee.Keys) })
	body.Former = slices.DeleteFunc(body.Former, func(f FormerWriter) bool { return bytes.Equal(f.Key, ch.keys.Signing) })
	if len(body.Former) >= seal.MaxMembers {
		body.Former = body.Former[1:]
	}
	body.Former = append(body.Former, FormerWriter{Key: ch.keys.Signing, Until: s.clock.next()})
	return nil
}

// pushToDirectories sends a new descriptor to the holders of every
// directory shard, which check record versions against its access list.
// Failures are logged: a holder that missed it gets it with the next
// write it refuses.
func (s *Store) pushToDirectories(ctx context.Context, d *Descriptor) {
	msg := &wire.PutNamespace{Namespace: d.Namespace(), Descriptor: d.Bytes()}
	for dir := range uint32(1) << d.Params().DirBits {
		cands, err := s.closest(ctx, DirectoryID(d.Namespace(), dir), int(d.Params().Replicas))
		if err != nil {
			s.log.Warn("push descriptor to directory holders failed", "namespace", d.Namespace(), "dir", dir, "err", err)
			continue
		}
		for _, c := range cands {
			if _, err := s.request(ctx, c, msg); err != nil {
				s.log.Debug("push descriptor failed", "namespace", d.Namespace(), "peer", c.ID.Short(), "err", err)
			}
		}
	}
}

// CheckOwner returns nil when user is an owner of namespace, or when the
// namespace does not exist yet, since user's first write would create it
// as its owner. Otherwise it fails with ErrForbidden, naming action,
// what only an owner may do.
func (s *Store) CheckOwner(ctx context.Context, user, namespace, action string) error {
	v, err := s.resolve(ctx, user, namespace, Write, false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !v.owner {
		return fmt.Errorf("%w: only an owner of %q may %s", ErrForbidden, namespace, action)
	}
	return nil
}
