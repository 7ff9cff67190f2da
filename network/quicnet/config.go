package quicnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// DefaultPort is the UDP port a node listens on when its address names
// no port.
const DefaultPort = 4717

// Defaults for the zero values of Config fields.
const (
	DefaultNetwork         = "default"
	DefaultRequestTimeout  = 10 * time.Second
	DefaultIdleTimeout     = time.Minute
	DefaultMaxConns        = 1024
	DefaultMaxConnsPerPeer = 2
	DefaultMaxConnsPerIP   = 64
	DefaultMaxStreams      = 64
	DefaultMaxInvalid      = 16

	DefaultMaxBuffered        = 128 * wire.MaxMessageSize // 256 MiB
	DefaultMaxBufferedPerIP   = 16 * wire.MaxMessageSize  // 32 MiB
	DefaultMaxBufferedPerConn = 2 * wire.MaxMessageSize   // 4 MiB
)

// handshakeTimeout bounds a QUIC handshake, dialing or accepting.
const handshakeTimeout = 5 * time.Second

// maxNetworkName is the longest network name, in bytes. The name goes into
// the TLS ALPN protocol name, which may not exceed 255 bytes.
const maxNetworkName = 64

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("quicnet: invalid config")

// Config configures a Transport. The zero value of an optional field
// selects its default.
type Config struct {
	// Identity is the node's key pair; its certificate is made from it.
	// Required.
	Identity *identity.Identity

	// Addr is the UDP address to listen on: "host:port", "host", ":port"
	// or "". A missing host listens on every interface and a missing port
	// selects DefaultPort. "[::]:port" also accepts IPv4 where the
	// operating system allows dual-stack sockets.
	Addr string

	// Fallback makes Listen take a free port on the same host when the
	// requested port is in use, and log the port it took.
	Fallback bool

	// Network is the name of the overlay this node belongs to. It is part
	// of the TLS ALPN protocol name, so nodes of different networks fail
	// the handshake. At most 64 printable ASCII bytes without spaces.
	// Default DefaultNetwork.
	Network string

	// Handler serves incoming messages. A nil Handler responds to every
	// request with a wire.Error of code CodeUnsupported and drops one-way
	// messages.
	Handler transport.Handler

	// Logger receives the transport's logs. Nil discards them.
	Logger *slog.Logger

	// RequestTimeout bounds a request whose context has no deadline, and
	// on the serving side the time to read a request, handle it and write
	// the response. Default DefaultRequestTimeout.
	RequestTimeout time.Duration

	// IdleTimeout is how long a connection may carry no stream before it
	// is closed. While streams are open, both sides send keep-alive
	// packets every IdleTimeout/2, and a peer that sends no packet for
	// twice IdleTimeout is considered gone. Default DefaultIdleTimeout.
	IdleTimeout time.Duration

	// MaxConns is the number of open connections at which an incoming
	// connection makes the transport close the least recently used idle
	// connection, or reject the incoming one if every connection has
	// streams in progress. Dials are not refused, because the node's own
	// callers bound them, so the count may exceed MaxConns. Default
	// DefaultMaxConns.
	MaxConns int

	// MaxConnsPerPeer is the number of incoming connections one node ID
	// may keep open: one in use, and one more while the peer reconnects
	// after a restart and its old connection has not yet timed out. A
	// connection beyond it closes the peer's least recently used idle
	// connection, or is rejected if all of them have streams in progress.
	// Default DefaultMaxConnsPerPeer.
	MaxConnsPerPeer int

	// MaxConnsPerIP is the number of incoming connections that one IPv4
	// address or one IPv6 /64 prefix may keep open, whatever node IDs they
	// prove, handled like MaxConnsPerPeer. It must leave room for every
	// node behind one NAT, or on one host. Default DefaultMaxConnsPerIP.
	MaxConnsPerIP int

	// MaxStreams is the maximum number of concurrent streams a peer may
	// open on one connection, for requests and for one-way messages each.
	// Default DefaultMaxStreams.
	MaxStreams int

	// MaxInvalid is the number of invalid messages after which a peer's
	// connection is closed. Default DefaultMaxInvalid.
	MaxInvalid int

	// MaxBufferedPerConn, MaxBufferedPerIP and MaxBuffered bound the bytes
	// of frame bodies the transport holds in memory at once: on one
	// connection, on all connections to one IPv4 address or IPv6 /64
	// prefix, and in total. A frame's length is reserved against all
	// three when its header arrives, before any of its body is buffered,
	// and released once the frame is decoded. A stream whose frame does
	// not fit waits, without reading more of its body, until bytes are
	// released or its RequestTimeout passes. So a peer that announces
	// large frames and never finishes them stalls its own connection,
	// while the per-IP budget keeps one address from taking the whole
	// transport budget. Each must be at least wire.MaxMessageSize.
	// Defaults DefaultMaxBufferedPerConn, DefaultMaxBufferedPerIP and
	// DefaultMaxBuffered.
	MaxBufferedPerConn int
	MaxBufferedPerIP   int
	MaxBuffered        int
}

