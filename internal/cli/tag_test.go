package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuinet/yui/node"
	"github.com/yuinet/yui/tag"
)

func TestSimRelaysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relays.txt")
	if err := os.WriteFile(path, []byte("moteid x y\n1 21.5 23\n2 24.5 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	relays, err := simRelays(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(relays) != 2 || relays["2"] != (tag.Point{X: 24.5, Y: 20}) {
		t.Errorf("relays %v, want 1 and 2 with their positions", relays)
	}
}

func TestSimRelaysNamed(t *testing.T) {
	town, err := simRelays("town")
	if err != nil || len(town) != 100 {
		t.Errorf("town: %d relays, %v; want 100", len(town), err)
	}
	ulb, err := simRelays("ulb")
	if err != nil || len(ulb) != len(tag.ULBLayout) {
		t.Errorf("ulb: %d relays, %v; want %d", len(ulb), err, len(tag.ULBLayout))
	}
	if _, err := simRelays(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Errorf("a missing relay file gave no error")
	}
}

func TestTagWhereUnknownTag(t *testing.T) {
	dir := t.TempDir()
	n, err := node.Start(context.Background(), node.Config{
		DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0", DiscoveryPort: -1, MQTT: node.MQTTOff,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	_, err = run(t, "tag", "where", "nosuch", "--data-dir", dir)
	if err == nil {
		t.Fatal("tag where of an unknown tag succeeded")
	}
	for _, want := range []string{`tag "nosuch" of default`, "'yui tag add nosuch'", "--owner"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "tags-") {
		t.Errorf("error %q names the tag's internal namespace", err)
	}
}
