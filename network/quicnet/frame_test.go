package quicnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

func header(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

func encodeFrame(t testing.TB, request uint64, msg wire.Message) []byte {
	t.Helper()
	body, err := wire.Encode(request, msg)
	if err != nil {
		t.Fatal(err)
	}
	return appendFrame(body)
}

// invalidNodes returns a Nodes message that encodes but fails validation.
func invalidNodes() *wire.Nodes {
	c := wire.Contact{ID: identity.KeyID([]byte("x")), Addr: netip.MustParseAddrPort("127.0.0.1:1")}
	m := &wire.Nodes{}
	for range wire.MaxContacts + 1 {
		m.Contacts = append(m.Contacts, c)
	}
	return m
}

func TestReadMessage(t *testing.T) {
	ping := encodeFrame(t, 7, &wire.Ping{})
	tests := []struct {
		name   string
		input  []byte
		reason DropReason // empty for a valid frame
	}{
		{"valid", ping, ""},
		{"valid with trailing bytes", append(append([]byte{}, ping...), 0xff), ""},
		{"empty stream", nil, DropTruncated},
		{"short header", []byte{0, 0}, DropTruncated},
		{"header over limit", header(wire.MaxMessageSize + 1), DropTooLarge},
		{"max header", header(0xffffffff), DropTooLarge},
		{"short body", append(header(100), make([]byte, 10)...), DropTruncated},
		{"zero length", header(0), DropMalformed},
		{"garbage body", append(header(4), 0xff, 0xff, 0xff, 0xff), DropMalformed},
		{"invalid message", encodeFrame(t, 1, invalidNodes()), DropInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request, msg, size, reason, err := readMessage(context.Background(), bytes.NewReader(tt.input), nil)
			if reason != tt.reason {
				t.Fatalf("reason = %q (error %v), want %q", reason, err, tt.reason)
			}
			if tt.reason != "" {
				return
			}
			if err != nil {
				t.Fatalf("readMessage: %v", err)
			}
			if request != 7 || msg.Type() != wire.TypePing {
				t.Errorf("got request %d of type %v, want request 7 of type %v", request, msg.Type(), wire.TypePing)
			}
			if size != len(ping) {
				t.Errorf("size = %d, want %d", size, len(ping))
			}
		})
	}
}

// FuzzReadFrame feeds arbitrary stream contents to the frame reader and
// the decoder, which must reject them with a reason and never panic.
func FuzzReadFrame(f *testing.F) {
	for _, msg := range []wire.Message{&wire.Ping{}, &wire.Pong{Observed: netip.MustParseAddrPort("127.0.0.1:4717")},
		&wire.FindNode{Target: identity.KeyID([]byte("t"))}, &wire.Error{Code: wire.CodeBadRequest, Message: "no"}} {
		f.Add(encodeFrame(f, 3, msg))
	}
	f.Add(header(wire.MaxMessageSize + 1))
	f.Add(append(header(100), 1, 2, 3))
	f.Add([]byte{0xff, 0xff})

	f.Fuzz(func(t *testing.T, data []byte) {
		request, msg, size, reason, err := readMessage(context.Background(), bytes.NewReader(data), nil)
		if err != nil {
			if reason == "" {
				t.Fatalf("error %v without a drop reason", err)
			}
			return
		}
		if size > frameHeaderLen+wire.MaxMessageSize || size > len(data) {
			t.Fatalf("size %d exceeds the limit or the input of %d bytes", size, len(data))
		}

		// A message that decoded must survive another round trip.
		again, err := wire.Encode(request, msg)
		if err != nil {
			t.Fatalf("re-encode %v: %v", msg.Type(), err)
		}
		request2, msg2, err := wire.Decode(again)
		if err != nil {
			t.Fatalf("decode re-encoded %v: %v", msg.Type(), err)
		}
		if request2 != request || !reflect.DeepEqual(msg2, msg) {
			t.Fatalf("round trip changed %#v into %#v", msg, msg2)
		}
	})
}

