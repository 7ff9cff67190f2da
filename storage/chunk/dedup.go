package chunk

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
)

// DedupStats counts the bytes a set of values would occupy with and without
// deduplication.
type DedupStats struct {
	Values       int   // values added
	Chunks       int   // chunks cut
	UniqueChunks int   // distinct chunks among them
	TotalBytes   int64 // bytes of all values
	UniqueBytes  int64 // bytes of the distinct chunks: what a namespace stores
}

// Ratio returns TotalBytes / UniqueBytes: 1 means no saving, 2 means the
// values need half the space. It returns 1 when nothing was added.
func (s DedupStats) Ratio() float64 {
	if s.UniqueBytes == 0 {
		return 1
	}
	return float64(s.TotalBytes) / float64(s.UniqueBytes)
}

// Dedup measures how well one Params deduplicates a set of values. It
// identifies chunks by the SHA-256 of their plaintext: within one namespace
// Seal maps equal plaintexts to equal chunk IDs and different plaintexts to
// different IDs, so the count equals what the namespace would store. Memory
// grows by one hash per distinct chunk.
type Dedup struct {
	params Params
	seen   map[[32]byte]struct{}
	stats  DedupStats
}

// NewDedup returns an empty Dedup that cuts values with p.
func NewDedup(p Params) (*Dedup, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Dedup{params: p, seen: make(map[[32]byte]struct{})}, nil
}

// Add chunks one value read from r and counts its chunks.
func (d *Dedup) Add(r io.Reader) error {
	c, err := New(r, d.params)
	if err != nil {
		return err
	}
	d.stats.Values++
	for {
		data, err := c.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		d.count(data)
	}
}

func (d *Dedup) count(data []byte) {
	d.stats.Chunks++
	d.stats.TotalBytes += int64(len(data))

	sum := sha256.Sum256(data)
	if _, ok := d.seen[sum]; ok {
		return
	}
	d.seen[sum] = struct{}{}
	d.stats.UniqueChunks++
	d.stats.UniqueBytes += int64(len(data))
}

// Stats returns the counts so far.
func (d *Dedup) Stats() DedupStats { return d.stats }

// MeasureFiles chunks each file as one value with p and returns the counts
// over all of them, as if they were stored in one namespace.
func MeasureFiles(p Params, paths ...string) (DedupStats, error) {
	d, err := NewDedup(p)
	if err != nil {
		return DedupStats{}, err
	}
	for _, path := range paths {
		if err := d.addFile(path); err != nil {
			return DedupStats{}, err
		}
	}
	return d.Stats(), nil
}

func (d *Dedup) addFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("chunk: measure dedup: %w", err)
	}
	defer f.Close()
	if err := d.Add(f); err != nil {
		return fmt.Errorf("chunk: measure dedup of %s: %w", path, err)
	}
	return nil
}
