package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestIndexKeyFollowsReadAccess(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	owner, other := c.node(0).store, c.node(1).store
	bob, err := other.CreateUser("bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateUser("carol"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"sensors", "other"} {
		if _, err := owner.Put(ctx, "", ns, "k", strings.NewReader("v"), PutOptions{}); err != nil {
			t.Fatalf("Put in %q: %v", ns, err)
		}
	}
	if err := owner.Grant(ctx, "", "sensors", "", bob, Read); err != nil {
		t.Fatalf("Grant: %v", err)
	}

	ownerKey, err := owner.IndexKey(ctx, "", "sensors")
	if err != nil {
		t.Fatalf("owner's IndexKey: %v", err)
	}
	bobKey, err := other.IndexKey(ctx, "bob", "sensors")
	if err != nil {
		t.Fatalf("reader's IndexKey: %v", err)
	}
	if bobKey != ownerKey {
		t.Error("a reader derives another index key than the owner")
	}
	otherKey, err := owner.IndexKey(ctx, "", "other")
	if err != nil {
		t.Fatalf("IndexKey of a second namespace: %v", err)
	}
	if otherKey == ownerKey {
		t.Error("two namespaces share an index key")
	}

	if _, err := other.IndexKey(ctx, "carol", "sensors"); !errors.Is(err, ErrForbidden) {
		t.Errorf("IndexKey for a user without access: %v, want ErrForbidden", err)
	}
	if _, err := other.IndexKey(ctx, "bob", "other"); !errors.Is(err, ErrForbidden) {
		t.Errorf("IndexKey in a namespace bob was not granted: %v, want ErrForbidden", err)
	}
	if _, err := owner.IndexKey(ctx, "", "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("IndexKey of a namespace that does not exist: %v, want ErrNotFound", err)
	}
}
