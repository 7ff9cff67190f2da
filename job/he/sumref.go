package he

import (
	"encoding/binary"
	"fmt"
)

// sumRefsVersion differs from every other version byte of this package,
// so no other kind decodes as sum references.
const sumRefsVersion = 6

// Limits of sum references.
const (
	// NodeIDSize is the length of a node ID in bytes.
	NodeIDSize = 32
	// MaxUnitSums is the maximum number of page sums one unit stores. A unit names at
	// most 1,024 records (wire.MaxJobSegments), and each record adds into
	// one page sum.
	MaxUnitSums = 1024
	// MaxSumRefs is the maximum number of references one job result
	// carries, so of units in a job whose page sums are stored as records. Each
	// reference takes sumRefSize bytes, and 16,384 of them take 917,509
	// bytes, below the 1 MiB of a job message's partial aggregate
	// (wire.MaxJobResult).
	MaxSumRefs = 16384
)

// sumRefSize is the encoded length of one SumRef.
const sumRefSize = NodeIDSize + 4 + 8 + 8 + 4

// SumRef names the page sums that one attempt at one unit of a job
// stored as records: their number, and what makes their keys unique. A
// unit that runs twice stores its sums twice under different keys, and
// a job result references one attempt per unit, so no sum counts twice.
type SumRef struct {
	// Node is the ID of the worker that ran the attempt.
	Node [NodeIDSize]byte
	// Unit, Epoch and Lease are those of the attempt's assignment.
	Unit  uint32
	Epoch uint64
	Lease uint64
	// Sums is how many page sums the attempt stored, numbered from 0.
	Sums uint32
}

// EncodeSumRefs returns refs in the form DecodeSumRefs reads: a version
// byte, the count, then each reference. refs must be sorted by unit,
// with no unit twice.
func EncodeSumRefs(refs []SumRef) ([]byte, error) {
	if err := checkSumRefs(refs); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 5+len(refs)*sumRefSize)
	b = append(b, sumRefsVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(refs)))
	for _, r := range refs {
		b = append(b, r.Node[:]...)
		b = binary.BigEndian.AppendUint32(b, r.Unit)
		b = binary.BigEndian.AppendUint64(b, r.Epoch)
		b = binary.BigEndian.AppendUint64(b, r.Lease)
		b = binary.BigEndian.AppendUint32(b, r.Sums)
	}
	return b, nil
}

// DecodeSumRefs parses references written by EncodeSumRefs. It rejects
// more than MaxSumRefs references, units out of order or repeated, and
// a reference to no sums or to more than MaxUnitSums.
func DecodeSumRefs(b []byte) ([]SumRef, error) {
	if len(b) < 5 || b[0] != sumRefsVersion {
		return nil, fmt.Errorf("%w: sum references do not start with version %d and a count", ErrMalformed, sumRefsVersion)
	}
	n := binary.BigEndian.Uint32(b[1:])
	if n > MaxSumRefs {
		return nil, fmt.Errorf("%w: %d sum references, limit %d", ErrMalformed, n, MaxSumRefs)
	}
	b = b[5:]
	if len(b) != int(n)*sumRefSize {
		return nil, fmt.Errorf("%w: %d sum references take %d bytes, but %d follow the count", ErrMalformed, n, n*sumRefSize, len(b))
	}
	refs := make([]SumRef, n)
	for i := range refs {
		r := &refs[i]
		copy(r.Node[:], b)
		r.Unit = binary.BigEndian.Uint32(b[NodeIDSize:])
		r.Epoch = binary.BigEndian.Uint64(b[NodeIDSize+4:])
		r.Lease = binary.BigEndian.Uint64(b[NodeIDSize+12:])
		r.Sums = binary.BigEndian.Uint32(b[NodeIDSize+20:])
		b = b[sumRefSize:]
	}
	if err := checkSumRefs(refs); err != nil {
		return nil, err
	}
	return refs, nil
}

// checkSumRefs checks the count, the order and each reference's number
// of sums.
func checkSumRefs(refs []SumRef) error {
	if len(refs) > MaxSumRefs {
		return fmt.Errorf("%w: %d sum references, limit %d; a job whose page sums are stored takes at most %d units",
			ErrTooManyPages, len(refs), MaxSumRefs, MaxSumRefs)
	}
	for i, r := range refs {
		if r.Sums == 0 || r.Sums > MaxUnitSums {
			return fmt.Errorf("%w: unit %d references %d page sums, want 1 to %d", ErrMalformed, r.Unit, r.Sums, MaxUnitSums)
		}
		if i > 0 && refs[i-1].Unit >= r.Unit {
			return fmt.Errorf("%w: unit %d follows unit %d; a result references each unit once, in order",
				ErrMalformed, r.Unit, refs[i-1].Unit)
		}
	}
	return nil
}

// IsSumRefs reports whether b starts as sum references rather than page
// sums, the two forms of a sealed job's result.
func IsSumRefs(b []byte) bool { return len(b) > 0 && b[0] == sumRefsVersion }
