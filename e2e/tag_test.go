package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestTagGuardianOnly runs a real node and the yui CLI. The simulation
// creates the guardian's tags and posts their sightings over HTTP, and
// the guardian locates a tag. Another user of the same node gets a
// permission error until the guardian shares the tag with them.
func TestTagGuardianOnly(t *testing.T) {
	ns := loopbackNS(t)
	p := startNode(t, ns, "relay-node", loopbackArgs...)
	p.waitStarted(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if _, err := p.yui(ctx, "user", "create", "bob"); err != nil {
		t.Fatal(err)
	}
	out, err := p.yui(ctx, "tag", "simulate", "--tags", "2", "--duration", "3m")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "posted") {
		t.Fatalf("simulate printed %q, want a count of posted sightings", out)
	}

	out, err = p.yui(ctx, "tag", "where", "sim-1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var loc api.TagLocation
	if err := json.Unmarshal(out, &loc); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if loc.Sightings == 0 || loc.Latest == nil {
		t.Fatalf("guardian sees %d sightings, latest %v; want both", loc.Sightings, loc.Latest)
	}

	_, err = p.yui(ctx, "tag", "where", "sim-1", "--owner", "default", "--user", "bob")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(exit.Stderr), "permission denied") {
		t.Fatalf("bob locating the guardian's tag: %v, want an exit with a permission error", err)
	}

	if _, err := p.yui(ctx, "tag", "share", "sim-1", "bob"); err != nil {
		t.Fatal(err)
	}
	out, err = p.yui(ctx, "tag", "where", "sim-1", "--owner", "default", "--user", "bob", "--json")
	if err != nil {
		t.Fatalf("bob after the share: %v", err)
	}
	var shared api.TagLocation
	if err := json.Unmarshal(out, &shared); err != nil {
		t.Fatal(err)
	}
	if shared.Sightings != loc.Sightings {
		t.Errorf("bob sees %d sightings, the guardian %d", shared.Sightings, loc.Sightings)
	}
	// Sharing one tag does not open the others.
	_, err = p.yui(ctx, "tag", "where", "sim-2", "--owner", "default", "--user", "bob")
	if !errors.As(err, &exit) || !strings.Contains(string(exit.Stderr), "permission denied") {
		t.Errorf("bob locating an unshared tag: %v, want a permission error", err)
	}
}

// userFingerprint returns the fingerprint of the keys of the node's user
// name.
func userFingerprint(t *testing.T, c *api.Client, name string) string {
	t.Helper()
	users, err := c.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Name == name {
			return u.Fingerprint
		}
	}
	t.Fatalf("user %s not found", name)
	return ""
}

// TestTagAddOnTwoNodes adds a tag as the user "default" of two nodes of
// one network. Every node has that user, so a tag namespace named after
// the user's name would belong to the first node, and the second would
// get a permission error. The namespace is named after the user's keys.
func TestTagAddOnTwoNodes(t *testing.T) {
	ns := loopbackNS(t)
	first := startNode(t, ns, "tag-1", loopbackArgs...)
	first.waitStarted(t)
	st, err := first.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second := startNode(t, ns, "tag-2", append(loopbackArgs, "--bootstrap", st.Listen)...)
	second.waitStarted(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range []*process{first, second} {
		deadline := time.Now().Add(30 * time.Second)
		for ids, _ := p.peerIDs(ctx); len(ids) == 0; ids, _ = p.peerIDs(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("%s found no peer", p.name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var secrets []string
	for _, p := range []*process{first, second} {
		out, err := p.yui(ctx, "tag", "add", "kid")
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				t.Fatalf("tag add kid on %s: %v: %s", p.name, err, exit.Stderr)
			}
			t.Fatalf("tag add kid on %s: %v", p.name, err)
		}
		_, secret, _ := strings.Cut(string(out), "secret ")
		secrets = append(secrets, strings.TrimSpace(secret))
	}
	if secrets[0] == "" || secrets[0] == secrets[1] {
		t.Errorf("secrets %q; want two different ones", secrets)
	}

	// The second node's tag is its own: adding it again fails.
	_, err = second.yui(ctx, "tag", "add", "kid")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(exit.Stderr), "already has a tag") {
		t.Errorf("second tag add kid on %s: %v, want an exit naming the existing tag", second.name, err)
	}
}
