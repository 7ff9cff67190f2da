package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFile is the name of the private key file inside a node's data folder.
const KeyFile = "node.key"

// ErrBadKeyFile reports a key file that exists but cannot be used.
var ErrBadKeyFile = errors.New("identity: unusable key file")

// Identity is a node's key pair and the ID derived from it.
type Identity struct {
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	ID      NodeID
}

// New creates a fresh random identity.
func New() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	return FromPrivateKey(priv), nil
}

// FromPrivateKey builds an identity around an existing private key.
func FromPrivateKey(priv ed25519.PrivateKey) *Identity {
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{Private: priv, Public: pub, ID: IDFromPublicKey(pub)}
}

// LoadOrCreate reads the key in dir/node.key, creating the folder and a new
// key (file mode 0600) on first start, so a node keeps its ID across
// restarts. It reports whether the key was created.
func LoadOrCreate(dir string) (*Identity, bool, error) {
	path := filepath.Join(dir, KeyFile)
	id, err := Load(path)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("identity: create data folder %s: %w", dir, err)
	}
	id, err = New()
	if err != nil {
		return nil, false, err
	}
	if err := save(path, id.Private); err != nil {
		return nil, false, err
	}
	return id, true, nil
}

// Load reads a PEM-encoded PKCS #8 Ed25519 private key from path.
func Load(path string) (*Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: read key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w %s: no PEM \"PRIVATE KEY\" block; move the file away to create a new identity", ErrBadKeyFile, path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadKeyFile, path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w %s: key is %T, want Ed25519", ErrBadKeyFile, path, key)
	}
	return FromPrivateKey(priv), nil
}

// save writes the key atomically: a crash leaves either no key file or a
// whole one, never a truncated key that would change the node's ID.
func save(path string, priv ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("identity: encode key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("identity: write key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("identity: write key %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("identity: sync key %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("identity: close key %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("identity: install key %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("identity: open folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("identity: sync folder %s: %w", dir, err)
	}
	return nil
}
