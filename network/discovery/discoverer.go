// Package discovery finds nodes of the same network on the local links
// with no configuration.
//
// Every node sends a signed beacon (see Beacon) at a jittered interval.
// Over IPv4 the beacon goes to the directed broadcast address of each
// subnet on each up, broadcast-capable interface. Over IPv6 it goes to the
// link-local multicast group ff02::114 on each up, multicast-capable
// interface. A node that hears a beacon of a node it has not heard
// recently replies at once with a beacon of its own, sent straight back.
// So a new node learns its neighbours within one round trip instead of
// one interval. Discovered
// peers are reported as wire.Contact values: the beacon's source address
// with the advertised QUIC port.
//
// Discovery only suggests addresses. A beacon proves that the holder of
// the node key signed it, but not that the node still listens at the
// address it came from; the transport handshake proves that.
package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// Defaults for Config fields left zero.
const (
	DefaultPort           = 4718
	DefaultNetwork        = "yui"
	DefaultInterval       = 5 * time.Second
	DefaultMaxPerSecond   = 20
	DefaultSeenWindow     = 30 * time.Second
	DefaultRescanInterval = 3 * time.Second

	// DefaultMaxNewPeersPerSecond and DefaultNewPeerBurst bound how fast
	// new peers are reported. The burst lets a node that joins a LAN of
	// up to 50 nodes learn them all from the replies to its first beacon.
	DefaultMaxNewPeersPerSecond = 10
	DefaultNewPeerBurst         = 50
)

const (
	// replyCooldown is the shortest gap between two replies to one peer,
	// and between two reports that its requests for replies trigger.
	replyCooldown = time.Second
	// maxPeers bounds the table of recently heard peers.
	maxPeers = 4096
	// contactQueue is the buffer of the Contacts channel.
	contactQueue = 256
	// inboxSize is how many verified beacons may wait for the loop.
	inboxSize = 64
	// jitter spreads beacon intervals over ±20% so that nodes started
	// together do not stay in step.
	jitter = 0.2
	// silentIntervals is how many mean beacon intervals a peer may go
	// unheard before it looks new again. It spans two of the longest
	// jittered intervals, so a longer gap means that at least two of its
	// beacons in a row were lost.
	silentIntervals = 2 * (1 + jitter)
)

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("discovery: invalid config")

// Config configures a Discoverer.
type Config struct {
	// Identity signs the beacons. Required.
	Identity *identity.Identity
	// Network is the name of the overlay; only beacons with the same name
	// are reported. Default DefaultNetwork.
	Network string
	// ListenPort is the UDP port of the node's QUIC transport, which
	// beacons advertise. Required.
	ListenPort int
	// Port is the UDP port beacons are sent to and received on. Default
	// DefaultPort.
	Port int
	// Interval is the mean time between periodic beacons. Default
	// DefaultInterval.
	Interval time.Duration
	// MaxPerSecond caps the datagrams sent per second, periodic beacons
	// and replies together, with bursts of up to the same number. Default
	// DefaultMaxPerSecond.
	MaxPerSecond int
	// MaxNewPeersPerSecond caps how many peers not heard recently are
	// reported per second, with bursts of up to NewPeerBurst. The beacons
	// of further new peers are dropped and counted in
	// Stats.NewPeersDropped, so that a host sending beacons from fresh
	// keys cannot push unbounded work into the node. Peers already known
	// are not limited. Defaults DefaultMaxNewPeersPerSecond and
	// DefaultNewPeerBurst.
	MaxNewPeersPerSecond int
	NewPeerBurst         int
	// SeenWindow is how long a peer counts as seen recently. A peer heard
	// all along is reported again once per window. A peer silent for
	// longer than the window, or than about two beacon intervals, counts
	// as new again: it is reported and gets a reply at once. Default
	// DefaultSeenWindow.
	SeenWindow time.Duration
	// RescanInterval is how often the interface list is read again.
	// Default DefaultRescanInterval.
	//
	// TODO: listen for netlink link and address events, so that a link
	// that comes up is used at once instead of at the next rescan.
	RescanInterval time.Duration
	// MaxClockSkew is how far a beacon's timestamp may differ from this
	// node's clock. Zero means the package's MaxClockSkew; a negative
	// value turns the check off, for devices with no clock source.
	MaxClockSkew time.Duration
	// Interfaces, if not empty, restricts beacons to the named
	// interfaces. Beacons still arrive from any interface.
	Interfaces []string
	// IncludeLoopback sends beacons on loopback interfaces too, over IPv4
	// only. For tests of several nodes on one host.
	IncludeLoopback bool
	// Logger receives start, stop and error messages. Default
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Identity == nil {
		return fmt.Errorf("%w: no identity given", ErrConfig)
	}
	if c.ListenPort <= 0 || c.ListenPort > 65535 {
		return fmt.Errorf("%w: listen port %d is not in 1-65535; pass the transport's port", ErrConfig, c.ListenPort)
	}

	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if err := checkNetworkName(c.Network); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("%w: port %d is not in 1-65535", ErrConfig, c.Port)
	}

	c.Interval = cmpOr(c.Interval, DefaultInterval)
	c.MaxPerSecond = cmpOr(c.MaxPerSecond, DefaultMaxPerSecond)
	c.MaxNewPeersPerSecond = cmpOr(c.MaxNewPeersPerSecond, DefaultMaxNewPeersPerSecond)
	c.NewPeerBurst = cmpOr(c.NewPeerBurst, DefaultNewPeerBurst)
	c.SeenWindow = cmpOr(c.SeenWindow, DefaultSeenWindow)
	c.RescanInterval = cmpOr(c.RescanInterval, DefaultRescanInterval)
	c.MaxClockSkew = cmpOr(c.MaxClockSkew, MaxClockSkew)
	if c.Interval < 0 || c.SeenWindow < 0 || c.RescanInterval < 0 {
		return fmt.Errorf("%w: negative interval or window", ErrConfig)
	}
	if c.MaxPerSecond < 0 || c.MaxNewPeersPerSecond < 0 || c.NewPeerBurst < 0 {
		return fmt.Errorf("%w: negative rate or burst", ErrConfig)
	}

	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Discoverer sends and receives beacons. Create it with New and stop it
