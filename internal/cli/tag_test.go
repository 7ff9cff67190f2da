package cli

import (
	"os"
	"path/filepath"
	"testing"

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
