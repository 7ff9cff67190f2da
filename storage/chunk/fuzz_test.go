package chunk

import (
	"bytes"
	"testing"
	"testing/iotest"
)

// fuzzParams turns fuzzer bytes into valid small Params, so that chunk
// boundaries, minimums and maximums are all reached on short inputs.
func fuzzParams(kind, a, b uint16) Params {
	if kind%2 == 0 {
		return Params{Kind: Fixed, Size: MinChunkSize + int(a%4096)}
	}
	min := MinChunkSize + int(a%1024)
	avg := min + 1 + int(b%2048)
	return Params{Kind: CDC, Min: min, Avg: avg, Max: avg + 1 + int(a%4096)}
}

// FuzzChunker checks that for any input and sizes the chunks join back to
// the input and stay within their bounds, for whole and one-byte reads.
// With the default -fuzzminimizetime the fuzzer spends most of its time
// minimizing large new inputs; -fuzzminimizetime=2s keeps it executing.
func FuzzChunker(f *testing.F) {
	f.Add([]byte{}, uint16(0), uint16(0), uint16(0))
	f.Add(bytes.Repeat([]byte{0}, 5000), uint16(1), uint16(10), uint16(100))
	f.Add(randomBytes(13, 20000), uint16(1), uint16(0), uint16(0))
	f.Add(randomBytes(14, 9000), uint16(0), uint16(4000), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, kind, a, b uint16) {
		p := fuzzParams(kind, a, b)
		if err := p.Validate(); err != nil {
			t.Fatalf("fuzzParams made invalid %+v: %v", p, err)
		}
		for _, r := range []*bytes.Reader{bytes.NewReader(data), bytes.NewReader(data)} {
			chunks := chunkAll(t, r, p)
			if !bytes.Equal(bytes.Join(chunks, nil), data) {
				t.Fatalf("%+v: chunks do not join to the input", p)
			}
			checkSizes(t, chunks, p)
		}
		chunks := chunkAll(t, iotest.OneByteReader(bytes.NewReader(data)), p)
		if !bytes.Equal(bytes.Join(chunks, nil), data) {
			t.Fatalf("%+v: chunks from one-byte reads do not join to the input", p)
		}
	})
}

// FuzzOpen feeds Open arbitrary references and ciphertexts: it must return
// an error, never panic, and never accept anything but a real sealed chunk.
func FuzzOpen(f *testing.F) {
	ref, sealed, err := Seal(secretA, []byte("21,21;37,5"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref.ID[:], ref.Key[:], ref.Size, sealed)
	f.Add(ref.ID[:], ref.Key[:], ref.Size, sealed[:5])
	f.Add([]byte{}, []byte{}, uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, id, key []byte, size uint32, sealed []byte) {
		var r Ref
		copy(r.ID[:], id)
		copy(r.Key[:], key)
		r.Size = size
		plaintext, err := Open(r, sealed)
		if err != nil {
			return
		}
		// Anything Open accepts must re-seal to the same chunk.
		if len(plaintext) != int(size) {
			t.Fatalf("Open accepted %d bytes for size %d", len(plaintext), size)
		}
		resealed := newGCM(r.Key).Seal(nil, zeroNonce[:], plaintext, nil)
		if !bytes.Equal(resealed, sealed) {
			t.Fatal("Open accepted a ciphertext that does not re-encrypt to itself")
		}
	})
}
