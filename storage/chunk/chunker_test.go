package chunk

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// cutAll runs a fresh chunker over r and returns copies of its chunks.
func cutAll(r io.Reader, p Params) ([][]byte, error) {
	c, err := New(r, p)
	if err != nil {
		return nil, err
	}
	var chunks [][]byte
	for {
		data, err := c.Next()
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, bytes.Clone(data))
	}
}

func chunkAll(t testing.TB, r io.Reader, p Params) [][]byte {
	t.Helper()
	chunks, err := cutAll(r, p)
	if err != nil {
		t.Fatalf("chunk with %+v: %v", p, err)
	}
	return chunks
}

var smallCDC = Params{Kind: CDC, Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		want string // substring of the error, "" for valid
	}{
		{"default fixed", DefaultParams(Fixed), ""},
		{"default cdc", DefaultParams(CDC), ""},
		{"small cdc", smallCDC, ""},
		{"fixed at min", Params{Kind: Fixed, Size: MinChunkSize}, ""},
		{"fixed at max", Params{Kind: Fixed, Size: MaxChunkSize}, ""},
		{"zero kind", Params{Size: 4096}, "kind 0 is unknown"},
		{"fixed too small", Params{Kind: Fixed, Size: 63}, "Size is 63 bytes"},
		{"fixed too large", Params{Kind: Fixed, Size: MaxChunkSize + 1}, "Size is 8388609 bytes"},
		{"fixed with cdc fields", Params{Kind: Fixed, Size: 4096, Avg: 4096}, "apply to cdc only"},
		{"cdc with size", Params{Kind: CDC, Size: 1, Min: 64, Avg: 128, Max: 256}, "applies to fixed only"},
		{"cdc min too small", Params{Kind: CDC, Min: 32, Avg: 128, Max: 256}, "Min is 32 bytes"},
		{"cdc max too large", Params{Kind: CDC, Min: 64, Avg: 128, Max: MaxChunkSize + 1}, "Max is"},
		{"cdc avg equals min", Params{Kind: CDC, Min: 128, Avg: 128, Max: 256}, "Min < Avg < Max"},
		{"cdc max below avg", Params{Kind: CDC, Min: 64, Avg: 512, Max: 256}, "Min < Avg < Max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("Validate = %v, want ErrInvalidParams", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{Fixed, CDC} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	if _, err := ParseKind("rabin"); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("ParseKind(rabin) = %v, want ErrInvalidParams", err)
	}
}

func TestNewRejectsInvalidParams(t *testing.T) {
	_, err := New(strings.NewReader("x"), Params{Kind: CDC})
	if !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("New with zero CDC sizes = %v, want ErrInvalidParams", err)
	}
}

func TestChunkerReassembles(t *testing.T) {
	inputs := map[string][]byte{
		"empty":        nil,
		"one byte":     {7},
		"below min":    randomBytes(1, 1000),
		"exact fixed":  randomBytes(2, 4*4096),
		"random 300k":  randomBytes(3, 300_000),
		"zeros 200k":   make([]byte, 200_000),
		"repeated 64k": bytes.Repeat([]byte("yui sensor 21,5;"), 4096),
	}
	params := map[string]Params{
		"fixed 4KiB": {Kind: Fixed, Size: 4096},
		"cdc 8KiB":   smallCDC,
	}
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"data+EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for in, data := range inputs {
		for pn, p := range params {
			for rn, reader := range readers {
				chunks := chunkAll(t, reader(data), p)
				if got := bytes.Join(chunks, nil); !bytes.Equal(got, data) {
					t.Errorf("%s/%s/%s: chunks join to %d bytes, want the %d input bytes", in, pn, rn, len(got), len(data))
				}
				checkSizes(t, chunks, p)
			}
		}
	}
}

// checkSizes checks every chunk against p's bounds; the last chunk may be
// shorter than the minimum.
func checkSizes(t testing.TB, chunks [][]byte, p Params) {
	t.Helper()
	lo, hi := p.Size, p.Size
	if p.Kind == CDC {
		lo, hi = p.Min, p.Max
	}
	for i, c := range chunks {
		last := i == len(chunks)-1
		switch {
		case len(c) == 0:
			t.Errorf("%v chunk %d is empty", p.Kind, i)
		case len(c) > hi:
			t.Errorf("%v chunk %d has %d bytes, above max %d", p.Kind, i, len(c), hi)
		case len(c) < lo && !last:
			t.Errorf("%v chunk %d of %d has %d bytes, below min %d", p.Kind, i, len(chunks), len(c), lo)
		}
	}
}

