package sim

import (
	"math/rand/v2"
	"testing"
)

func TestQueueOrdersByTimeThenSequence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q eventQueue
	for seq := uint64(1); seq <= 5000; seq++ {
		// Few distinct times, so that many events tie.
		q.push(event{at: rng.Int64N(50), seq: seq})
	}

	prev := q.pop()
	for q.len() > 0 {
		ev := q.pop()
		if ev.at < prev.at {
			t.Fatalf("event at %d popped after one at %d", ev.at, prev.at)
		}
		if ev.at == prev.at && ev.seq < prev.seq {
			t.Fatalf("events at %d popped in sequence %d after %d", ev.at, ev.seq, prev.seq)
		}
		prev = ev
	}
}

func TestQueueInterleavedPushAndPop(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var q eventQueue
	var seq uint64
	now := int64(0)
	for range 20_000 {
		if q.len() == 0 || rng.IntN(3) > 0 {
			seq++
			// Like the simulator, schedule only at or after the current time.
			q.push(event{at: now + rng.Int64N(100), seq: seq})
			continue
		}
		ev := q.pop()
		if ev.at < now {
			t.Fatalf("popped event at %d after time %d", ev.at, now)
		}
		now = ev.at
	}
}
