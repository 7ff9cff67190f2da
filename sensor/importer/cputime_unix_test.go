//go:build unix

package importer

import (
	"syscall"
	"time"
)

// cpuTime returns the user and system CPU time this process has used, so a
// benchmark can report a rate that other load on the machine does not skew.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
