package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testParams covers replication, small and wide codes, no parity, and the
// largest code reedsolomon builds over GF(2^8).
var testParams = []Params{
	{Data: 1, Parity: 0},
	Replication(3),
	{Data: 2, Parity: 1},
	{Data: 4, Parity: 2},
	{Data: 5, Parity: 0},
	{Data: 6, Parity: 3},
	{Data: 8, Parity: 4},
	{Data: 10, Parity: 10},
	DefaultParams,
	{Data: 32, Parity: 16},
	{Data: 200, Parity: 56},
}

// testSizes includes the empty chunk, a single byte, sizes not divisible by
// common Data values, and sizes around powers of two.
var testSizes = []int{0, 1, 2, 3, 7, 63, 64, 65, 1000, 4097, 65537}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func mustEncode(t testing.TB, p Params, data []byte) []Shard {
	t.Helper()
	shards, err := Encode(p, data)
	if err != nil {
		t.Fatalf("Encode(%v, %d bytes): %v", p, len(data), err)
	}
	return shards
}

// cloneShards deep-copies shards so a test can damage them.
func cloneShards(shards []Shard) []Shard {
	out := make([]Shard, len(shards))
	for i, s := range shards {
		out[i] = s
		out[i].Payload = bytes.Clone(s.Payload)
	}
	return out
}

func without(shards []Shard, drop ...int) []Shard {
	var out []Shard
	for _, s := range shards {
		if !slices.Contains(drop, s.Index) {
			out = append(out, s)
		}
	}
	return out
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range testParams {
		for _, size := range testSizes {
			t.Run(fmt.Sprintf("%v/%d", p, size), func(t *testing.T) {
				data := randomBytes(rng, size)
				shards := mustEncode(t, p, data)
				if len(shards) != p.Total() {
					t.Fatalf("got %d shards, want %d", len(shards), p.Total())
				}
				for i, s := range shards {
					if s.Index != i || s.Params != p || s.Size != size {
						t.Fatalf("shard %d header = (%d, %v, %d)", i, s.Index, s.Params, s.Size)
					}
					if err := s.Verify(); err != nil {
						t.Fatalf("fresh shard fails Verify: %v", err)
					}
				}

				got, bad, err := Decode(shards)
				if err != nil {
					t.Fatalf("Decode(all): %v", err)
				}
				if len(bad) != 0 {
					t.Errorf("Decode(all) reported bad shards: %v", bad)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("Decode(all) returned different bytes")
				}

				// Only the last Data shards: as many parity shards as exist,
				// so data shards must be rebuilt.
				got, _, err = Decode(shards[p.Parity:])
				if err != nil {
					t.Fatalf("Decode(last %d): %v", p.Data, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("Decode(last %d) returned different bytes", p.Data)
				}
			})
		}
	}
}

func TestEncodeDoesNotAliasInput(t *testing.T) {
	data := []byte("abcdefgh")
	for _, p := range []Params{Replication(2), {Data: 2, Parity: 1}} {
		shards := mustEncode(t, p, data)
		data[0] = 'X'
		if err := shards[0].Verify(); err != nil {
			t.Errorf("%v: changing the input changed a shard: %v", p, err)
		}
		data[0] = 'a'
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		size int
		want error
	}{
		{"zero data shards", Params{Data: 0, Parity: 2}, 10, ErrInvalidParams},
		{"negative parity", Params{Data: 2, Parity: -1}, 10, ErrInvalidParams},
		{"too many shards", Params{Data: 200, Parity: 57}, 10, ErrInvalidParams},
		{"chunk too large", Params{Data: 2, Parity: 1}, 2*MaxShardSize + 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.p, make([]byte, tt.size))
			if err == nil {
				t.Fatal("Encode succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %v", err, tt.want)
			}
		})
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		p       Params
		wantErr string // substring; empty for valid
	}{
		{Params{Data: 1, Parity: 0}, ""},
		{Params{Data: 16, Parity: 16}, ""},
		{Params{Data: 128, Parity: 128}, ""},
		{Params{Data: 0, Parity: 4}, "Data is 0"},
		{Params{Data: -3, Parity: 4}, "Data is -3"},
		{Params{Data: 4, Parity: -1}, "Parity is -1"},
		{Params{Data: 129, Parity: 128}, "257 shards"},
		{Params{Data: 1 << 62, Parity: 1 << 62}, "at most 256"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tt.p, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("%v: Validate succeeded", tt.p)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("%v: error %q does not mention %q", tt.p, err, tt.wantErr)
		case tt.wantErr != "" && !errors.Is(err, ErrInvalidParams):
			t.Errorf("%v: error %q does not wrap ErrInvalidParams", tt.p, err)
		}
	}
}

func TestParamsString(t *testing.T) {
	if got := Replication(3).String(); got != "replication 3" {
		t.Errorf("Replication(3).String() = %q", got)
	}
	if got := DefaultParams.String(); got != "31+17" {
		t.Errorf("DefaultParams.String() = %q", got)
	}
}

