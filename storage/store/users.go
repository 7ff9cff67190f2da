package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/yuinet/yui/storage/seal"
)

// DefaultUser is the user a call runs as when it names none. The store
// creates it on first use, so a fresh node can store data with no setup.
// Every other user must be created with CreateUser first.
const DefaultUser = "default"

// usersDir is the folder under the data folder that holds user key files,
// one NAME.pem per user.
const usersDir = "users"

// ErrUnknownUser reports a user name with no key file on this node.
var ErrUnknownUser = errors.New("store: unknown user")

// userExistsError reports a user name that already has a key file on this
// node. It matches fs.ErrExist, so the API returns status 409.
type userExistsError struct{ name, path string }

func (e *userExistsError) Error() string {
	return fmt.Sprintf("store: user %q already exists, with key file %s; 'yui user ls' lists the users", e.name, e.path)
}

func (e *userExistsError) Is(target error) bool { return target == fs.ErrExist }

// CreateUser creates a user with fresh keys in the node's data folder and
// returns its public half. It rejects a name that already exists.
func (s *Store) CreateUser(name string) (PublicUser, error) {
	if err := validateUserName(name); err != nil {
		return PublicUser{}, err
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	u, err := s.createUserLocked(name)
	if err != nil {
		return PublicUser{}, err
	}
	return publicUser(name, u)
}

func (s *Store) createUserLocked(name string) (*seal.User, error) {
	dir := filepath.Join(s.cfg.DataDir, usersDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create users folder: %w", err)
	}
	u, err := seal.NewUser()
	if err != nil {
		return nil, err
	}
	err = seal.SaveUser(s.userPath(name), u)
	if errors.Is(err, fs.ErrExist) {
		return nil, &userExistsError{name: name, path: s.userPath(name)}
	}
	if err != nil {
		return nil, fmt.Errorf("store: create user %q: %w", name, err)
	}
	s.users[name] = u
	s.log.Info("created user", "user", name, "file", s.userPath(name))
	return u, nil
}

// LoadUser returns the keys of a local user. An empty name means
// DefaultUser, which is created if it does not exist.
func (s *Store) LoadUser(name string) (*seal.User, error) {
	if name == "" {
		name = DefaultUser
	}
	if err := validateUserName(name); err != nil {
		return nil, err
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if u := s.users[name]; u != nil {
		return u, nil
	}
	u, err := seal.LoadUser(s.userPath(name))
	switch {
	case errors.Is(err, os.ErrNotExist) && name == DefaultUser:
		return s.createUserLocked(name)
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w %q: no key file %s; create the user first", ErrUnknownUser, name, s.userPath(name))
	case err != nil:
		return nil, err
	}
	s.users[name] = u
	return u, nil
}

// Users returns the names of the local users, sorted.
func (s *Store) Users() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.cfg.DataDir, usersDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".pem"); ok && !e.IsDir() && validateUserName(name) == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// PublicUser returns a local user's public keys, to hand to an owner who
// grants it access.
func (s *Store) PublicUser(name string) (PublicUser, error) {
	u, err := s.LoadUser(name)
	if err != nil {
		return PublicUser{}, err
	}
	if name == "" {
		name = DefaultUser
	}
	return publicUser(name, u)
}

func publicUser(name string, u *seal.User) (PublicUser, error) {
	keys, err := u.Public().Marshal()
	if err != nil {
		return PublicUser{}, err
	}
	return PublicUser{Name: name, Keys: keys}, nil
}

func (s *Store) userPath(name string) string {
	return filepath.Join(s.cfg.DataDir, usersDir, name+".pem")
}

// validateUserName applies the namespace naming rule, which keeps names
// safe as file names.
func validateUserName(name string) error {
	if err := seal.ValidateNamespace(name); err != nil {
		return fmt.Errorf("%w: user name %q: use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
			ErrInvalid, name)
	}
	return nil
}
