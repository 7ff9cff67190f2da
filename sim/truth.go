package sim

import (
	"slices"
	"sort"

	"github.com/yuinet/yui/network/identity"
)

// Truth finds the node truly closest to a key, from the full
// membership that no real node has. It holds the participants' IDs in
// increasing order.
//
// In that order the IDs that share a prefix with the key form one run,
// and within a run the IDs with the next bit 0 come before those with
// bit 1. The XOR-closest ID agrees with the key on as many leading bits as
// any participant can, so Closest narrows the run bit by bit toward the
// key's own bit while that half is non-empty, and to the other half
// otherwise. That is O(log² n) per key instead of a scan of all n IDs;
// TestTruthMatchesScan checks it against the scan.
type Truth struct {
	ids []identity.NodeID
}

// NewTruth returns the truth over ids, which it sorts in place.
func NewTruth(ids []identity.NodeID) *Truth {
	slices.SortFunc(ids, identity.Compare)
	return &Truth{ids: ids}
}

// Len returns the number of participants.
func (t *Truth) Len() int { return len(t.ids) }

// Contains reports whether id is a participant.
func (t *Truth) Contains(id identity.NodeID) bool {
	_, found := slices.BinarySearchFunc(t.ids, id, identity.Compare)
	return found
}

// Closest returns the participant closest to key by the XOR metric, or
// false if there are none.
func (t *Truth) Closest(key identity.NodeID) (identity.NodeID, bool) {
	lo, hi := 0, len(t.ids)
	if lo == hi {
		return identity.NodeID{}, false
	}
	for bit := 0; bit < 8*identity.IDLen && hi-lo > 1; bit++ {
		// split is the first ID in [lo, hi) with this bit set; the run
		// shares all earlier bits, so the bit is sorted within it.
		byteIndex, mask := bit/8, byte(0x80)>>(bit%8)
		split := lo + sort.Search(hi-lo, func(k int) bool { return t.ids[lo+k][byteIndex]&mask != 0 })
		// When the key's half is empty, every ID is in the other half
		// and the run stays as it is.
		if key[byteIndex]&mask != 0 {
			if split < hi {
				lo = split
			}
		} else if split > lo {
			hi = split
		}
	}
	return t.ids[lo], true
}
