package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has entered the namespace, then returns
// the thread to the caller's namespace. Sockets that fn opens stay in the
// namespace after Do returns. Goroutines that fn starts do not run in the
// namespace, and neither do net.Interfaces or name lookups made after Do
// returns, so run a whole program with Command instead.
func (n *Namespace) Do(fn func() error) error {
	runtime.LockOSThread()

	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open current namespace: %w", err)
	}
	defer unix.Close(home)
	target, err := unix.Open(runDir+"/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open namespace %s: %w", n.name, err)
	}
	defer unix.Close(target)

	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter namespace %s: %w", n.name, err)
	}
	fnErr := fn()
	if err := unix.Setns(home, unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime ends it with this
		// goroutine instead of reusing it in the wrong namespace.
		return fmt.Errorf("netns: return from namespace %s: %w", n.name, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
