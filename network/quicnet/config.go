package quicnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// DefaultPort is the UDP port a node listens on when its address names
// no port.
const DefaultPort = 4717

// Defaults for the zero values of Config fields.
const (
	DefaultNetwork        = "default"
	DefaultRequestTimeout = 10 * time.Second
	DefaultIdleTimeout    = time.Minute
	DefaultMaxConns       = 1024
	DefaultMaxStreams     = 64
	DefaultMaxInvalid     = 16
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

	// MaxConns is the number of open connections at which the transport
	// stops accepting incoming ones. Dials are not refused, because the
	// node's own callers bound them, so the count may exceed MaxConns.
	// Default DefaultMaxConns.
	MaxConns int

	// MaxStreams is the maximum number of concurrent streams a peer may
	// open on one connection, for requests and for one-way messages each.
	// Default DefaultMaxStreams.
	MaxStreams int

	// MaxInvalid is the number of invalid messages after which a peer's
	// connection is closed. Default DefaultMaxInvalid.
	MaxInvalid int
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
	cfg.MaxStreams = positiveOr(cfg.MaxStreams, DefaultMaxStreams)
	cfg.MaxInvalid = positiveOr(cfg.MaxInvalid, DefaultMaxInvalid)
	return cfg, nil
}

func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func validateNetwork(name string) error {
	if len(name) > maxNetworkName {
		return fmt.Errorf("%w: network name is %d bytes, limit %d", ErrConfig, len(name), maxNetworkName)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("%w: network name %q contains %q; use printable ASCII without spaces", ErrConfig, name, c)
		}
	}
	return nil
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
		return "", nil, fmt.Errorf("%w: listen address %q: %v", ErrConfig, s, err)
	}

	// An IPv4 host gets an IPv4 socket. Any other host, the IPv6 wildcard
	// included, gets Go's "udp" socket, which is dual-stack where the
	// operating system allows it.
	if addr.IP.To4() != nil {
		return "udp4", addr, nil
	}
	return "udp", addr, nil
}
