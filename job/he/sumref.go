package he

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
)

// sumRefsVersion differs from the version bytes of page sums and
// ciphertexts, so neither of the other forms of a job result decodes as
// sum references. digestRefsVersion is that of references that carry
// digests.
const (
	sumRefsVersion    = 6
	digestRefsVersion = 7
)

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
	// DigestSize is the length of a SumsDigest, that of SHA-256.
	DigestSize = sha256.Size
	// MaxDigestRefs is the maximum number of references that carry
	// digests in one job result. Each takes digestRefSize bytes, and
	// 11,904 of them take 1,047,557 bytes, below 1 MiB.
	MaxDigestRefs = 11904
	// MaxUnitRefs is the maximum number of references to one unit, one
	// per worker that agreed on its digest; --verify takes at most 5.
	MaxUnitRefs = 5
)

// sumRefSize is the encoded length of one SumRef without its digest, and
// digestRefSize with it.
const (
	sumRefSize    = NodeIDSize + 4 + 8 + 8 + 4
	digestRefSize = sumRefSize + DigestSize
)

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
	// Digest is the SumsDigest that the workers of the unit agreed on
	// when the job verified units on several workers, and all zero
	// otherwise. The attempt's stored sums count only if they have it.
	Digest [DigestSize]byte
}

// EncodeSumRefs returns refs in the form DecodeSumRefs reads: a version
// byte, the count, then each reference, with its digest when the refs
// carry digests. refs must be sorted by unit. Without digests no unit
// may repeat. With digests every reference must carry one, and the
// references of one unit, at most MaxUnitRefs, are alternatives that
// name equal sums: they share the digest and differ in node.
func EncodeSumRefs(refs []SumRef) ([]byte, error) {
	digests := len(refs) > 0 && refs[0].Digest != [DigestSize]byte{}
	if err := checkSumRefs(refs, digests); err != nil {
		return nil, err
	}
	version, size := byte(sumRefsVersion), sumRefSize
	if digests {
		version, size = digestRefsVersion, digestRefSize
	}
	b := make([]byte, 0, 5+len(refs)*size)
	b = append(b, version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(refs)))
	for _, r := range refs {
		b = append(b, r.Node[:]...)
		b = binary.BigEndian.AppendUint32(b, r.Unit)
		b = binary.BigEndian.AppendUint64(b, r.Epoch)
		b = binary.BigEndian.AppendUint64(b, r.Lease)
		b = binary.BigEndian.AppendUint32(b, r.Sums)
		if digests {
			b = append(b, r.Digest[:]...)
		}
	}
	return b, nil
}

// DecodeSumRefs parses references written by EncodeSumRefs. It rejects
// more than MaxSumRefs references, or MaxDigestRefs with digests, units
// out of order, a reference to no sums or to more than MaxUnitSums,
// repeated units but as EncodeSumRefs allows them, and the form with
// digests with no reference.
func DecodeSumRefs(b []byte) ([]SumRef, error) {
	if !IsSumRefs(b) || len(b) < 5 {
		return nil, fmt.Errorf("%w: sum references do not start with version %d or %d and a count",
			ErrMalformed, sumRefsVersion, digestRefsVersion)
	}
	digests := b[0] == digestRefsVersion
	size, limit := sumRefSize, uint32(MaxSumRefs)
	if digests {
		size, limit = digestRefSize, MaxDigestRefs
	}
	n := binary.BigEndian.Uint32(b[1:])
	if n > limit {
		return nil, fmt.Errorf("%w: %d sum references, limit %d", ErrMalformed, n, limit)
	}
	if digests && n == 0 {
		// EncodeSumRefs writes no references without digests.
		return nil, fmt.Errorf("%w: sum references with digests name no unit", ErrMalformed)
	}
	b = b[5:]
	if len(b) != int(n)*size {
		return nil, fmt.Errorf("%w: %d sum references take %d bytes, but %d follow the count", ErrMalformed, n, int(n)*size, len(b))
	}
	refs := make([]SumRef, n)
	for i := range refs {
		r := &refs[i]
		copy(r.Node[:], b)
		r.Unit = binary.BigEndian.Uint32(b[NodeIDSize:])
		r.Epoch = binary.BigEndian.Uint64(b[NodeIDSize+4:])
		r.Lease = binary.BigEndian.Uint64(b[NodeIDSize+12:])
		r.Sums = binary.BigEndian.Uint32(b[NodeIDSize+20:])
		if digests {
			copy(r.Digest[:], b[sumRefSize:])
		}
		b = b[size:]
	}
	if err := checkSumRefs(refs, digests); err != nil {
		return nil, err
	}
	return refs, nil
}