// subsets calls fn with every subset of 0..n-1 that has at most max
// elements.
func subsets(n, max int, fn func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		fn(cur)
		if len(cur) == max {
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

func TestDecodeEveryMissingSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range []Params{Replication(3), {Data: 4, Parity: 2}, {Data: 6, Parity: 3}, {Data: 5, Parity: 4}} {
		data := randomBytes(rng, 1001)
		shards := mustEncode(t, p, data)
		count := 0
		subsets(p.Total(), p.Parity, func(missing []int) {
			count++
			got, _, err := Decode(without(shards, missing...))
			if err != nil {
				t.Fatalf("%v without %v: %v", p, missing, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%v without %v: wrong bytes", p, missing)
			}
		})
		if count < 2 {
			t.Fatalf("%v: only %d missing sets tried", p, count)
		}
	}
}

func TestDecodeRandomMissingWide(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range []Params{DefaultParams, {Data: 32, Parity: 16}, {Data: 200, Parity: 56}} {
		data := randomBytes(rng, 100_003)
		shards := mustEncode(t, p, data)
		for trial := 0; trial < 20; trial++ {
			order := rng.Perm(p.Total())
			kept := make([]Shard, 0, p.Data)
			for _, i := range order[:p.Data] {
				kept = append(kept, shards[i])
			}
			got, _, err := Decode(kept)
			if err != nil {
				t.Fatalf("%v from %v: %v", p, order[:p.Data], err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%v from %v: wrong bytes", p, order[:p.Data])
			}
		}
	}
}

func TestDecodeTooFewNamesMissing(t *testing.T) {
	p := Params{Data: 4, Parity: 2}
	shards := mustEncode(t, p, []byte("some chunk bytes"))

	_, _, err := Decode(without(shards, 0, 3, 5))
	if !errors.Is(err, ErrTooFewShards) {
		t.Fatalf("error %v does not wrap ErrTooFewShards", err)
	}
	var tf *TooFewShardsError
	if !errors.As(err, &tf) {
		t.Fatalf("error %T is not a *TooFewShardsError", err)
	}
	if tf.Params != p {
		t.Errorf("Params = %v, want %v", tf.Params, p)
	}
	if tf.Have != 3 {
		t.Errorf("Have = %d, want 3", tf.Have)
	}
	if want := []int{0, 3, 5}; !slices.Equal(tf.Missing, want) {
		t.Errorf("Missing = %v, want %v", tf.Missing, want)
	}
	if msg := err.Error(); !strings.Contains(msg, "need 1 more") || !strings.Contains(msg, "missing 0 3 5") {
		t.Errorf("message %q does not say what is needed", msg)
	}
}

func TestDecodeNoShards(t *testing.T) {
	_, _, err := Decode(nil)
	var tf *TooFewShardsError
	if !errors.As(err, &tf) {
		t.Fatalf("Decode(nil) error = %v, want *TooFewShardsError", err)
	}
	if tf.Params != (Params{}) || tf.Missing != nil {
		t.Errorf("got %+v, want unknown params and no missing list", tf)
	}
}

func TestDecodeSkipsCorruptShard(t *testing.T) {
	p := Params{Data: 4, Parity: 2}
	data := bytes.Repeat([]byte("0123456789"), 100)
	shards := cloneShards(mustEncode(t, p, data))
	shards[2].Payload[17] ^= 0x01

	got, bad, err := Decode(shards)
	if err != nil {
		t.Fatalf("Decode with one corrupt shard: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("Decode used the corrupt shard: wrong bytes")
	}
	if len(bad) != 1 || bad[0].Index != 2 || !errors.Is(bad[0].Err, ErrCorrupt) {
		t.Fatalf("bad = %v, want shard 2 with ErrCorrupt", bad)
	}
}

func TestDecodeTooManyCorruptNamesThem(t *testing.T) {
	p := Params{Data: 4, Parity: 2}
	shards := cloneShards(mustEncode(t, p, bytes.Repeat([]byte{7}, 400)))
	for _, i := range []int{1, 4, 5} {
		shards[i].Payload[0] ^= 0x80
	}

	_, bad, err := Decode(shards)
	var tf *TooFewShardsError
	if !errors.As(err, &tf) {
		t.Fatalf("error = %v, want *TooFewShardsError", err)
	}
	if want := []int{1, 4, 5}; !slices.Equal(tf.Missing, want) {
		t.Errorf("Missing = %v, want %v", tf.Missing, want)
	}
	var badIndexes []int
	for _, b := range bad {
		badIndexes = append(badIndexes, b.Index)
	}
	if want := []int{1, 4, 5}; !slices.Equal(badIndexes, want) {
		t.Errorf("bad indexes = %v, want %v", badIndexes, want)
	}
	for _, name := range []string{"shard 1 ", "shard 4 ", "shard 5 ", "hash mismatch"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("message %q does not mention %q", err, name)
		}
	}
}

func TestDecodeDetectsHeaderTampering(t *testing.T) {
	p := Params{Data: 4, Parity: 2}
	shards := mustEncode(t, p, bytes.Repeat([]byte("x"), 40))

	tests := []struct {
		name   string
		tamper func(*Shard)
	}{
		{"index", func(s *Shard) { s.Index = 5 }},
		{"size", func(s *Shard) { s.Size = 39 }},
		{"params", func(s *Shard) { s.Params = Params{Data: 4, Parity: 3} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneShards(shards)[0]
			tt.tamper(&s)
			if err := s.Verify(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestDecodeMixedChunksKeepsMajority(t *testing.T) {
	p := Params{Data: 2, Parity: 2}
	a := mustEncode(t, p, []byte("chunk A, twenty bytes"))
	b := mustEncode(t, p, []byte("chunk B is longer: 27 bytes"))
	mixed := []Shard{b[3], a[0], a[1], a[2]}

	got, bad, err := Decode(mixed)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if string(got) != "chunk A, twenty bytes" {
		t.Errorf("decoded %q, want chunk A", got)
	}
	if len(bad) != 1 || bad[0].Index != 3 || !errors.Is(bad[0].Err, ErrMalformed) {
		t.Errorf("bad = %v, want shard 3 of chunk B as malformed", bad)
	}
}

func TestDecodeDuplicateIndexes(t *testing.T) {
	p := Params{Data: 3, Parity: 1}
	shards := mustEncode(t, p, []byte("nine byte"))

	// The same shard twice counts once.
	_, _, err := Decode([]Shard{shards[0], shards[0], shards[0], shards[1]})
	var tf *TooFewShardsError
	if !errors.As(err, &tf) || tf.Have != 2 {
		t.Fatalf("three copies of one shard plus one: err = %v, want Have 2", err)
	}
}

func TestReconstructMatchesEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, p := range testParams {
		for _, size := range []int{0, 1, 1000, 65537} {
			t.Run(fmt.Sprintf("%v/%d", p, size), func(t *testing.T) {
				shards := mustEncode(t, p, randomBytes(rng, size))
				lost := rng.Perm(p.Total())[:p.Parity]
				slices.Sort(lost)

				rebuilt, bad, err := Reconstruct(without(shards, lost...), lost)
				if err != nil {
					t.Fatalf("Reconstruct %v: %v", lost, err)
				}
				if len(bad) != 0 {
					t.Errorf("bad = %v", bad)
				}
				if len(rebuilt) != len(lost) {
					t.Fatalf("got %d shards, want %d", len(rebuilt), len(lost))
				}
				for i, index := range lost {
					if !reflect.DeepEqual(rebuilt[i], shards[index]) {
						t.Errorf("rebuilt shard %d differs from the encoded one", index)
					}
					if rebuilt[i].Hash != shards[index].Hash {
						t.Errorf("rebuilt shard %d has hash %x, want %x", index, rebuilt[i].Hash[:4], shards[index].Hash[:4])
					}
				}
			})
		}
	}
}

func TestReconstructSkipsCorrupt(t *testing.T) {
	p := Params{Data: 4, Parity: 2}
	shards := cloneShards(mustEncode(t, p, bytes.Repeat([]byte("abc"), 50)))
	want := shards[5]
	shards[0].Payload[3] ^= 0xff

	rebuilt, bad, err := Reconstruct(without(shards, 5), []int{5})
	if err != nil {
		t.Fatalf("Reconstruct: %v", err)
	}
	if len(bad) != 1 || bad[0].Index != 0 {
		t.Errorf("bad = %v, want shard 0", bad)
	}
	if !reflect.DeepEqual(rebuilt[0], want) {
		t.Error("rebuilt shard 5 differs from the encoded one")
	}
}

func TestReconstructRejects(t *testing.T) {
	p := Params{Data: 4, Parity: 2}
	shards := mustEncode(t, p, []byte("0123456789"))
	tests := []struct {
		name    string
		shards  []Shard
		indexes []int
		want    string
	}{
		{"index out of range", shards, []int{6}, "indexes 0..5"},
		{"negative index", shards, []int{-1}, "shard -1"},
		{"duplicate index", shards, []int{1, 1}, "twice"},
		{"too few shards", shards[:3], []int{4}, "need 1 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Reconstruct(tt.shards, tt.indexes)
			if err == nil {
				t.Fatal("Reconstruct succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestCodersConcurrent shares cached encoders between goroutines; run it
// with -race.
func TestCodersConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed))
			p := Params{Data: 6, Parity: 3}
			for i := 0; i < 50; i++ {
				data := randomBytes(rng, 1+rng.IntN(5000))
				shards, err := Encode(p, data)
				if err != nil {
					errs <- err
					return
				}
				got, _, err := Decode(shards[3:])
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, data) {
					errs <- fmt.Errorf("goroutine %d: wrong bytes", seed)
					return
				}
			}
		}(uint64(g))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
