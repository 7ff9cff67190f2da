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
