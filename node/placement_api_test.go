package node

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestPlacementByWriterNamesOwner checks that a writer who is not an
// owner cannot change a namespace's placement, and that the error does
// not suggest a grant, since no grant makes a user an owner.
func TestPlacementByWriterNamesOwner(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clients[0].SetPlacement(ctx, "", "town", api.PlacementCluster); err != nil {
		t.Fatalf("owner's SetPlacement: %v", err)
	}
	u, err := clients[1].CreateUser(ctx, "writer")
	if err != nil {
		t.Fatal(err)
	}
	g := api.Grant{User: "writer", PublicKeys: u.PublicKeys, Right: api.RightWrite}
	if err := clients[0].Grant(ctx, "", "town", g); err != nil {
		t.Fatal(err)
	}

	err = clients[1].SetPlacement(ctx, "writer", "town", api.PlacementGlobal)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Fatalf("writer's SetPlacement: %v, want status 403", err)
	}
	if strings.Contains(err.Error(), "yui grant") {
		t.Errorf("error %q suggests a grant, which cannot make the writer an owner", err)
	}
	if !strings.Contains(err.Error(), "owner") {
		t.Errorf("error %q does not say an owner must make the change", err)
	}
}