func TestFixedChunkSizes(t *testing.T) {
	chunks := chunkAll(t, bytes.NewReader(randomBytes(4, 10_000)), Params{Kind: Fixed, Size: 4096})
	var sizes []int
	for _, c := range chunks {
		sizes = append(sizes, len(c))
	}
	if want := []int{4096, 4096, 1808}; !slices.Equal(sizes, want) {
		t.Errorf("chunk sizes = %v, want %v", sizes, want)
	}
}

func TestCDCAverageNearTarget(t *testing.T) {
	data := randomBytes(5, 4<<20)
	chunks := chunkAll(t, bytes.NewReader(data), smallCDC)
	avg := len(data) / len(chunks)
	// FastCDC's normalized chunking keeps the mean near the target on
	// random input; a factor of two either way catches a wrong mask.
	if avg < smallCDC.Avg/2 || avg > smallCDC.Avg*2 {
		t.Errorf("mean chunk size %d bytes over %d chunks, want near %d", avg, len(chunks), smallCDC.Avg)
	}
}

// TestCDCResyncsAfterInsert checks the property CDC exists for: after an
// insertion near the start, fixed chunks all shift and none match, while
// CDC boundaries return to the old ones and most chunks are shared.
func TestCDCResyncsAfterInsert(t *testing.T) {
	original := randomBytes(6, 1<<20)
	edited := append([]byte("inserted line\n"), original...)

	shared := func(p Params) float64 {
		old := make(map[string]bool)
		for _, c := range chunkAll(t, bytes.NewReader(original), p) {
			old[string(c)] = true
		}
		chunks := chunkAll(t, bytes.NewReader(edited), p)
		n := 0
		for _, c := range chunks {
			if old[string(c)] {
				n++
			}
		}
		return float64(n) / float64(len(chunks))
	}

	if got := shared(Params{Kind: Fixed, Size: 8 << 10}); got != 0 {
		t.Errorf("fixed: %.2f of the edited value's chunks match the original, want 0", got)
	}
	if got := shared(smallCDC); got < 0.9 {
		t.Errorf("cdc: %.2f of the edited value's chunks match the original, want at least 0.9", got)
	}
}

func TestChunkerReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, p := range []Params{{Kind: Fixed, Size: 4096}, smallCDC} {
		r := io.MultiReader(bytes.NewReader(randomBytes(7, 100)), iotest.ErrReader(boom))
		c, err := New(r, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Next(); !errors.Is(err, boom) {
			t.Errorf("%v: Next = %v, want the read error", p.Kind, err)
		}
		if _, err := c.Next(); !errors.Is(err, boom) {
			t.Errorf("%v: second Next = %v, want the same read error", p.Kind, err)
		}
	}
}

func TestChunkerEOFRepeats(t *testing.T) {
	for _, p := range []Params{{Kind: Fixed, Size: 4096}, smallCDC} {
		c, err := New(bytes.NewReader([]byte("abc")), p)
		if err != nil {
			t.Fatal(err)
		}
		if data, err := c.Next(); err != nil || string(data) != "abc" {
			t.Fatalf("%v: Next = %q, %v; want \"abc\"", p.Kind, data, err)
		}
		for i := 0; i < 2; i++ {
			if _, err := c.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("%v: Next after the end = %v, want io.EOF", p.Kind, err)
			}
		}
	}
}

// TestChunkersConcurrent runs CDC chunkers in parallel while others are
// created; under -race it checks the lock around fastcdc-go's shared table.
func TestChunkersConcurrent(t *testing.T) {
	data := randomBytes(8, 256<<10)
	want := chunkAll(t, bytes.NewReader(data), smallCDC)

	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				got, err := cutAll(bytes.NewReader(data), smallCDC)
				if err != nil {
					t.Errorf("concurrent chunker: %v", err)
					return
				}
				if !slices.EqualFunc(got, want, bytes.Equal) {
					t.Errorf("concurrent chunker cut %d chunks, want the %d of a lone one", len(got), len(want))
					return
				}
			}
		}()
	}
	wg.Wait()
}