// checkSumRefs checks the count, the order and each reference's number
// of sums, and with digests that every reference carries one and that a
// unit's references agree on it.
func checkSumRefs(refs []SumRef, digests bool) error {
	limit := MaxSumRefs
	if digests {
		limit = MaxDigestRefs
	}
	if len(refs) > limit {
		return fmt.Errorf("%w: %d sum references, limit %d; raise the segments per unit or select less",
			ErrTooManyPages, len(refs), limit)
	}
	same := 0
	for i, r := range refs {
		if r.Sums == 0 || r.Sums > MaxUnitSums {
			return fmt.Errorf("%w: unit %d references %d page sums, want 1 to %d", ErrMalformed, r.Unit, r.Sums, MaxUnitSums)
		}
		if hasDigest := r.Digest != [DigestSize]byte{}; hasDigest != digests {
			return fmt.Errorf("%w: reference %d to unit %d differs from the first in carrying a digest; all or none carry one",
				ErrMalformed, i, r.Unit)
		}
		if i == 0 || refs[i-1].Unit < r.Unit {
			same = 1
			continue
		}
		if !digests || refs[i-1].Unit > r.Unit {
			return fmt.Errorf("%w: unit %d follows unit %d; a result references each unit once, in order",
				ErrMalformed, r.Unit, refs[i-1].Unit)
		}
		if same++; same > MaxUnitRefs {
			return fmt.Errorf("%w: unit %d has more than %d references", ErrMalformed, r.Unit, MaxUnitRefs)
		}
		for _, o := range refs[i-same+1 : i] {
			if o.Digest != r.Digest || o.Node == r.Node {
				return fmt.Errorf("%w: references to unit %d differ in digest or repeat a node", ErrMalformed, r.Unit)
			}
		}
	}
	return nil
}

// IsSumRefs reports whether b starts as sum references rather than page
// sums, the two forms of a sealed job's result.
func IsSumRefs(b []byte) bool {
	return len(b) > 0 && (b[0] == sumRefsVersion || b[0] == digestRefsVersion)
}

// SumsDigest is the running digest of one attempt's stored page sums:
// SHA-256 over their count, then each sum's length and bytes as stored,
// one EncodePageSums of one sum each, in index order. Two honest
// workers that add the same ciphertext records store the same bytes,
// because BGV addition is exact arithmetic modulo the ciphertext primes,
// whatever the order, and PageAggregator.Sums returns the sums in key
// order. It is not safe for concurrent use.
type SumsDigest struct {
	h hash.Hash
}

// NewSumsDigest starts the digest of count page sums.
func NewSumsDigest(count int) *SumsDigest {
	d := &SumsDigest{h: sha256.New()}
	d.h.Write(binary.BigEndian.AppendUint32(nil, uint32(count)))
	return d
}

// Add adds the next stored page sum.
func (d *SumsDigest) Add(sum []byte) {
	d.h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(sum))))
	d.h.Write(sum)
}

// Sum returns the digest of the sums added so far.
func (d *SumsDigest) Sum() [DigestSize]byte {
	return [DigestSize]byte(d.h.Sum(nil))
}
