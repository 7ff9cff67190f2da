package node

import (
	"log/slog"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/yuinet/yui/network/hierarchy"
)

// rescoreInterval is how often the node measures its score again.
const rescoreInterval = time.Minute

// score measures the node's self-assessment for the representative
// election: its uptime, the free space of its data folder in MiB, and its
// link quality from the smoothed round trip of its requests (zero until
// one succeeded).
func (n *Node) score(rtt time.Duration) hierarchy.Score {
	s := hierarchy.Score{Uptime: time.Since(n.started), Capacity: freeMiB(n.cfg.DataDir, n.log)}
	if rtt > 0 {
		s.Link = uint32(min(int64(time.Second/time.Microsecond)/max(rtt.Microseconds(), 1), math.MaxUint32))
	}
	return s
}

// freeMiB returns the space available to this process on the file system
// of dir, in MiB, or 0 if it cannot be read.
func freeMiB(dir string, log *slog.Logger) uint32 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		log.Warn("cannot read free space of the data folder; scoring it as none", "dir", dir, "err", err)
		return 0
	}
	return uint32(min(st.Bavail*uint64(st.Bsize)>>20, math.MaxUint32))
}

// rescore updates the node's score every rescoreInterval until the router
// stops.
func (n *Node) rescore() {
	defer close(n.rescored)
	ticker := time.NewTicker(rescoreInterval)
	defer ticker.Stop()
	for {
		select {
		case <-n.router.stop:
			return
		case <-ticker.C:
			var rtt time.Duration
			n.router.withOverlay(func(*hierarchy.Machine) { rtt = n.router.rtt })
			n.router.setScore(n.score(rtt))
		}
	}
}
