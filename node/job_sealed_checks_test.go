package node

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/store"
)

// TestSealNeedsOwner checks that a user granted write access cannot
// seal the owner's namespace, which would bind every later write to the
// writer's key and bound, and that the owner can.
func TestSealNeedsOwner(t *testing.T) {
	n := startLocal(t, filepath.Join(t.TempDir(), "n"))
	client := api.NewClient(n.APIAddr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.WriteReadings(ctx, "", "own", ulbReadings(t, 10)); err != nil {
		t.Fatal(err)
	}
	writer, err := client.CreateUser(ctx, "writer")
	if err != nil {
		t.Fatal(err)
	}
	g := api.Grant{User: "writer", PublicKeys: writer.PublicKeys, Right: api.RightWrite}
	if err := client.Grant(ctx, "", "own", g); err != nil {
		t.Fatal(err)
	}

	_, err = n.SealNamespace(ctx, "writer", "own", 1, 1)
	if !errors.Is(err, store.ErrForbidden) || !strings.Contains(err.Error(), "only an owner") {
		t.Fatalf("seal by a writer: %v, want ErrForbidden naming the owner", err)
	}
	if _, err := n.SealNamespace(ctx, "", "own", 100, 10000); err != nil {
		t.Fatalf("seal by the owner: %v", err)
	}
	if _, err := n.SealNamespace(ctx, "", "fresh", 100, 10000); err != nil {
		t.Fatalf("seal of a namespace not created yet: %v", err)
	}
}