// with Close.
type Discoverer struct {
	cfg      Config
	log      *slog.Logger
	contacts chan wire.Contact
	inbox    chan arrival
	stats    counters

	// firstSeq is the sequence number before this node's first beacon,
	// and lastSeq that of its latest. Beacons with this node's ID and a
	// number in between are its own. encode sets lastSeq, and the reading
	// goroutines read both.
	firstSeq uint64
	lastSeq  atomic.Uint64

	// Warnings about repeated events, each limited to one per source per
	// warnInterval.
	cloneWarnings   *throttle[netip.Addr]
	skewWarnings    *throttle[netip.Addr]
	newPeerWarnings *throttle[struct{}]

	// Sockets, set in New. shared4 and shared6 receive on cfg.Port;
	// private4 and private6 send every beacon and receive replies. The
	// IPv6 pair is nil when the host has no IPv6.
	shared4, private4 *net.UDPConn
	shared6, private6 *net.UDPConn

	// Owned by the run goroutine.
	links   []link
	joined  map[int]bool // interface indexes whose IPv6 group is joined
	peers   *peerTable
	limiter *tokenBucket
	failing map[netip.AddrPort]bool // send targets whose last send failed

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// arrival is a verified beacon waiting for the run goroutine.
type arrival struct {
	beacon *Beacon
	src    netip.AddrPort
	at     time.Time
}

// New binds the discovery sockets and starts sending beacons. It fails if
// cfg.Port is taken by a program of another user or one that did not set
// SO_REUSEPORT. A host without IPv6 runs with IPv4 alone.
func New(cfg Config) (*Discoverer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	now := time.Now()
	d := &Discoverer{
		cfg:             cfg,
		log:             cfg.Logger.With("component", "discovery"),
		contacts:        make(chan wire.Contact, contactQueue),
		inbox:           make(chan arrival, inboxSize),
		firstSeq:        uint64(max(now.UnixMicro(), 0)),
		cloneWarnings:   newThrottle[netip.Addr](warnInterval, maxWarnSources),
		skewWarnings:    newThrottle[netip.Addr](warnInterval, maxWarnSources),
		newPeerWarnings: newThrottle[struct{}](warnInterval, 1),
		joined:          make(map[int]bool),
		peers:           newPeerTable(cfg.SeenWindow, replyCooldown, maxPeers),
		limiter:         newTokenBucket(cfg.MaxPerSecond, cfg.MaxPerSecond, now),
		failing:         make(map[netip.AddrPort]bool),
		done:            make(chan struct{}),
	}
	d.peers.silence = silenceLimit(cfg.Interval, cfg.SeenWindow)
	d.peers.admission = newTokenBucket(cfg.MaxNewPeersPerSecond, cfg.NewPeerBurst, now)
	d.lastSeq.Store(d.firstSeq)
	if err := d.open(); err != nil {
		d.closeSockets()
		return nil, err
	}

	d.log.Info("discovery started", "port", cfg.Port, "network", cfg.Network,
		"ipv6", d.shared6 != nil, "interval", cfg.Interval)
	for _, conn := range d.conns() {
		d.wg.Add(1)
		go d.read(conn)
	}
	d.wg.Add(1)
	go d.run()
	return d, nil
}

func (d *Discoverer) open() error {
	var err error
	if d.shared4, err = listenShared("udp4", d.cfg.Port); err != nil {
		return fmt.Errorf("discovery: bind UDP port %d: %w; stop the program holding it, "+
			"pick a free port with --discovery-port, or turn LAN discovery off with --discovery-port -1",
			d.cfg.Port, err)
	}
	if d.private4, err = listenPrivate("udp4"); err != nil {
		return fmt.Errorf("discovery: bind IPv4 sending socket: %w", err)
	}

	shared6, err := listenShared("udp6", d.cfg.Port)
	if err != nil {
		d.log.Warn("IPv6 discovery off: cannot bind port", "port", d.cfg.Port, "err", err)
		return nil
	}
	private6, err := listenPrivate("udp6")
	if err != nil {
		shared6.Close()
		d.log.Warn("IPv6 discovery off: cannot bind sending socket", "err", err)
		return nil
	}
	d.shared6, d.private6 = shared6, private6
	return nil
}

func (d *Discoverer) conns() []*net.UDPConn {
	var conns []*net.UDPConn
	for _, c := range []*net.UDPConn{d.shared4, d.private4, d.shared6, d.private6} {
		if c != nil {
			conns = append(conns, c)
		}
	}
	return conns
}

func (d *Discoverer) closeSockets() error {
	var errs []error
	for _, c := range d.conns() {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Contacts returns the channel on which discovered peers arrive. A contact
// arrives when its peer is first heard, again once per SeenWindow while
// the peer keeps sending beacons, and at once when the peer joins a link
// or is heard again after missing beacons (see Config.SeenWindow). The channel is buffered; when the reader
// falls behind, contacts are dropped and counted in Stats.ContactsDropped.
// It is closed by Close.
func (d *Discoverer) Contacts() <-chan wire.Contact { return d.contacts }

// Addr returns the local address beacons are received on.
func (d *Discoverer) Addr() netip.AddrPort {
	return d.shared4.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Stats returns a snapshot of the counters.
func (d *Discoverer) Stats() Stats { return d.stats.snapshot() }

// Close stops sending, closes the sockets, waits for the goroutines and
// closes the Contacts channel. It is safe to call more than once.
func (d *Discoverer) Close() error {
	d.closeOnce.Do(func() {
		close(d.done)
		d.closeErr = d.closeSockets()
		d.wg.Wait()
		close(d.contacts)
		s := d.Stats()
		d.log.Info("discovery stopped", "sent", s.Sent, "received", s.Received, "accepted", s.Accepted)
	})
	return d.closeErr
}

// run owns the peer table, the links, the limiter and all sending.
func (d *Discoverer) run() {
	defer d.wg.Done()
	beaconTimer := time.NewTimer(0)
	defer beaconTimer.Stop()
	rescan := time.NewTicker(d.cfg.RescanInterval)
	defer rescan.Stop()

	d.rescan()
	for {
		select {
		case <-d.done:
			return
		case <-beaconTimer.C:
			d.sendBeacons(d.links, false)
			beaconTimer.Reset(d.nextInterval())
		case <-rescan.C:
			d.rescan()
			d.peers.prune(time.Now())
		case a := <-d.inbox:
			d.handle(a)
		}
	}
}

// silenceLimit returns how long a peer may go unheard before it looks new
// again, or zero when the window is shorter anyway.
func silenceLimit(interval, window time.Duration) time.Duration {
	limit := silentIntervals * float64(interval)
	if limit >= float64(window) {
		return 0
	}
	return time.Duration(limit)
}

func (d *Discoverer) nextInterval() time.Duration {
	f := 1 + jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d.cfg.Interval) * f)
}

// rescan reads the interface list. On every link that is new or changed,
// or whose carrier went down and up since the last scan, it joins the IPv6
// group and sends a beacon that requests replies. So a node that gains a
// link, or gets one back, learns that link's nodes at once, and they
// report it again at once. The replies of peers already known on such a
// link count as fresh, so they are reported again too.
func (d *Discoverer) rescan() {
	links, err := scanLinks(d.cfg.Interfaces, d.cfg.IncludeLoopback)
	if err != nil {
		d.log.Warn("interface scan failed; keeping the previous list", "err", err)
		return
	}
	var added []link
	for _, l := range links {
		if !containsLink(d.links, l) {
			added = append(added, l)
		}
	}
	for _, old := range d.links {
		if !containsName(links, old.name) {
			d.log.Info("interface gone", "interface", old.name)
			delete(d.joined, old.index)
		}
	}
	d.links = links
	if len(links) == 0 {
		d.log.Debug("no interface to send beacons on")
	}

	for _, l := range added {
		d.log.Info("sending beacons on interface", "interface", l.name,
			"broadcast", l.broadcasts, "ipv6", l.multicast && d.shared6 != nil)
		// Join again, because the kernel may have dropped the group
		// while the link was down; joining twice does no harm.
		delete(d.joined, l.index)
		d.join(l)
	}
	if len(added) > 0 {
		d.peers.relearn(func(addr netip.Addr) bool {
			_, ok := linkFor(added, addr)
			return ok
		})
		d.sendBeacons(added, true)
	}
}

func (d *Discoverer) join(l link) {
	if !l.multicast || d.shared6 == nil || d.joined[l.index] {
		return
	}
	if err := joinGroup(d.shared6, multicastGroup, l.index); err != nil {
		d.log.Warn("cannot join IPv6 group; IPv6 beacons on this interface will not be heard",
			"interface", l.name, "group", multicastGroup, "err", err)
		return
	}
	d.joined[l.index] = true
}

func containsLink(links []link, l link) bool {
	for _, o := range links {
		if o.equal(l) {
			return true
		}
	}
	return false
}

func containsName(links []link, name string) bool {
	for _, o := range links {
		if o.name == name {
			return true
		}
	}
	return false
}
