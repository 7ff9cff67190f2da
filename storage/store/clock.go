package store

import (
	"sync"
	"time"
)

// A version is a hybrid logical clock reading: the top 48 bits are Unix
// milliseconds, the low 16 bits a counter that orders versions made in the
// same millisecond. Versions from different gateways compare by time first,
// so the newest write wins as far as clocks agree. Equal versions break
// ties on the writer's key.
const logicalBits = 16

// clock issues versions that rise strictly, even when the wall clock
// steps back or a newer version was observed from another gateway.
type clock struct {
	now func() time.Time

	mu   sync.Mutex // guards last
	last uint64
}

// next returns a version above every version issued or observed before.
func (c *clock) next() uint64 {
	wall := uint64(c.now().UnixMilli()) << logicalBits
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last+1, wall)
	return c.last
}

// observe makes later versions exceed v.
func (c *clock) observe(v uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last, v)
}

// versionTime returns the wall-clock time of a version.
func versionTime(v uint64) time.Time {
	return time.UnixMilli(int64(v >> logicalBits)).UTC()
}
