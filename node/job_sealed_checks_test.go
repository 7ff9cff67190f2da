package node

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
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

// TestSealedJobWarnsOfSharedHours writes overlapping readings in two
// requests, so some sensor-hours have two segments, and checks that the
// encrypted job's status warns that readings in both count twice, while
// a job over one request's readings carries no warning.
func TestSealedJobWarnsOfSharedHours(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, ns := range []string{"once", "twice"} {
		if _, err := clients[0].SealNamespace(ctx, "", ns, api.SealRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	encryptedReaders(ctx, t, clients, "once")
	grantReaders(ctx, t, clients, "twice")
	all := ulbReadings(t, 200)
	if _, err := clients[0].WriteReadings(ctx, "", "once", all); err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]sensor.Reading{all[:120], all[80:]} {
		if _, err := clients[0].WriteReadings(ctx, "", "twice", part); err != nil {
			t.Fatal(err)
		}
	}

	req := api.JobRequest{Aggregates: []string{"count", "mean"}, By: "hour", Reader: "hejobs", Encrypted: true}
	for ns, want := range map[string]string{"once": "", "twice": "counts twice"} {
		info, err := clients[0].SubmitJob(ctx, "", ns, req)
		if err != nil {
			t.Fatal(err)
		}
		st := waitJobDone(ctx, t, clients[0], info.ID)
		if want == "" && st.Error != "" {
			t.Errorf("job over %s: warning %q, want none", ns, st.Error)
		}
		if want != "" && !strings.Contains(st.Error, want) {
			t.Errorf("job over %s: warning %q, want one saying a reading %s", ns, st.Error, want)
		}
	}
}
