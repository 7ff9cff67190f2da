package erasure

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// FormatVersion is the version of the encoded shard format. UnmarshalShard
// rejects any other version.
const FormatVersion = 1

// MaxEncodedShardSize is the maximum length of an encoded shard: the
// largest payload plus room for the header, which takes at most 64 bytes.
const MaxEncodedShardSize = MaxShardSize + 256

// Errors about single shards, wrapped with the shard's index and the cause.
var (
	// ErrMalformed reports bytes that are not an encoded shard, or a header
	// whose fields contradict one another.
	ErrMalformed = errors.New("erasure: malformed shard")
	// ErrCorrupt reports a shard whose hash does not match its contents.
	ErrCorrupt = errors.New("erasure: corrupt shard")
)

// hashDomain separates shard hashes from SHA-256 hashes of anything else.
const hashDomain = "yui/erasure/shard/v1\x00"

// Shard is one piece of an encoded chunk together with the header needed
// to check it and to rebuild the chunk from it and its siblings.
type Shard struct {
	// Index is the shard's position in the code, 0 ≤ Index < Params.Total().
	// Shards below Params.Data hold the chunk's bytes and the rest parity.
	Index  int
	Params Params
	// Size is the length of the whole chunk in bytes.
	Size int
	// Hash is the SHA-256 of the header fields above and of Payload, so a
	// flipped bit in the header is detected as well as one in the payload.
	Hash [sha256.Size]byte
	// Payload is the shard's Params.ShardSize(Size) bytes.
	Payload []byte
}

// computeHash returns the hash that s.Hash must hold.
func (s *Shard) computeHash() [sha256.Size]byte {
	var header [2 + 2 + 2 + 8]byte
	binary.BigEndian.PutUint16(header[0:], uint16(s.Index))
	binary.BigEndian.PutUint16(header[2:], uint16(s.Params.Data))
	binary.BigEndian.PutUint16(header[4:], uint16(s.Params.Parity))
	binary.BigEndian.PutUint64(header[6:], uint64(s.Size))

	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write(header[:])
	h.Write(s.Payload)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// checkHeader returns an error wrapping ErrMalformed when the header fields
// contradict one another or the payload length.
func (s *Shard) checkHeader() error {
	if problem := s.Params.problem(); problem != "" {
		return fmt.Errorf("%w %d: params %v: %s", ErrMalformed, s.Index, s.Params, problem)
	}
	if s.Index < 0 || s.Index >= s.Params.Total() {
		return fmt.Errorf("%w %d: index out of range for %v", ErrMalformed, s.Index, s.Params)
	}
	if s.Size < 0 || s.Size > s.Params.MaxChunkSize() {
		return fmt.Errorf("%w %d: chunk size %d outside 0..%d for %v",
			ErrMalformed, s.Index, s.Size, s.Params.MaxChunkSize(), s.Params)
	}
	if want := s.Params.ShardSize(s.Size); len(s.Payload) != want {
		return fmt.Errorf("%w %d: payload is %d bytes, a %d-byte chunk coded %v needs %d",
			ErrMalformed, s.Index, len(s.Payload), s.Size, s.Params, want)
	}
	return nil
}

// Verify checks that the header is consistent and that Hash matches. It
// returns an error wrapping ErrMalformed or ErrCorrupt that names the
// shard's index, or nil for a shard that is safe to decode from.
func (s *Shard) Verify() error {
	if err := s.checkHeader(); err != nil {
		return err
	}
	if got := s.computeHash(); got != s.Hash {
		return fmt.Errorf("%w %d of %v: hash mismatch: header has %x, contents hash to %x",
			ErrCorrupt, s.Index, s.Params, s.Hash[:8], got[:8])
	}
	return nil
}

// encodedShard is the CBOR form of a Shard: an array, so field names take
// no space, with a format version in front.
type encodedShard struct {
	_       struct{} `cbor:",toarray"`
	Version uint8
	Index   uint16
	Data    uint16
	Parity  uint16
	Size    uint64
	Hash    []byte
	Payload []byte
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		SimpleValues:     noSimpleValues(),
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// noSimpleValues rejects every CBOR simple value (false, true, null and the
// unassigned ones), which the decoder would otherwise turn into numbers.
func noSimpleValues() *cbor.SimpleValueRegistry {
	var reject []func(*cbor.SimpleValueRegistry) error
	for v := 0; v <= 255; v++ {
		if v >= 24 && v <= 31 {
			continue // not valid simple values; the decoder rejects them anyway
		}
		reject = append(reject, cbor.WithRejectedSimpleValue(cbor.SimpleValue(v)))
	}
	r, err := cbor.NewSimpleValueRegistryFromDefaults(reject...)
	if err != nil {
		panic(err)
	}
	return r
}

// MarshalShard returns the CBOR encoding of s. It rejects a shard whose
// header is inconsistent, but does not check the hash.
func MarshalShard(s Shard) ([]byte, error) {
	if err := s.checkHeader(); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(encodedShard{
		Version: FormatVersion,
		Index:   uint16(s.Index),
		Data:    uint16(s.Params.Data),
		Parity:  uint16(s.Params.Parity),
		Size:    uint64(s.Size),
		Hash:    s.Hash[:],
		Payload: s.Payload,
	})
	if err != nil {
		return nil, fmt.Errorf("erasure: encode shard %d: %w", s.Index, err)
	}
	return b, nil
}

// UnmarshalShard parses an encoded shard. It rejects input longer than
// MaxEncodedShardSize, malformed CBOR, trailing bytes, an unknown format
// version and a header inconsistent with the payload, all with errors
// wrapping ErrMalformed. It does not check the hash, so call Verify before
// trusting the payload. The payload does not share memory with b.
func UnmarshalShard(b []byte) (Shard, error) {
	if len(b) > MaxEncodedShardSize {
		return Shard{}, fmt.Errorf("%w: %d bytes, the maximum is %d", ErrMalformed, len(b), MaxEncodedShardSize)
	}
	var e encodedShard
	if err := decMode.Unmarshal(b, &e); err != nil {
		return Shard{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Version != FormatVersion {
		return Shard{}, fmt.Errorf("%w: format version %d, this code reads version %d",
			ErrMalformed, e.Version, FormatVersion)
	}
	if len(e.Hash) != sha256.Size {
		return Shard{}, fmt.Errorf("%w %d: hash is %d bytes, want %d", ErrMalformed, e.Index, len(e.Hash), sha256.Size)
	}
	if e.Size > uint64(MaxShards*MaxShardSize) {
		return Shard{}, fmt.Errorf("%w %d: chunk size %d is too large", ErrMalformed, e.Index, e.Size)
	}

	s := Shard{
		Index:   int(e.Index),
		Params:  Params{Data: int(e.Data), Parity: int(e.Parity)},
		Size:    int(e.Size),
		Payload: e.Payload, // the decoder copied it out of b
	}
	if s.Payload == nil {
		s.Payload = []byte{}
	}
	copy(s.Hash[:], e.Hash)
	if err := s.checkHeader(); err != nil {
		return Shard{}, err
	}
	return s, nil
}