// withDefaults returns cfg with defaults filled in, or an error naming
// the first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Identity == nil {
		return cfg, fmt.Errorf("%w: Identity is missing", ErrConfig)
	}
	if cfg.Network == "" {
		cfg.Network = DefaultNetwork
	}
	if err := validateNetwork(cfg.Network); err != nil {
		return cfg, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.RequestTimeout = positiveOr(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.IdleTimeout = positiveOr(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.MaxConns = positiveOr(cfg.MaxConns, DefaultMaxConns)
	cfg.MaxConnsPerPeer = positiveOr(cfg.MaxConnsPerPeer, DefaultMaxConnsPerPeer)
	cfg.MaxConnsPerIP = positiveOr(cfg.MaxConnsPerIP, DefaultMaxConnsPerIP)
	cfg.MaxStreams = positiveOr(cfg.MaxStreams, DefaultMaxStreams)
	cfg.MaxInvalid = positiveOr(cfg.MaxInvalid, DefaultMaxInvalid)
	cfg.MaxBufferedPerConn = positiveOr(cfg.MaxBufferedPerConn, DefaultMaxBufferedPerConn)
	cfg.MaxBufferedPerIP = positiveOr(cfg.MaxBufferedPerIP, DefaultMaxBufferedPerIP)
	cfg.MaxBuffered = positiveOr(cfg.MaxBuffered, DefaultMaxBuffered)
	return cfg, validateBuffers(cfg)
}

// validateBuffers checks that a frame of the maximum size fits in every
// buffer budget, since a frame that cannot fit would wait for its
// RequestTimeout and then be dropped.
func validateBuffers(cfg Config) error {
	for _, b := range []struct {
		field string
		size  int
	}{
		{"MaxBufferedPerConn", cfg.MaxBufferedPerConn},
		{"MaxBufferedPerIP", cfg.MaxBufferedPerIP},
		{"MaxBuffered", cfg.MaxBuffered},
	} {
		if b.size < wire.MaxMessageSize {
			return fmt.Errorf("%w: %s is %d bytes, below the maximum message size of %d bytes; raise it",
				ErrConfig, b.field, b.size, wire.MaxMessageSize)
		}
	}
	return nil
}

func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// validateNetwork checks that a network name is at most maxNetworkName
// bytes of printable ASCII without spaces. An error quotes the whole name
// and names the first character that breaks the rule.
func validateNetwork(name string) error {
	if len(name) > maxNetworkName {
		return fmt.Errorf("%w: network name is %d bytes, limit %d", ErrConfig, len(name), maxNetworkName)
	}
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if problem := networkNameProblem(r, size); problem != "" {
			return fmt.Errorf("%w: network name %q %s at byte %d; use printable ASCII without spaces",
				ErrConfig, name, problem, i)
		}
		i += size
	}
	return nil
}

// networkNameProblem describes why the rune r, decoded from size bytes,
// may not appear in a network name, or returns "" if it may.
func networkNameProblem(r rune, size int) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return "is not valid UTF-8"
	case r == ' ':
		return "contains a space"
	case r < ' ' || r == 0x7f:
		return fmt.Sprintf("contains the control character %U", r)
	case r > 0x7f:
		return fmt.Sprintf("contains the non-ASCII character %q (%U)", r, r)
	}
	return ""
}

// alpn returns the TLS application protocol name for a network. It names
// the wire version too, so nodes that cannot read each other's messages
// fail the handshake instead of exchanging garbage.
func alpn(network string) string {
	return fmt.Sprintf("yui/%d/%s", wire.Version, network)
}

// parseListenAddr splits a listen address into the socket network to use
// ("udp4" or "udp") and the address, adding DefaultPort when the address
// names only a host.
func parseListenAddr(s string) (string, *net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole string is a host, perhaps a bracketed or
		// bare IPv6 literal.
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), strconv.Itoa(DefaultPort)
	}
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, port))
	if err != nil {
		return "", nil, fmt.Errorf("%w: listen address %q: %v; want HOST:PORT such as 127.0.0.1:%d or :%d", ErrConfig, s, err, DefaultPort, DefaultPort)
	}

	// An IPv4 host gets an IPv4 socket. Any other host, the IPv6 wildcard
	// included, gets Go's "udp" socket, which is dual-stack where the
	// operating system allows it.
	if addr.IP.To4() != nil {
		return "udp4", addr, nil
	}
	return "udp", addr, nil
}
