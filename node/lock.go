package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// LockFile is the file a running node holds an exclusive lock on, so two
// nodes never share one data folder.
const LockFile = "lock"

// ErrDataDirInUse reports a data folder that another running node holds.
var ErrDataDirInUse = errors.New("node: data folder in use")

type dirLock struct {
	f *os.File
}

// lockDir creates dir if needed and takes its lock. The kernel drops the
// lock when the process dies, so a node killed with SIGKILL leaves no stale
// lock behind.
func lockDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: create data folder %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: open lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another node runs on %s; stop it or pass another --data-dir", ErrDataDirInUse, dir)
		}
		return nil, fmt.Errorf("node: lock %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}
