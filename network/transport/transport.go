// Package transport defines how nodes exchange messages, and holds an
// in-memory implementation for tests that run many nodes in one process.
//
// The QUIC implementation lives in package quicnet. Both deliver whole,
// authenticated messages: the sender of every message handed to a Handler
// has proved that it holds the key of the node ID it claims.
package transport

import (
	"context"
	"errors"
	"net/netip"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// Errors common to all transports.
var (
	// ErrClosed reports use of a transport after Close.
	ErrClosed = errors.New("transport: closed")
	// ErrUnreachable reports that no connection to the peer could be made.
	ErrUnreachable = errors.New("transport: peer unreachable")
	// ErrPeerMismatch reports a peer that proved a different ID than the
	// one the caller asked for.
	ErrPeerMismatch = errors.New("transport: peer ID mismatch")
	// ErrSelf reports an address at which this node itself answered.
	ErrSelf = errors.New("transport: address is this node's own")
)

// Peer is the authenticated sender of an incoming message.
type Peer struct {
	// ID is the node ID the peer proved during the handshake.
	ID identity.NodeID
	// Addr is the UDP address the message came from. Transports send from
	// their listening socket, so for peers not behind NAT this is also
	// the address they listen on.
	Addr netip.AddrPort
}

// Contact returns the peer as a wire contact.
func (p Peer) Contact() wire.Contact { return wire.Contact{ID: p.ID, Addr: p.Addr} }

// Handler serves incoming messages. For a request it returns the response
// (a *wire.Error to report failure); for a one-way message the result is
// ignored and may be nil. Handlers are called concurrently and must return
// promptly: ctx is cancelled when the peer goes away or the transport
// closes.
type Handler interface {
	HandleMessage(ctx context.Context, from Peer, msg wire.Message, isRequest bool) wire.Message
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, from Peer, msg wire.Message, isRequest bool) wire.Message

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, from Peer, msg wire.Message, isRequest bool) wire.Message {
	return f(ctx, from, msg, isRequest)
}

// Transport sends messages to other nodes.
//
// Request is reliable and ordered within one call: it either returns the
// peer's response or an error, and ctx bounds how long it waits. Send is
// best effort: a nil error means the message was handed to the network,
// not that the peer handled it. Both reuse a live connection to the peer
// where one exists. The peer at to.Addr must prove the ID to.ID, or the
// call fails with ErrPeerMismatch and the connection is closed.
type Transport interface {
	Request(ctx context.Context, to wire.Contact, req wire.Message) (wire.Message, error)
	Send(ctx context.Context, to wire.Contact, msg wire.Message) error
	// LocalAddr returns the UDP address the transport listens on.
	LocalAddr() netip.AddrPort
	// Close stops listening, closes every connection and waits for the
	// transport's goroutines; it is safe to call more than once.
	Close() error
}
