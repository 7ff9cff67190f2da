package chunk

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/jotfs/fastcdc-go"
)

// Chunker cuts a stream into chunks.
//
// Next returns the next chunk, or io.EOF after the last one; an empty
// stream has no chunks. Chunks are never empty. The returned slice is
// owned by the Chunker and valid only until the next call to Next, so a
// caller that keeps a chunk must copy it (Seal already does). A Chunker
// reads ahead at most twice its maximum chunk size and never holds the
// whole stream. A Chunker is not safe for concurrent use, but separate
// Chunkers may run in parallel.
type Chunker interface {
	Next() ([]byte, error)
}

// New returns a Chunker that reads r and cuts it as p describes.
func New(r io.Reader, p Params) (Chunker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Kind == Fixed {
		return &fixedChunker{r: r, buf: make([]byte, p.Size)}, nil
	}
	return newCDCChunker(r, p)
}

// fixedChunker cuts chunks of len(buf) bytes.
type fixedChunker struct {
	r   io.Reader
	buf []byte
	err error // sticky: io.EOF after the last chunk, or the first read error
}

func (c *fixedChunker) Next() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	n, err := io.ReadFull(c.r, c.buf)
	switch {
	case err == nil:
		return c.buf, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		// A short last chunk: the stream ended inside it.
		c.err = io.EOF
		return c.buf[:n], nil
	case errors.Is(err, io.EOF):
		c.err = io.EOF
		return nil, io.EOF
	}
	c.err = fmt.Errorf("chunk: read: %w", err)
	return nil, c.err
}

// fastcdcTable guards the rolling-hash table of fastcdc-go v0.2.0, which is
// a package-level array: every fastcdc.NewChunker call XORs Options.Seed
// into it, and every Next reads it. With Seed zero the XOR leaves the
// values unchanged, but the writes still race with concurrent chunkers, so
// constructors take the write lock and Next takes the read lock.
//
// NOTE: a non-zero Seed would hide chunk boundaries from storage nodes,
// which see chunk sizes, but fastcdc-go v0.2.0 applies it to the shared
// table, cumulatively, for every chunker in the process. Yui therefore
// leaves Seed at zero, and the CDC boundaries of equal content are the
// same in every namespace.
var fastcdcTable sync.RWMutex

// cdcChunker adapts fastcdc.Chunker to Chunker.
type cdcChunker struct {
	c   *fastcdc.Chunker
	err error // sticky, as in fixedChunker
}

func newCDCChunker(r io.Reader, p Params) (*cdcChunker, error) {
	opts := fastcdc.Options{
		MinSize:     p.Min,
		AverageSize: p.Avg,
		MaxSize:     p.Max,
		// The buffer must exceed MaxSize; fastcdc-go suggests one to
		// three times MaxSize, and two keeps memory at twice the maximum.
		BufSize: 2 * p.Max,
	}

	fastcdcTable.Lock()
	c, err := fastcdc.NewChunker(r, opts)
	fastcdcTable.Unlock()
	if err != nil {
		// Validate accepts only options fastcdc-go accepts, so this is a
		// mismatch between the two checks, not bad input.
		return nil, fmt.Errorf("%w: fastcdc rejected %+v: %v", ErrInvalidParams, p, err)
	}
	return &cdcChunker{c: c}, nil
}

func (c *cdcChunker) Next() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}

	fastcdcTable.RLock()
	ch, err := c.c.Next()
	fastcdcTable.RUnlock()

	switch {
	case err == nil:
		return ch.Data, nil
	case errors.Is(err, io.EOF):
		c.err = io.EOF
	default:
		c.err = fmt.Errorf("chunk: read: %w", err)
	}
	return nil, c.err
}
