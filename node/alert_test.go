package node

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/api"
)

// trustCity creates the authority "city" in the first folder and trusts it
// in the others, before their nodes start.
func trustCity(t *testing.T, dirs ...string) alert.Signer {
	t.Helper()
	city, err := alert.CreateSigner(dirs[0], "city")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if err := alert.AddAuthority(dir, city.Authority()); err != nil {
			t.Fatal(err)
		}
	}
	return city
}

func signTestAlert(t *testing.T, s alert.Signer, seq uint64, text string) *alert.Signed {
	t.Helper()
	now := time.Now()
	signed, err := alert.Sign(alert.Alert{
		Sequence: seq, Level: alert.Evacuate, Issued: now, Expires: now.Add(time.Hour), Text: text,
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestAlertAPIFloodsToPeer(t *testing.T) {
	base := t.TempDir()
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	city := trustCity(t, dirA, dirB)
	a := startLocal(t, dirA)
	b := startLocal(t, dirB, a.Addr().String())
	waitFor(t, "the nodes to know each other", func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 })

	// Watch b's stream before the alert is sent.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streamed := make(chan api.Alert, 1)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- api.NewClient(b.APIAddr()).WatchAlerts(ctx, false, func(al api.Alert) error {
			streamed <- al
			return errors.New("got one")
		})
	}()
	waitFor(t, "b's stream to open", func() bool {
		s := b.alerts.Load()
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.watchers) == 1
	})

	signed := signTestAlert(t, city, 1, "Evacuate the valley")
	sent, err := api.NewClient(a.APIAddr()).SendAlert(context.Background(), signed.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Level != "evacuate" || sent.Text != "Evacuate the valley" {
		t.Errorf("SendAlert returned %+v", sent)
	}

	select {
	case got := <-streamed:
		if got.ID != sent.ID {
			t.Errorf("b streamed alert %s, want %s", got.ID, sent.ID)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("b streamed no alert in 15 s")
	}
	<-watchDone

	list, err := api.NewClient(b.APIAddr()).Alerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != sent.ID {
		t.Errorf("b lists %d alerts, want the one sent", len(list))
	}
}

func TestAlertAPIRejectsUntrusted(t *testing.T) {
	dir := t.TempDir()
	n := startLocal(t, dir)
	stranger, err := alert.CreateSigner(t.TempDir(), "city")
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.NewClient(n.APIAddr()).SendAlert(context.Background(), signTestAlert(t, stranger, 1, "Fake").Raw)
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("SendAlert of an untrusted alert = %v, want an unknown authority error", err)
	}
	_, err = api.NewClient(n.APIAddr()).SendAlert(context.Background(), []byte("junk"))
	if err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("SendAlert of junk = %v, want a malformed alert error", err)
	}
}

func TestAlertsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	city := trustCity(t, dir)
	n := startLocal(t, dir)
	signed := signTestAlert(t, city, 1, "Boil water before drinking")
	if _, err := api.NewClient(n.APIAddr()).SendAlert(context.Background(), signed.Raw); err != nil {
		t.Fatal(err)
	}
	n.Close()

	again := startLocal(t, dir)
	list, err := api.NewClient(again.APIAddr()).Alerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Text != "Boil water before drinking" {
		t.Errorf("restarted node lists %+v, want the alert sent before", list)
	}
}

// startTrustingCity starts a node and then writes a new authority "city"
// into the node's authorities file, so the node trusts it only once it
// reads the file again.
func startTrustingCity(t *testing.T) (*Node, alert.Signer) {
	t.Helper()
	dir := t.TempDir()
	n := startLocal(t, dir)
	city, err := alert.CreateSigner(dir, "city")
	if err != nil {
		t.Fatal(err)
	}
	if err := alert.AddAuthority(dir, city.Authority()); err != nil {
		t.Fatal(err)
	}
	return n, city
}

func TestAlertsReloadAuthorities(t *testing.T) {
	n, city := startTrustingCity(t)
	client := api.NewClient(n.APIAddr())
	signed := signTestAlert(t, city, 1, "Shelter open at the gym")
	waitFor(t, "the node to trust the new authority", func() bool {
		_, err := client.SendAlert(context.Background(), signed.Raw)
		return err == nil
	})
}

func TestAlertSendRightAfterTrust(t *testing.T) {
	n, city := startTrustingCity(t)
	// No wait: the send must not depend on the node's once-a-second poll of
	// the authorities file.
	signed := signTestAlert(t, city, 1, "Shelter open at the gym")
	if _, err := api.NewClient(n.APIAddr()).SendAlert(context.Background(), signed.Raw); err != nil {
		t.Fatalf("alert sent right after trusting its authority: %v", err)
	}
}
