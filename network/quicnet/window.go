package quicnet

import "github.com/yuinet/yui/network/wire"

// Flow-control windows. quic-go starts a window at its initial size and
// grows it up to its maximum as data is read. The maximum stream window
// exceeds wire.MaxMessageSize so that a frame of the maximum size fits in
// one window, and the maximum connection window caps the memory one peer
// can fill with unread data.
//
// The initial stream window is small because of the frame budgets. A
// stream whose frame waits for budget reads nothing more, so the data the
// peer already sent on it stays unread in the connection window. If those
// waiting streams filled the connection window, the streams holding
// budget could not receive the rest of their frames, and the connection
// would stall until RequestTimeout. A stream that reads only its 4-byte
// header does not grow its window, so each waiting stream holds at most
// streamWindowInitial, and connectionWindows starts the connection window
// above the sum of them.
const (
	streamWindowInitial = 64 << 10
	streamWindow        = 4 << 20
	connectionWindow    = 16 << 20
)

// connectionWindows returns the initial and maximum connection windows
// for a transport that allows maxStreams streams of each kind per
// connection. Streams can wait for budget in three groups of maxStreams:
// the peer's request streams, its one-way streams and the responses to
// this node's requests, of which a peer with the same configuration
// allows maxStreams. The initial window leaves room for one frame of the
// maximum size beyond what all of them can hold.
//
// NOTE: quic-go holds a received STREAM frame of 128 bytes or more in a
// packet-sized buffer, so unread data from a peer that sends tiny frames
// takes up to about 11 times its size in memory.
func connectionWindows(maxStreams int) (initial, maximum uint64) {
	waiting := 3 * uint64(maxStreams) * streamWindowInitial
	initial = waiting + wire.MaxMessageSize
	return initial, max(initial, connectionWindow)
}
