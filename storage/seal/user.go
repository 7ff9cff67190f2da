package seal

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// User is a person or program that writes and reads records: an Ed25519
// key pair to sign envelopes and access lists, and an X25519 key pair that
// DataKeys are wrapped to with HPKE.
type User struct {
	signing  ed25519.PrivateKey
	exchange *ecdh.PrivateKey
}

// PublicKeys is the public half of a User, which it hands to namespace
// owners and writers so they can list it and wrap keys to it.
type PublicKeys struct {
	_ struct{} `cbor:",toarray"`
	// Signing is the Ed25519 key that verifies the user's signatures.
	Signing ed25519.PublicKey
	// Encryption is the X25519 key that DataKeys are wrapped to.
	Encryption []byte
}

// MaxUserFileSize is the limit on a user key file. A real one is under
// 300 bytes.
const MaxUserFileSize = 16 << 10

// maxPublicKeysSize is the limit on encoded PublicKeys; real ones are 69
// bytes.
const maxPublicKeysSize = 256

// NewUser creates a user with fresh random keys.
func NewUser() (*User, error) {
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: generate signing key: %w", err)
	}
	exchange, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: generate encryption key: %w", err)
	}
	return &User{signing: signing, exchange: exchange}, nil
}

// Public returns u's public keys.
func (u *User) Public() PublicKeys {
	return PublicKeys{
		Signing:    u.signing.Public().(ed25519.PublicKey),
		Encryption: u.exchange.PublicKey().Bytes(),
	}
}

// SigningKey returns u's Ed25519 public key, the one access lists name.
func (u *User) SigningKey() ed25519.PublicKey {
	return u.signing.Public().(ed25519.PublicKey)
}

// Validate checks the key lengths and that Encryption is a usable X25519
// key.
func (p PublicKeys) Validate() error {
	if len(p.Signing) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: signing key is %d bytes, want %d", ErrInvalid, len(p.Signing), ed25519.PublicKeySize)
	}
	if _, err := ecdh.X25519().NewPublicKey(p.Encryption); err != nil {
		return fmt.Errorf("%w: encryption key: %v", ErrInvalid, err)
	}
	return nil
}

// Marshal encodes p as CBOR, to hand to other users.
func (p PublicKeys) Marshal() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return marshal("public keys", p)
}

// ParsePublicKeys decodes and validates what PublicKeys.Marshal encoded.
func ParsePublicKeys(b []byte) (PublicKeys, error) {
	var p PublicKeys
	if err := unmarshal("public keys", b, maxPublicKeysSize, &p); err != nil {
		return PublicKeys{}, err
	}
	if err := p.Validate(); err != nil {
		return PublicKeys{}, err
	}
	return p, nil
}

// SaveUser writes u's private keys to path with mode 0600. It rejects an
// existing file rather than replace it, because overwriting a user's keys
// would lose every DataKey wrapped to them.
//
// The file is PEM text with two "PRIVATE KEY" blocks, each a PKCS #8 key:
// the Ed25519 signing key, then the X25519 encryption key. The format is
// standard, so `openssl pkey` can read each block.
func SaveUser(path string, u *User) error {
	data, err := encodeUser(u)
	if err != nil {
		return err
	}
	return writeNew(path, data)
}

func encodeUser(u *User) ([]byte, error) {
	var buf bytes.Buffer
	for _, key := range []any{u.signing, u.exchange} {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("seal: encode user key: %w", err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			return nil, fmt.Errorf("seal: encode user key: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// writeNew writes data to a temporary file, syncs it and links it to path,
// which fails if path exists. A crash leaves no file or a whole one.
func writeNew(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("seal: write user file: %w", err)
	}
	defer os.Remove(tmp)

	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seal: write user file %s: %w", tmp, err)
	}

	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("seal: install user file: %w; move the old file away first", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seal: open folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: sync folder %s: %w", dir, err)
	}
	return nil
}

// LoadUser reads a user key file that SaveUser wrote. It rejects a file
// that other users may read, as ssh does, because it contains private keys.
func LoadUser(path string) (*User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: read user file: %w", err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: read user file: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w %s: mode %04o lets other users read it; run chmod 600", ErrBadKeyFile, path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxUserFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: read user file %s: %w", path, err)
	}

	u, err := parseUser(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadKeyFile, path, err)
	}
	return u, nil
}

// parseUser decodes the PEM text of a user key file.
func parseUser(data []byte) (*User, error) {
	if len(data) > MaxUserFileSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxUserFileSize)
	}
	var keys []any
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("PEM block %q; want \"PRIVATE KEY\"", block.Type)
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return userFromKeys(keys)
}

func userFromKeys(keys []any) (*User, error) {
	if len(keys) != 2 {
		return nil, fmt.Errorf("%d PEM private keys; want 2, the Ed25519 then the X25519 key", len(keys))
	}
	signing, ok := keys[0].(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("first key is %T, want Ed25519", keys[0])
	}
	exchange, ok := keys[1].(*ecdh.PrivateKey)
	if !ok || exchange.Curve() != ecdh.X25519() {
		return nil, errors.New("second key is not an X25519 key")
	}
	return &User{signing: signing, exchange: exchange}, nil
}
