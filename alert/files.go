package alert

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Files of a node's data folder. The Machine touches none of them; the
// node and the CLI read and write them with the functions below.
const (
	// AuthoritiesFile lists the trusted authorities, one "NAME PUBKEY"
	// line each; '#' starts a comment.
	AuthoritiesFile = "authorities"
	// KeysDir holds the private keys of the authorities this node may
	// sign for (NAME.key) and the last sequence each used (NAME.seq).
	KeysDir = "authority-keys"
	// AlertsDir holds the held alerts, one file each, so that a restart
	// keeps them.
	AlertsDir = "alerts"
)

// Limits of the files, far above what a real one needs.
const (
	// MaxAuthoritiesFile bounds the authorities file in bytes.
	MaxAuthoritiesFile = 256 << 10
	// MaxAuthorities bounds the authorities one file may list.
	MaxAuthorities = 1024
	maxKeyFile     = 1024
)

// ErrNoKey reports that the data folder holds no private key for an
// authority.
var ErrNoKey = errors.New("alert: no private key for authority")

// ReadAuthorities reads the authorities file in dataDir. A missing file
// means no authority is trusted yet.
func ReadAuthorities(dataDir string) ([]Authority, error) {
	path := filepath.Join(dataDir, AuthoritiesFile)
	b, err := readLimited(path, MaxAuthoritiesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := ParseAuthorities(b)
	if err != nil {
		return nil, fmt.Errorf("%w in %s", err, path)
	}
	return list, nil
}

// ParseAuthorities parses the contents of an authorities file.
func ParseAuthorities(b []byte) ([]Authority, error) {
	if len(b) > MaxAuthoritiesFile {
		return nil, fmt.Errorf("alert: authorities file is %d bytes, limit %d", len(b), MaxAuthoritiesFile)
	}
	var list []Authority
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, MaxAuthoritiesFile)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("alert: line %d has %d fields, want NAME PUBKEY", line, len(fields))
		}
		key, err := ParsePublicKey(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		a, err := NewAuthority(fields[0], key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(list) == MaxAuthorities {
			return nil, fmt.Errorf("alert: more than %d authorities", MaxAuthorities)
		}
		list = append(list, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("alert: read authorities: %w", err)
	}
	return list, nil
}

// AddAuthority adds a to the authorities file in dataDir. Adding a key
// that is already listed under the same name does nothing.
func AddAuthority(dataDir string, a Authority) error {
	list, err := ReadAuthorities(dataDir)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, old := range list {
		if old.Key.Equal(a.Key) {
			if old.Name == a.Name {
				return nil
			}
			return fmt.Errorf("alert: key %s is already trusted as %q; remove that line from %s first",
				a.KeyID(), old.Name, filepath.Join(dataDir, AuthoritiesFile))
		}
		fmt.Fprintf(&out, "%s %s\n", old.Name, FormatPublicKey(old.Key))
	}
	fmt.Fprintf(&out, "%s %s\n", a.Name, FormatPublicKey(a.Key))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("alert: create data folder: %w", err)
	}
	return writeFileAtomic(filepath.Join(dataDir, AuthoritiesFile), out.Bytes(), 0o644)
}

// CreateSigner makes a new key pair for authority name in dataDir. It
// rejects replacing an existing key, which would orphan the alerts
// signed with it.
func CreateSigner(dataDir, name string) (Signer, error) {
	if err := validateName(name); err != nil {
		return Signer{}, fmt.Errorf("alert: %v", err)
	}
	dir := filepath.Join(dataDir, KeysDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Signer{}, fmt.Errorf("alert: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, name+".key")
	if _, err := os.Stat(path); err == nil {
		return Signer{}, fmt.Errorf("alert: %s already exists: authority %q has a key here", path, name)
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Signer{}, fmt.Errorf("alert: generate key: %w", err)
	}
	text := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
	if err := writeFileAtomic(path, []byte(text), 0o600); err != nil {
		return Signer{}, err
	}
	return Signer{Name: name, Key: priv}, nil
}

// LoadSigner reads the private key of authority name from dataDir.
func LoadSigner(dataDir, name string) (Signer, error) {
	if err := validateName(name); err != nil {
		return Signer{}, fmt.Errorf("alert: %v", err)
	}
	path := filepath.Join(dataDir, KeysDir, name+".key")
	b, err := readLimited(path, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Signer{}, fmt.Errorf("%w %q in %s: create one with yui authority create %s", ErrNoKey, name, dataDir, name)
	}
	if err != nil {
		return Signer{}, err
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return Signer{}, fmt.Errorf("alert: %s does not hold a base64 Ed25519 seed", path)
	}
	return Signer{Name: name, Key: ed25519.NewKeyFromSeed(seed)}, nil
}

// Signers returns the names of the authorities dataDir holds keys for.
func Signers(dataDir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dataDir, KeysDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("alert: list keys: %w", err)
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".key"); ok {
			names = append(names, name)
		}
	}
	return names, nil
}

// NextSequence returns the sequence for the next alert of authority name
// and records it in dataDir, so that sequences keep rising across runs.
// NOTE: two processes signing for one authority at the same moment can
// get the same sequence; nodes then accept only the first alert.
func NextSequence(dataDir, name string) (uint64, error) {
	path := filepath.Join(dataDir, KeysDir, name+".seq")
	var last uint64
	b, err := readLimited(path, 64)
	switch {
	case err == nil:
		last, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("alert: %s does not hold a sequence number: %v", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	}
	next := last + 1
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, fmt.Errorf("alert: create %s: %w", filepath.Dir(path), err)
	}
	if err := writeFileAtomic(path, []byte(strconv.FormatUint(next, 10)+"\n"), 0o600); err != nil {
		return 0, err
	}
	return next, nil
}

// readLimited reads path, failing if it is larger than limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("alert: read %s: %w", path, err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("alert: %s is larger than %d bytes", path, limit)
	}
	return buf.Bytes(), nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it
// and renames it over path, so that a crash leaves the old or the new
// file, never a torn one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("alert: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("alert: write %s: %w", path, err)
	}
	return nil
}
