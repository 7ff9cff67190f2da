package erasure

import (
	"math/rand/v2"
	"testing"
)

var benchParams = []Params{Replication(3), {Data: 4, Parity: 2}, {Data: 8, Parity: 4}, DefaultParams, {Data: 32, Parity: 16}}

// BenchmarkEncode measures Encode of a 1 MiB chunk, hashing included.
// MB/s counts chunk bytes, not stored bytes.
func BenchmarkEncode(b *testing.B) {
	data := randomBytes(rand.New(rand.NewPCG(1, 1)), 1<<20)
	for _, p := range benchParams {
		b.Run(p.String(), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Encode(p, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode measures Decode of a 1 MiB chunk with all shards present
// and with the first Parity shards missing, the worst case because data
// shards must then be rebuilt from parity.
func BenchmarkDecode(b *testing.B) {
	data := randomBytes(rand.New(rand.NewPCG(2, 2)), 1<<20)
	for _, p := range benchParams {
		shards := mustEncode(b, p, data)
		for _, c := range []struct {
			name   string
			shards []Shard
		}{
			{"all", shards},
			{"parity-missing", shards[p.Parity:]},
		} {
			b.Run(p.String()+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, _, err := Decode(c.shards); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
