package seal

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestUser(t testing.TB) *User {
	t.Helper()
	u, err := NewUser()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUserSaveLoad(t *testing.T) {
	u := newTestUser(t)
	path := filepath.Join(t.TempDir(), "alice.key")
	if err := SaveUser(path, u); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("user file mode = %04o, want 0600", perm)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}

	loaded, err := LoadUser(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, loadedPub := u.Public(), loaded.Public()
	if !bytes.Equal(pub.Signing, loadedPub.Signing) || !bytes.Equal(pub.Encryption, loadedPub.Encryption) {
		t.Error("loaded user has different public keys")
	}

	// The loaded keys must work, not just compare equal.
	ctx := WrapContext{Namespace: "sensors", Version: 1, Role: RoleHeader}
	dk := NewDataKey()
	wrapped, err := WrapKey(pub, dk, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapKey(loaded, wrapped, ctx); err != nil || got != dk {
		t.Errorf("loaded user unwrapped %x, %v; want the wrapped key", got, err)
	}
}

func TestSaveUserKeepsExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alice.key")
	first := newTestUser(t)
	if err := SaveUser(path, first); err != nil {
		t.Fatal(err)
	}
	if err := SaveUser(path, newTestUser(t)); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second SaveUser = %v, want fs.ErrExist", err)
	}
	loaded, err := LoadUser(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.SigningKey(), first.SigningKey()) {
		t.Error("second SaveUser replaced the first user's keys")
	}
}

func TestLoadUserRejects(t *testing.T) {
	dir := t.TempDir()
	good, err := encodeUser(newTestUser(t))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.SplitAfter(string(good), "-----END PRIVATE KEY-----\n")

	tests := []struct {
		name string
		data string
		mode os.FileMode
		want string
	}{
		{"readable by others", string(good), 0o644, "chmod 600"},
		{"empty", "", 0o600, "0 PEM private keys"},
		{"not PEM", "hello", 0o600, "0 PEM private keys"},
		{"one key", blocks[0], 0o600, "1 PEM private keys"},
		{"keys swapped", blocks[1] + blocks[0], 0o600, "first key is"},
		{"two signing keys", blocks[0] + blocks[0], 0o600, "second key is not"},
		{"other block type", strings.ReplaceAll(string(good), "PRIVATE KEY", "PUBLIC KEY"), 0o600, "want \"PRIVATE KEY\""},
		{"oversized", string(good) + strings.Repeat("#", MaxUserFileSize), 0o600, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tt.data), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask may have narrowed it
				t.Fatal(err)
			}
			_, err := LoadUser(path)
			if !errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("LoadUser = %v, want ErrBadKeyFile", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadUser = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadUserMissing(t *testing.T) {
	_, err := LoadUser(filepath.Join(t.TempDir(), "absent.key"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadUser(absent) = %v, want fs.ErrNotExist", err)
	}
}

func TestPublicKeysRoundTrip(t *testing.T) {
	pub := newTestUser(t).Public()
	b, err := pub.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublicKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Signing, pub.Signing) || !bytes.Equal(got.Encryption, pub.Encryption) {
		t.Error("ParsePublicKeys returned different keys")
	}
}

func TestParsePublicKeysRejects(t *testing.T) {
	pub := newTestUser(t).Public()
	short := pub
	short.Signing = pub.Signing[:31]
	shortEnc, err := marshal("test", short)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"garbage", []byte{0xff, 0x00}, ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"short signing key", shortEnc, ErrInvalid},
		{"oversized", make([]byte, 1000), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePublicKeys(tt.b); !errors.Is(err, tt.want) {
				t.Errorf("ParsePublicKeys = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWrapKeyBindsContext(t *testing.T) {
	alice, bob := newTestUser(t), newTestUser(t)
	ks := testKeySet(t, "tags")
	ctx := WrapContext{Namespace: "tags", Scope: KeyHash(ks, "tag-17"), Version: 4, Role: "guardians"}
	dk := NewDataKey()
	wrapped, err := WrapKey(alice.Public(), dk, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrapped) != WrappedKeySize {
		t.Errorf("wrapped key is %d bytes, want %d", len(wrapped), WrappedKeySize)
	}
	got, err := UnwrapKey(alice, wrapped, ctx)
	if err != nil || got != dk {
		t.Fatalf("UnwrapKey = %x, %v; want the wrapped key", got, err)
	}

	otherVersion, otherRole, otherScope, otherNamespace := ctx, ctx, ctx, ctx
	otherVersion.Version++
	otherRole.Role = "public"
	otherScope.Scope = KeyHash(ks, "tag-18")
	otherNamespace.Namespace = "alerts"
	tampered := bytes.Clone(wrapped)
	tampered[40] ^= 1

	tests := []struct {
		name    string
		user    *User
		wrapped []byte
		ctx     WrapContext
		want    error
	}{
		{"wrong reader", bob, wrapped, ctx, ErrDecrypt},
		{"other version", alice, wrapped, otherVersion, ErrDecrypt},
		{"other role", alice, wrapped, otherRole, ErrDecrypt},
		{"other record", alice, wrapped, otherScope, ErrDecrypt},
		{"other namespace", alice, wrapped, otherNamespace, ErrDecrypt},
		{"tampered", alice, tampered, ctx, ErrDecrypt},
		{"truncated", alice, wrapped[:WrappedKeySize-1], ctx, ErrMalformed},
		{"invalid role", alice, wrapped, WrapContext{Namespace: "tags", Role: "Guardians"}, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := UnwrapKey(tt.user, tt.wrapped, tt.ctx); !errors.Is(err, tt.want) {
				t.Errorf("UnwrapKey = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWrapKeyRejectsBadRecipient(t *testing.T) {
	pub := newTestUser(t).Public()
	pub.Encryption = pub.Encryption[:16]
	_, err := WrapKey(pub, NewDataKey(), WrapContext{Namespace: "tags", Role: "public"})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("WrapKey(16-byte recipient key) = %v, want ErrInvalid", err)
	}
}
