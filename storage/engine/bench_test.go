package engine

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/yuinet/yui/storage/erasure"
)

var benchSizes = []int{100, 64 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func benchValue(size int) []byte {
	rng := rand.New(rand.NewPCG(uint64(size), 1))
	v := make([]byte, size)
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	return v
}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPebbleSyncedSet measures Pebble itself, without this package:
// one writer, each Set committed with pebble.Sync on a store in a temporary
// folder. It is the baseline for ShardStore's numbers.
func BenchmarkPebbleSyncedSet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			db := openDisk(b, b.TempDir())
			value := benchValue(size)
			key := make([]byte, 8)
			b.SetBytes(int64(size))
			i := uint64(0)
			for b.Loop() {
				binary.BigEndian.PutUint64(key, i)
				i++
				if err := db.db.Set(key, value, pebble.Sync); err != nil {
					b.Fatal(err)
				}
			}
			reportOps(b)
		})
	}
}

// BenchmarkPebbleSyncedSetParallel is BenchmarkPebbleSyncedSet with
// concurrent writers (GOMAXPROCS × 8 goroutines), whose commits Pebble
// groups into shared fsyncs.
func BenchmarkPebbleSyncedSetParallel(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			db := openDisk(b, b.TempDir())
			value := benchValue(size)
			var next atomic.Uint64
			b.SetBytes(int64(size))
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				key := make([]byte, 8)
				for pb.Next() {
					binary.BigEndian.PutUint64(key, next.Add(1))
					if err := db.db.Set(key, value, pebble.Sync); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportOps(b)
		})
	}
}

// benchShard returns a shard of a 1 MiB chunk coded with DefaultParams,
// 64 KiB of payload.
func benchShard(b *testing.B) erasure.Shard {
	shards, err := erasure.Encode(erasure.DefaultParams, benchValue(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	return shards[0]
}

// BenchmarkShardStorePut measures synced puts of 64 KiB shards under new
// chunk IDs from one writer, to compare with BenchmarkPebbleSyncedSet/64KiB.
func BenchmarkShardStorePut(b *testing.B) {
	s := newStore(b, openDisk(b, b.TempDir()))
	shard := benchShard(b)
	b.SetBytes(int64(len(shard.Payload)))
	i := 0
	for b.Loop() {
		if err := s.Put(chunkID(fmt.Sprint(i)), shard); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportOps(b)
}

// BenchmarkShardStoreGet measures reads of 64 KiB shards, hash check
// included, from a store of 64 shards that fits in the block cache.
func BenchmarkShardStoreGet(b *testing.B) {
	s := newStore(b, openDisk(b, b.TempDir()))
	shard := benchShard(b)
	const stored = 64
	for i := range stored {
		if err := s.Put(chunkID(fmt.Sprint(i)), shard); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(shard.Payload)))
	i := 0
	for b.Loop() {
		if _, err := s.Get(chunkID(fmt.Sprint(i%stored)), 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportOps(b)
}
