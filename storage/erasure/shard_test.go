package erasure

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func encodeRaw(t testing.TB, e any) []byte {
	t.Helper()
	b, err := encMode.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalShardRoundTrip(t *testing.T) {
	for _, p := range []Params{Replication(2), {Data: 4, Parity: 2}, {Data: 128, Parity: 128}} {
		for _, size := range []int{0, 1, 999} {
			for _, s := range mustEncode(t, p, bytes.Repeat([]byte{0xab}, size)) {
				b, err := MarshalShard(s)
				if err != nil {
					t.Fatalf("MarshalShard(%v shard %d): %v", p, s.Index, err)
				}
				got, err := UnmarshalShard(b)
				if err != nil {
					t.Fatalf("UnmarshalShard(%v shard %d): %v", p, s.Index, err)
				}
				if !reflect.DeepEqual(got, s) {
					t.Fatalf("%v shard %d: round trip gave %+v, want %+v", p, s.Index, got, s)
				}
				if err := got.Verify(); err != nil {
					t.Fatalf("%v shard %d: Verify after round trip: %v", p, s.Index, err)
				}
			}
		}
	}
}

func TestMarshalShardLargestFits(t *testing.T) {
	p := Params{Data: 2, Parity: 1}
	shards := mustEncode(t, p, make([]byte, p.MaxChunkSize()))
	b, err := MarshalShard(shards[2])
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxEncodedShardSize {
		t.Fatalf("largest shard encodes to %d bytes, above MaxEncodedShardSize %d", len(b), MaxEncodedShardSize)
	}
	if _, err := UnmarshalShard(b); err != nil {
		t.Fatalf("UnmarshalShard(largest shard): %v", err)
	}
}

func TestMarshalShardRejectsInconsistentHeader(t *testing.T) {
	s := mustEncode(t, Params{Data: 2, Parity: 1}, []byte("abcd"))[0]
	s.Payload = s.Payload[:1]
	if _, err := MarshalShard(s); !errors.Is(err, ErrMalformed) {
		t.Fatalf("MarshalShard(short payload) = %v, want ErrMalformed", err)
	}
}

func TestUnmarshalShardRejects(t *testing.T) {
	good := mustEncode(t, Params{Data: 2, Parity: 1}, []byte("abcd"))[1]
	valid := func() encodedShard {
		return encodedShard{
			Version: FormatVersion, Index: uint16(good.Index), Data: 2, Parity: 1,
			Size: 4, Hash: good.Hash[:], Payload: good.Payload,
		}
	}
	with := func(change func(*encodedShard)) []byte {
		e := valid()
		change(&e)
		return encodeRaw(t, e)
	}
	goodBytes := encodeRaw(t, valid())

	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"garbage", []byte{0xff, 0x00, 0x13}},
		{"oversized", make([]byte, MaxEncodedShardSize+1)},
		{"trailing bytes", append(bytes.Clone(goodBytes), 0x00)},
		{"map instead of array", encodeRaw(t, map[string]int{"Index": 1})},
		{"too few fields", encodeRaw(t, []any{1, 2, 3})},
		{"too many fields", encodeRaw(t, []any{1, 0, 2, 1, 4, good.Hash[:], good.Payload, 9})},
		{"future version", with(func(e *encodedShard) { e.Version = 2 })},
		{"short hash", with(func(e *encodedShard) { e.Hash = e.Hash[:31] })},
		{"zero data shards", with(func(e *encodedShard) { e.Data = 0 })},
		{"too many shards", with(func(e *encodedShard) { e.Data, e.Parity = 200, 57 })},
		{"index out of range", with(func(e *encodedShard) { e.Index = 3 })},
		{"payload too short", with(func(e *encodedShard) { e.Payload = e.Payload[:1] })},
		{"size too large", with(func(e *encodedShard) { e.Size = 1 << 40 })},
		{"size beyond int", with(func(e *encodedShard) { e.Size = 1 << 63 })},
		{"negative index", encodeRaw(t, []any{1, -1, 2, 1, 4, good.Hash[:], good.Payload})},
		{"index above uint16", encodeRaw(t, []any{1, 1 << 16, 2, 1, 4, good.Hash[:], good.Payload})},
		{"tagged payload", encodeRaw(t, []any{1, 1, 2, 1, 4, good.Hash[:], cborTag{}})},
		{"simple value as number", append(bytes.Clone(goodBytes[:4]), append([]byte{0xe1}, goodBytes[5:]...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UnmarshalShard(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("UnmarshalShard = %v, want ErrMalformed", err)
			}
		})
	}

	if _, err := UnmarshalShard(goodBytes); err != nil {
		t.Fatalf("the unmodified input must decode: %v", err)
	}
}

// cborTag marshals as a CBOR tag, which shards must not contain.
type cborTag struct{}

func (cborTag) MarshalCBOR() ([]byte, error) {
	return []byte{0xc2, 0x41, 0x01}, nil // tag 2 (bignum) around one byte
}

func TestUnmarshalShardDoesNotAlias(t *testing.T) {
	b, err := MarshalShard(mustEncode(t, Replication(2), []byte("hello"))[0])
	if err != nil {
		t.Fatal(err)
	}
	s, err := UnmarshalShard(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if err := s.Verify(); err != nil {
		t.Fatalf("clearing the input changed the shard: %v", err)
	}
}

func FuzzUnmarshalShard(f *testing.F) {
	for _, p := range []Params{Replication(2), {Data: 3, Parity: 2}} {
		for _, s := range mustEncode(f, p, []byte("fuzz seed chunk")) {
			b, err := MarshalShard(s)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x87, 0x01, 0x00, 0x01, 0x00, 0x00, 0x58, 0x20})

	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalShard(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// A shard that decodes has a consistent header and survives a round
		// trip unchanged. The bytes may differ from b, because the decoder
		// accepts integers that are not in their shortest form.
		if err := s.checkHeader(); err != nil {
			t.Fatalf("decoded shard has an inconsistent header: %v", err)
		}
		again, err := MarshalShard(s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := UnmarshalShard(again)
		if err != nil {
			t.Fatalf("decode the re-encoding: %v", err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip changed the shard: %+v, want %+v", back, s)
		}
		if err := s.Verify(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Verify = %v, want nil or ErrCorrupt", err)
		}
	})
}

// TestShardHeaderSize backs the header size that docs/redundancy.md uses to
// argue for packing small records.
func TestShardHeaderSize(t *testing.T) {
	for _, size := range []int{0, 100, DefaultParams.MaxChunkSize()} {
		s := mustEncode(t, DefaultParams, make([]byte, size))[DefaultParams.Total()-1]
		b, err := MarshalShard(s)
		if err != nil {
			t.Fatal(err)
		}
		if header := len(b) - len(s.Payload); header > 64 {
			t.Errorf("chunk of %d bytes: shard header is %d bytes, more than 64", size, header)
		}
	}
}
