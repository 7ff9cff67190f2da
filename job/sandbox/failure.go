package sandbox

import (
	"bytes"
	"errors"
	"strings"

	"github.com/tetratelabs/wazero/sys"
)

// classify turns the error of a failed run into a *UnitError with the
// reason the run failed.
func classify(err error, outputFull bool, stderr string) *UnitError {
	e := &UnitError{Stderr: stderr}
	var exit *sys.ExitError
	if !errors.As(err, &exit) {
		// Anything but an exit is a trap raised inside the module.
		e.Reason, e.Detail = ErrTrap, err.Error()
		if outOfMemory(stderr) {
			e.Reason = ErrMemory
		}
		return e
	}

	code := exit.ExitCode()
	switch {
	case outputFull:
		// The output limit cancels the run, so check it before the codes
		// that a cancellation leaves.
		e.Reason = ErrOutputTooLarge
	case code == sys.ExitCodeDeadlineExceeded:
		e.Reason = ErrTimeout
	case code == sys.ExitCodeContextCanceled:
		// Only the run's own context can cancel it here: the caller's
		// cancellation is handled before classify.
		e.Reason, e.Detail = ErrTimeout, "run cancelled"
	case outOfMemory(stderr):
		e.Reason, e.ExitCode = ErrMemory, code
	default:
		e.Reason, e.ExitCode = ErrExit, code
	}
	return e
}

// outOfMemory reports whether a module's standard error says that it ran
// out of memory. The memory limit reaches a module only as a failed
// memory.grow, and each language reports that in its own words. These
// are Go's ("fatal error: out of memory", tested) and Rust's standard
// allocation error ("memory allocation of N bytes failed", not tested).
//
// NOTE: the check trusts the module's own words, so a module can make
// any failure look like a memory failure. It fails the unit either way.
func outOfMemory(stderr string) bool {
	s := strings.ToLower(stderr)
	return strings.Contains(s, "out of memory") || strings.Contains(s, "memory allocation of")
}

// cappedWriter keeps up to limit bytes. A write past the limit keeps
// what fits and then, unless silent, fails and calls onFull once, so
// that the run stops instead of writing on into a closed pipe.
type cappedWriter struct {
	buf    bytes.Buffer
	limit  int
	silent bool
	onFull func()
	full   bool
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	room := w.limit - w.buf.Len()
	if len(p) <= room {
		return w.buf.Write(p)
	}
	w.buf.Write(p[:max(room, 0)])
	if w.silent {
		return len(p), nil
	}
	if !w.full {
		w.full = true
		if w.onFull != nil {
			w.onFull()
		}
	}
	return max(room, 0), ErrOutputTooLarge
}
