package identity

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKeepsID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, created, err := LoadOrCreate(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate = created %v, err %v; want a new key", created, err)
	}
	again, created, err := LoadOrCreate(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate = created %v, err %v; want the existing key", created, err)
	}
	if again.ID != first.ID {
		t.Errorf("ID changed across loads: %s then %s", first.ID, again.ID)
	}
	if again.ID != IDFromPublicKey(again.Public) {
		t.Errorf("ID %s is not the hash of the public key", again.ID)
	}

	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %o, want 600", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile+".tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary key file left behind: %v", err)
	}
}

func TestLoadRejectsBadKeyFiles(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"not PEM", "hello"},
		{"wrong block type", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		{"garbage DER", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreate(dir)
			if !errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("LoadOrCreate with %s key file = %v, want ErrBadKeyFile", tt.name, err)
			}
			if !strings.Contains(err.Error(), KeyFile) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	id := KeyID([]byte("x"))
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("ParseID(%s) = %s, %v", id, got, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("0", 63), strings.Repeat("0", 66)} {
		if _, err := ParseID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q) = %v, want ErrInvalidID", bad, err)
		}
	}
}

func TestUnmarshalBinaryRejectsWrongLength(t *testing.T) {
	var id NodeID
	for _, n := range []int{0, 31, 33} {
		if err := id.UnmarshalBinary(make([]byte, n)); !errors.Is(err, ErrInvalidID) {
			t.Errorf("UnmarshalBinary of %d bytes = %v, want ErrInvalidID", n, err)
		}
	}
}

func TestDistance(t *testing.T) {
	var a, b NodeID
	b[0] = 0x10 // differs in bit 3
	if got := CommonPrefixLen(a, b); got != 3 {
		t.Errorf("CommonPrefixLen = %d, want 3", got)
	}
	if got := CommonPrefixLen(a, a); got != 256 {
		t.Errorf("CommonPrefixLen(a, a) = %d, want 256", got)
	}
	if x := Xor(a, b); x != b {
		t.Errorf("Xor(0, b) = %s, want b", x)
	}

	var near, far NodeID
	near[31], far[0] = 1, 1
	if !CloserTo(a, near, far) || CloserTo(a, far, near) || CloserTo(a, near, near) {
		t.Error("CloserTo does not order by XOR distance")
	}
}
