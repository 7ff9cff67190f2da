package quicnet

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/wire"
)

// TestPartialFramesBoundMemory has one peer open every request stream a
// connection allows, announce a frame of the maximum size on each and send
// all but its last byte. The transport must buffer no more than
// MaxBufferedPerConn for the peer's frames, leave the rest unread in
// QUIC's flow-control window of 16 MiB, and keep serving other peers.
func TestPartialFramesBoundMemory(t *testing.T) {
	n := newNode(t, func(c *Config) { c.RequestTimeout = time.Minute })
	other := newNode(t, nil)
	qc := newRawEndpoint(t).dialValid(t, n)
	frame := appendFrame(make([]byte, wire.MaxMessageSize))
	partial := frame[:len(frame)-1]
	before := heapAlloc()

	var streams []*quic.Stream
	for {
		s, err := qc.OpenStream()
		if err != nil {
			break // the stream limit is reached
		}
		streams = append(streams, s)
	}
	// The writes of frames that the transport does not read stall on
	// flow control until the deadline. Three seconds let loopback fill
	// every window many times over.
	done := make(chan error, len(streams))
	for _, s := range streams {
		go func() {
			s.SetWriteDeadline(time.Now().Add(3 * time.Second))
			_, err := s.Write(partial)
			done <- err
		}()
	}
	stalled := 0
	for range streams {
		err := <-done
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			stalled++
		case err != nil:
			t.Fatalf("write partial frame: %v", err)
		}
	}

	grown := int64(heapAlloc()) - int64(before)
	const limit = 32 << 20
	t.Logf("%d streams with %d KiB each, %d stalled, grew the heap by %d MiB",
		len(streams), len(partial)>>10, stalled, grown>>20)
	if grown > limit {
		t.Errorf("one peer made the transport hold %d MiB, want under %d MiB", grown>>20, limit>>20)
	}
	if stalled == 0 {
		t.Error("every partial frame was read, want the writes beyond the budget to stall")
	}
	if got := n.Stats().Buffered; got != DefaultMaxBufferedPerConn {
		t.Errorf("transport reserved %d bytes for the peer's frames, want its connection budget of %d", got, DefaultMaxBufferedPerConn)
	}

	ping(t, other, n.contact())
	qc.CloseWithError(0, "done")
	waitFor(t, "the reservations of the closed connection to be released", func() bool { return n.Stats().Buffered == 0 })
}

func heapAlloc() uint64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}
