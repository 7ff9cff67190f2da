// Package job describes a distributed job over stored sensor readings and
// the partial aggregates its workers return.
//
// A Spec names the input (a namespace and query conditions), the
// aggregates and their grouping. Every worker gets the same Spec and one
// unit of segment keys; it reads the segments, keeps the readings that
// match, and returns a Partial. Partials merge exactly: sums are kept as
// rationals, so the result does not depend on the order units commit in,
// and two workers that run the same unit return the same bytes, which is
// what verify 2 compares.
//
// The daemon's side (manager, backup, workers, messages) lives in
// package node; the scheduling in job/sched.
package job

import (
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

// Limits of decoded specs and partials, far above what an honest peer
// sends.
const (
	// MaxSpecBytes bounds an encoded Spec.
	MaxSpecBytes = 64 << 10
	// MaxPartialBytes bounds an encoded Partial.
	MaxPartialBytes = 1 << 20
	// MaxGroups bounds the groups of one Partial.
	MaxGroups = 10_000
	// MaxConditions bounds the conditions of one Spec.
	MaxConditions = 32
	// MaxArgs and MaxArgBytes bound a module's arguments.
	MaxArgs     = 16
	MaxArgBytes = 256
)

// ErrInvalid reports a spec or partial that fails its checks.
var ErrInvalid = errors.New("job: invalid")

// Aggregates a Spec may name besides percentiles, such as "p90" (see
// Percentile).
var Aggregates = []string{"count", "sum", "min", "max", "mean", "histogram"}

// Spec is the definition of a job: its input, aggregates and grouping.
type Spec struct {
	ID        string      `cbor:"1,keyasint"`
	Namespace string      `cbor:"2,keyasint"`
	Sensor    string      `cbor:"3,keyasint,omitempty"`
	From      int64       `cbor:"4,keyasint,omitempty"` // Unix nanoseconds, 0 for none
	To        int64       `cbor:"5,keyasint,omitempty"`
	Where     []Condition `cbor:"6,keyasint,omitempty"`
	Aggs      []string    `cbor:"7,keyasint"`
	By        string      `cbor:"8,keyasint,omitempty"`
	Verify    int         `cbor:"9,keyasint,omitempty"`
	// Reader is the local user a worker reads the segments as.
	Reader string `cbor:"10,keyasint,omitempty"`
	// Module, if set, is the key of a WebAssembly map or filter step
	// stored in the namespace, run on each unit's readings before they
	// are aggregated. ModuleHash is its SHA-256 in hex, which a worker
	// checks, and Args are its arguments.
	Module     string   `cbor:"11,keyasint,omitempty"`
	ModuleHash string   `cbor:"12,keyasint,omitempty"`
	Args       []string `cbor:"13,keyasint,omitempty"`
	// Encrypted runs the job over BGV ciphertexts of the readings, so
	// workers add values they cannot read; Scale is the fixed-point scale
	// of the values (docs/jobs.md, "Encrypted jobs").
	Encrypted bool  `cbor:"14,keyasint,omitempty"`
	Scale     int64 `cbor:"15,keyasint,omitempty"`
	// Histograms are the bucket edges of the histogram aggregate.
	Histograms []Histogram `cbor:"16,keyasint,omitempty"`
	// CellSize is the side of a location cell when By groups by cell:
	// degrees for Geo locations, metres for Plane ones; 0 means
	// DefaultGeoCell and DefaultPlaneCell.
	CellSize float64 `cbor:"17,keyasint,omitempty"`
	// Sealed marks an encrypted job over a sealed namespace: its units
	// name the ciphertext records stored at ingest, and Bound is the
	// largest magnitude of a value there (docs/jobs.md, "Sealed
	// namespaces").
	Sealed bool  `cbor:"18,keyasint,omitempty"`
	Bound  int64 `cbor:"19,keyasint,omitempty"`
}

// Condition is a search.Condition in a form CBOR carries: exactly one of
// Number and Text is set.
type Condition struct {
	Field  string   `cbor:"1,keyasint"`
	Op     string   `cbor:"2,keyasint"`
	Number *float64 `cbor:"3,keyasint,omitempty"`
	Text   *string  `cbor:"4,keyasint,omitempty"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   8,
		MaxArrayElements:  MaxGroups,
		MaxMapPairs:       MaxGroups,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Query returns the search query the spec selects readings with.
func (s *Spec) Query() (search.Query, error) {
	q := search.Query{Namespace: s.Namespace, Sensor: s.Sensor}
	if s.From != 0 {
		q.From = time.Unix(0, s.From).UTC()
	}
	if s.To != 0 {
		q.To = time.Unix(0, s.To).UTC()
	}
	for _, c := range s.Where {
		var v sensor.Value
		switch {
		case c.Number != nil && c.Text == nil:
			v = sensor.Number(*c.Number)
		case c.Text != nil && c.Number == nil:
			v = sensor.Text(*c.Text)
		default:
			return q, fmt.Errorf("%w: condition on %q needs exactly one of a number and a text", ErrInvalid, c.Field)
		}
		q.Where = append(q.Where, search.Condition{Field: c.Field, Op: search.Op(c.Op), Value: v})
	}
	if err := q.Validate(); err != nil {
		return q, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return q, nil
}

// Validate checks the spec's rules.
func (s *Spec) Validate() error {
	if s.ID == "" || len(s.ID) > 64 {
		return fmt.Errorf("%w: job id %q must be 1 to 64 bytes", ErrInvalid, s.ID)
	}
	if len(s.Where) > MaxConditions {
		return fmt.Errorf("%w: %d conditions, limit %d", ErrInvalid, len(s.Where), MaxConditions)
	}
	if err := s.validateAggregates(); err != nil {
		return err
	}
	g, err := ParseBy(s.By)
	if err != nil {
		return err
	}
	if g.PerCell && s.Encrypted {
		return fmt.Errorf("%w: an encrypted job cannot group by cell; group by sensor and time", ErrInvalid)
	}
	if err := validateCellSize(s.CellSize); err != nil {
		return err
	}
	if s.Verify < 0 || s.Verify > 5 {
		return fmt.Errorf("%w: verify %d; use 1 to 5", ErrInvalid, s.Verify)
	}
	if err := s.validateModule(); err != nil {
		return err
	}
	if err := s.validateEncrypted(); err != nil {
		return err
	}
	_, err = s.Query()
	return err
}

func (s *Spec) validateModule() error {
	if (s.Module == "") != (s.ModuleHash == "") {
		return fmt.Errorf("%w: module %q and its hash %q must be set together", ErrInvalid, s.Module, s.ModuleHash)
	}
	if s.Module == "" && len(s.Args) > 0 {
		return fmt.Errorf("%w: module arguments given without a module", ErrInvalid)
	}
	if len(s.ModuleHash) > 0 && len(s.ModuleHash) != 64 {
		return fmt.Errorf("%w: module hash %q is not 64 hex digits of SHA-256", ErrInvalid, s.ModuleHash)
	}
	if len(s.Args) > MaxArgs {
		return fmt.Errorf("%w: %d module arguments, limit %d", ErrInvalid, len(s.Args), MaxArgs)
	}
	for i, a := range s.Args {
		if len(a) > MaxArgBytes {
			return fmt.Errorf("%w: module argument %d is %d bytes, limit %d", ErrInvalid, i, len(a), MaxArgBytes)
		}
	}
	return nil
}

// Encode returns the spec's CBOR form.
func (s *Spec) Encode() ([]byte, error) {
	b, err := encMode.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("job: encode spec: %w", err)
	}
	if len(b) > MaxSpecBytes {
		return nil, fmt.Errorf("%w: spec is %d bytes, limit %d", ErrInvalid, len(b), MaxSpecBytes)
	}
	return b, nil
}

// DecodeSpec parses and checks an encoded spec.
func DecodeSpec(b []byte) (*Spec, error) {
	if len(b) > MaxSpecBytes {
		return nil, fmt.Errorf("%w: spec is %d bytes, limit %d", ErrInvalid, len(b), MaxSpecBytes)
	}
	var s Spec
	if err := decMode.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: spec: %v", ErrInvalid, err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}