// wantStreamReset checks that a raw request ended with the server
// resetting the stream as rejected.
func wantStreamReset(t *testing.T, err error) {
	t.Helper()
	var streamErr *quic.StreamError
	if !errors.As(err, &streamErr) || !streamErr.Remote || streamErr.ErrorCode != streamRejected {
		t.Errorf("raw request ended with %v, want the server to reset the stream with code %d", err, streamRejected)
	}
}

func TestBadFramesDropped(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		reason DropReason
	}{
		{"oversized", header(wire.MaxMessageSize + 1), DropTooLarge},
		{"truncated", append(header(100), make([]byte, 10)...), DropTruncated},
		{"garbage", append(header(8), bytes.Repeat([]byte{0xff}, 8)...), DropMalformed},
		{"invalid message", encodeFrame(t, 1, invalidNodes()), DropInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newNode(t, nil)
			good := newNode(t, nil)
			raw := newRawEndpoint(t).dialValid(t, server)

			wantStreamReset(t, sendRaw(t, raw, tt.frame))
			if got := server.Stats().Dropped[tt.reason]; got != 1 {
				t.Errorf("server counted %d drops as %q, want 1", got, tt.reason)
			}

			// The same garbage on a one-way stream is dropped too.
			s, err := raw.OpenUniStream()
			if err != nil {
				t.Fatal(err)
			}
			s.Write(tt.frame)
			s.Close()
			waitFor(t, "the one-way drop to be counted", func() bool { return server.Stats().Dropped[tt.reason] == 2 })

			// The server still serves valid requests on the same
			// connection and from other peers.
			if err := sendRaw(t, raw, encodeFrame(t, 9, &wire.Ping{})); err != nil {
				t.Errorf("valid raw request after garbage: %v", err)
			}
			ping(t, good, server.contact())
			if got := server.requests.Load(); got != 2 {
				t.Errorf("server handled %d requests, want 2", got)
			}
		})
	}
}

func TestSlowFrameTimesOut(t *testing.T) {
	server := newNode(t, func(cfg *Config) { cfg.RequestTimeout = 200 * time.Millisecond })
	raw := newRawEndpoint(t).dialValid(t, server)

	s, err := raw.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := s.Write(header(100)); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(s) // the rest of the frame never comes
	wantStreamReset(t, err)
	if got := server.Stats().Dropped[DropTimeout]; got != 1 {
		t.Errorf("server counted %d drops as %q, want 1", got, DropTimeout)
	}
	if raw.Context().Err() != nil {
		t.Errorf("a slow frame closed the connection: %v", context.Cause(raw.Context()))
	}
}

func TestBadPeerDisconnected(t *testing.T) {
	const limit = 3
	server := newNode(t, func(cfg *Config) { cfg.MaxInvalid = limit })
	good := newNode(t, nil)
	raw := newRawEndpoint(t).dialValid(t, server)
	garbage := append(header(8), bytes.Repeat([]byte{0xff}, 8)...)

	for range limit {
		wantStreamReset(t, sendRaw(t, raw, garbage))
	}
	if err := raw.Context().Err(); err != nil {
		t.Fatalf("connection closed after %d invalid messages, the limit: %v", limit, context.Cause(raw.Context()))
	}

	sendRaw(t, raw, garbage)
	<-raw.Context().Done()
	var appErr *quic.ApplicationError
	if err := context.Cause(raw.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != codeBadPeer {
		t.Errorf("connection closed with %v, want application error %d", err, codeBadPeer)
	}
	if got := server.Stats().BadPeers; got != 1 {
		t.Errorf("server counted %d bad peers, want 1", got)
	}
	waitFor(t, "the server to forget the connection", func() bool { return server.Stats().Conns == 0 })
	ping(t, good, server.contact())
}

func TestInvalidRequestRejected(t *testing.T) {
	a := newNode(t, nil)
	b := newNode(t, nil)

	_, err := a.Request(context.Background(), b.contact(), invalidNodes())
	var streamErr *quic.StreamError
	if !errors.As(err, &streamErr) || streamErr.ErrorCode != streamRejected {
		t.Errorf("Request error = %v, want the stream rejected", err)
	}
	if got := b.Stats().Dropped[DropInvalid]; got != 1 {
		t.Errorf("b counted %d invalid messages, want 1", got)
	}
	ping(t, a, b.contact())
}
