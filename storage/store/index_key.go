package store

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// IndexKeySize is the size of the key IndexKey returns.
const IndexKeySize = 32

// IndexKey returns the secret that keys the blind index of a namespace,
// for a user who may read it. The search layer computes its tokens and
// seals its posting entries under keys derived from it, so a node without
// read access can neither compute a token nor open an entry.
//
// The key is derived from the namespace's key-hashing key, because every
// user with read access holds that key (owners and writers through the
// master secret, readers through their wrapped copy), while the key set's
// Index key reaches owners and writers only. It fails with ErrForbidden
// for a user with no access and ErrNotFound for a namespace that does not
// exist.
func (s *Store) IndexKey(ctx context.Context, user, namespace string) ([IndexKeySize]byte, error) {
	var key [IndexKeySize]byte
	v, err := s.resolve(ctx, user, namespace, Read, false)
	if err != nil {
		return key, err
	}

	// The info string names the purpose and the namespace, so the index
	// key of one namespace says nothing about another's, and the key
	// differs from the key-hashing key it comes from.
	info := "yui search index v1\x00" + namespace
	derived, err := hkdf.Key(sha256.New, v.ks.KeyHashing[:], nil, info, IndexKeySize)
	if err != nil {
		return key, fmt.Errorf("store: derive index key of %q: %w", namespace, err)
	}
	copy(key[:], derived)
	return key, nil
}
