package sched

import "fmt"

// Fence is a worker's guard against deposed managers. It remembers the
// highest manager epoch the worker has accepted and rejects anything
// older, so that once a backup has taken over, the old manager's
// assignments are refused. The zero Fence accepts any epoch.
type Fence struct {
	epoch uint64
}

// Admit accepts epoch if it is not older than any accepted before, and
// returns an error wrapping ErrStaleEpoch otherwise.
func (f *Fence) Admit(epoch uint64) error {
	if epoch < f.epoch {
		return fmt.Errorf("%w: epoch %d, this worker follows epoch %d", ErrStaleEpoch, epoch, f.epoch)
	}
	f.epoch = epoch
	return nil
}

// Epoch returns the highest epoch accepted.
func (f *Fence) Epoch() uint64 { return f.epoch }
