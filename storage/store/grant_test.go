package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestReadGrants(t *testing.T) {
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
	put := func(key, value string) {
		t.Helper()
		if _, err := owner.Put(ctx, "", "shared", key, strings.NewReader(value), PutOptions{}); err != nil {
			t.Fatalf("Put %q: %v", key, err)
		}
	}
	read := func(user, key string) (string, error) {
		var b bytes.Buffer
		_, err := other.Get(ctx, user, "shared", key, &b, GetOptions{})
		return b.String(), err
	}

	put("docs/before", "written before the grant")
	put("private/x", "not shared")
	if err := owner.Grant(ctx, "", "shared", "docs/", bob, Read); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	put("docs/after", "written after the grant")

	for key, want := range map[string]string{"docs/before": "written before the grant", "docs/after": "written after the grant"} {
		if got, err := read("bob", key); err != nil || got != want {
			t.Errorf("bob reads %q = %q, %v; want %q", key, got, err, want)
		}
	}
	if _, err := read("bob", "private/x"); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob reads a key outside the grant: %v, want ErrForbidden", err)
	}
	if _, err := read("carol", "docs/after"); !errors.Is(err, ErrForbidden) {
		t.Errorf("carol, never granted, reads: %v, want ErrForbidden", err)
	}
	list, err := other.List(ctx, "bob", "shared", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Errorf("bob lists %d records, want the 2 under docs/", len(list))
	}

	if err := owner.Revoke(ctx, "", "shared", "docs/", bob, Read); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	put("docs/revoked", "written after the revocation")
	put("docs/after", "overwritten after the revocation")
	if _, err := read("bob", "docs/revoked"); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob reads a version written after revocation: %v, want ErrForbidden", err)
	}
	if _, err := read("bob", "docs/after"); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob reads an overwrite made after revocation: %v, want ErrForbidden", err)
	}
}

func TestWriteGrants(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	owner, writer := c.node(0).store, c.node(1).store
	dave, err := writer.PublicUser("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Put(ctx, "", "team", "a", strings.NewReader("owner's"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Put(ctx, "", "team", "b", strings.NewReader("dave's"), PutOptions{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Put before the grant = %v, want ErrForbidden", err)
	}

	if err := owner.Grant(ctx, "", "team", "", dave, Write); err != nil {
		t.Fatalf("Grant write: %v", err)
	}
	if _, err := writer.Put(ctx, "", "team", "b", strings.NewReader("dave's"), PutOptions{}); err != nil {
		t.Fatalf("Put by a granted writer: %v", err)
	}
	var b bytes.Buffer
	got, err := owner.Get(ctx, "", "team", "b", &b, GetOptions{})
	if err != nil || b.String() != "dave's" {
		t.Fatalf("owner reads the writer's record = %q, %v", b.String(), err)
	}
	// The owner's node knows the writer only by key fingerprint.
	if !strings.HasPrefix(got.Writer, "key:") || got.Owner != "default" {
		t.Errorf("record writer = %q, owner %q; want a key fingerprint and default", got.Writer, got.Owner)
	}

	if err := owner.Revoke(ctx, "", "team", "", dave, Write); err != nil {
		t.Fatalf("Revoke write: %v", err)
	}
	if _, err := writer.Put(ctx, "", "team", "c", strings.NewReader("late"), PutOptions{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Put after revocation = %v, want ErrForbidden", err)
	}
	b.Reset()
	if _, err := owner.Get(ctx, "", "team", "b", &b, GetOptions{}); err != nil || b.String() != "dave's" {
		t.Fatalf("record written before revocation = %q, %v; want it still valid", b.String(), err)
	}
}

func TestFieldGroupsPerRole(t *testing.T) {
	c := newCluster(t, 4, smallParams(2, 2, 3))
	ctx := context.Background()
	owner, other := c.node(0).store, c.node(1).store
	passerby, err := other.CreateUser("passerby")
	if err != nil {
		t.Fatal(err)
	}
	guardian, err := other.CreateUser("guardian")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []PublicUser{passerby, guardian} {
		if err := owner.Grant(ctx, "", "tags", "tag-17/", u, Read); err != nil {
			t.Fatal(err)
		}
	}
	opts := PutOptions{
		Groups: map[string]map[string][]byte{
			"public":    {"temperature": []byte("22.08")},
			"guardians": {"relay": []byte("node-20")},
		},
		GroupReaders: map[string][]PublicUser{"guardians": {guardian}},
	}
	if _, err := owner.Put(ctx, "", "tags", "tag-17/2006-11-13", strings.NewReader("reading"), opts); err != nil {
		t.Fatal(err)
	}

	get := func(user string) *RecordInfo {
		t.Helper()
		info, err := other.Get(ctx, user, "tags", "tag-17/2006-11-13", &bytes.Buffer{}, GetOptions{})
		if err != nil {
			t.Fatalf("Get as %s: %v", user, err)
		}
		return info
	}
	p := get("passerby")
	if string(p.Groups["public"]["temperature"]) != "22.08" {
		t.Errorf("passer-by's public group = %q", p.Groups["public"])
	}
	if _, ok := p.Groups["guardians"]; ok || !slices.Equal(p.HiddenGroups, []string{"guardians"}) {
		t.Errorf("passer-by sees groups %v, hidden %v; want guardians hidden", p.Groups, p.HiddenGroups)
	}
	g := get("guardian")
	if string(g.Groups["guardians"]["relay"]) != "node-20" || string(g.Groups["public"]["temperature"]) != "22.08" {
		t.Errorf("guardian sees groups %v, want both", g.Groups)
	}
	if len(g.HiddenGroups) != 0 {
		t.Errorf("guardian has hidden groups %v", g.HiddenGroups)
	}
}
