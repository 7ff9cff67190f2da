package chunk

import (
	"errors"
	"fmt"
)

// Kind selects how a value is cut into chunks. A namespace picks one Kind
// and keeps it, because chunks deduplicate only against chunks cut with
// the same Kind and sizes.
type Kind uint8

const (
	// Fixed cuts a value into chunks of one size; only the last is shorter.
	// It is the cheapest kind and deduplicates values that share whole
	// aligned blocks, such as identical files.
	Fixed Kind = iota + 1
	// CDC is content-defined chunking (FastCDC): boundaries follow the
	// content, so an insertion or deletion changes only the chunks around
	// it and the rest still deduplicate against the older version.
	CDC
)

// String returns the name ParseKind accepts: "fixed" or "cdc".
func (k Kind) String() string {
	switch k {
	case Fixed:
		return "fixed"
	case CDC:
		return "cdc"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind returns the Kind named "fixed" or "cdc".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "fixed":
		return Fixed, nil
	case "cdc":
		return CDC, nil
	}
	return 0, fmt.Errorf("%w: kind %q is unknown; use \"fixed\" or \"cdc\"", ErrInvalidParams, s)
}

// Limits on chunk sizes, for every Kind.
const (
	// MinChunkSize is the smallest chunk size Params accept. It is the
	// lower bound that fastcdc-go v0.2.0 accepts.
	MinChunkSize = 64
	// MaxChunkSize is the largest chunk size Params accept and the largest
	// plaintext Seal accepts. A CDC chunker buffers twice its maximum chunk
	// size, so this also bounds a chunker's memory at 16 MiB.
	MaxChunkSize = 8 << 20
)

// Defaults. The fixed size and the CDC average are equal, so both kinds cut
// a value into about the same number of chunks. At 1 MiB a 1 GiB value
// lists about 1024 Refs of about 70 bytes each in its header. The CDC
// minimum and maximum are a quarter and four times the average, the ratios
// FastCDC is usually run with (and fastcdc-go's defaults). They keep most
// chunks near the average while letting boundaries move with the content.
// The 4 MiB maximum, split by Reed–Solomon into four data shards, gives
// 1 MiB shards, which fit one network message. Small chunks deduplicate
// more but multiply the per-chunk cost; TestDedupSharedData measures both.
const (
	DefaultFixedSize = 1 << 20
	DefaultCDCMin    = 256 << 10
	DefaultCDCAvg    = 1 << 20
	DefaultCDCMax    = 4 << 20
)

// ErrInvalidParams is wrapped by every error from Params.Validate and
// ParseKind.
var ErrInvalidParams = errors.New("chunk: invalid params")

// Params configure a chunker. Size applies to Fixed only; Min, Avg and Max
// apply to CDC only. Fields that do not apply to the Kind must be zero, so
// that a mistaken configuration is reported instead of silently ignored.
type Params struct {
	Kind Kind
	// Size is the chunk size in bytes of a Fixed chunker.
	Size int
	// Min, Avg and Max are a CDC chunker's minimum, target average and
	// maximum chunk sizes in bytes. The average is approximate: FastCDC
	// derives its boundary masks from the power of two nearest to Avg.
	Min, Avg, Max int
}

// DefaultParams returns the default Params of kind k.
func DefaultParams(k Kind) Params {
	if k == CDC {
		return Params{Kind: CDC, Min: DefaultCDCMin, Avg: DefaultCDCAvg, Max: DefaultCDCMax}
	}
	return Params{Kind: Fixed, Size: DefaultFixedSize}
}

// Validate reports the first field of p that is out of range.
func (p Params) Validate() error {
	switch p.Kind {
	case Fixed:
		return p.validateFixed()
	case CDC:
		return p.validateCDC()
	}
	return fmt.Errorf("%w: kind %d is unknown; use Fixed or CDC", ErrInvalidParams, p.Kind)
}

func (p Params) validateFixed() error {
	if p.Min != 0 || p.Avg != 0 || p.Max != 0 {
		return fmt.Errorf("%w: Min, Avg and Max apply to cdc only; set Size for fixed", ErrInvalidParams)
	}
	return checkRange("Size", p.Size)
}

func (p Params) validateCDC() error {
	if p.Size != 0 {
		return fmt.Errorf("%w: Size applies to fixed only; set Min, Avg and Max for cdc", ErrInvalidParams)
	}
	for _, f := range []struct {
		name  string
		value int
	}{{"Min", p.Min}, {"Avg", p.Avg}, {"Max", p.Max}} {
		if err := checkRange(f.name, f.value); err != nil {
			return err
		}
	}
	if !(p.Min < p.Avg && p.Avg < p.Max) {
		return fmt.Errorf("%w: cdc sizes must satisfy Min < Avg < Max, got %d, %d, %d",
			ErrInvalidParams, p.Min, p.Avg, p.Max)
	}
	return nil
}

func checkRange(name string, size int) error {
	if size < MinChunkSize || size > MaxChunkSize {
		return fmt.Errorf("%w: %s is %d bytes; it must be between %d and %d",
			ErrInvalidParams, name, size, MinChunkSize, MaxChunkSize)
	}
	return nil
}
