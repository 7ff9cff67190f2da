// Package node runs a Yui node: it loads the node's identity, listens on
// QUIC, finds LAN peers, drives the overlay's routing core and serves the
// local HTTP API. cmd/yui is a thin shell around it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/message"
	"github.com/yuinet/yui/mqtt"
	"github.com/yuinet/yui/network/geo"
	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
)

// Default ports. QUIC and discovery use UDP; the API uses TCP on loopback.
const (
	DefaultPort          = 4717
	DefaultDiscoveryPort = 4718
	DefaultAPIPort       = 4719
	DefaultNetwork       = "yui"
)

// Version is the program's version, set by the linker for releases.
var Version = "dev"

// Config configures a node. Only DataDir is required; the zero value of
// every other field selects its default.
type Config struct {
	// DataDir holds the node's key, its lock and its API address file.
	DataDir string
	// Listen is the QUIC address, "host:port", ":port" or "host". When
	// the address or its port was not given and DefaultPort is taken, the
	// node picks a free port instead.
	Listen string
	// API is the HTTP API's address. Empty selects 127.0.0.1:4719, or a
	// free port on 127.0.0.1 if that is taken; an address given here is
	// used as given.
	API string
	// Bootstrap lists "host:port" addresses of nodes outside the LAN.
	Bootstrap []string
	// Network names the overlay; nodes of different networks ignore each
	// other even on one LAN.
	Network string
	// DiscoveryPort is the UDP port of LAN beacons; -1 turns discovery off.
	DiscoveryPort int
	// MaxClockSkew is how far a LAN beacon's timestamp may differ from
	// this node's clock. Zero selects discovery's default; a negative
	// value turns the check off, for devices with no clock source.
	MaxClockSkew time.Duration
	// Tier is the storage tier: TierUpper, TierMiddle, TierLower, or
	// TierAuto to let the store rank the node by uptime and free disk.
	Tier string
	// Mode selects flat Kademlia, where every node joins the DHT, or the
	// hierarchy, where each LAN elects a few representatives to join it
	// for the rest. The zero value is flat.
	Mode hierarchy.Mode
	// Kademlia tunes the routing core.
	Kademlia kademlia.Config
	// Logger receives the node's logs; default slog.Default().
	Logger *slog.Logger
	// MQTT is the MQTT listener's address: empty for DefaultMQTTAddr,
	// MQTTOff for none. A taken port leaves the node without MQTT and a
	// warning in its log.
	MQTT string
	// MsgQuota bounds the messages the node holds for other nodes' users;
	// a zero field selects its value in message.DefaultQuota.
	MsgQuota message.Quota
	// Dashboard configures the web page the node serves.
	Dashboard DashboardConfig
	// Position is the node's latitude and longitude in degrees, "LAT,LON",
	// which places it in a geographic cluster for jobs. Empty takes the
	// cluster most of the readings the node ingests come from.
	Position string
	// SightingsKeep is how long the node keeps the tag sightings it
	// stores as its default user: a periodic sweep deletes older ones,
	// and location requests ignore them. Zero selects
	// DefaultSightingsKeep; a negative value keeps them until someone
	// deletes them.
	SightingsKeep time.Duration

	// sightingsSweepEvery is the mean time between sweeps of expired
	// sightings; zero selects sightingsSweepInterval. Tests shorten it.
	sightingsSweepEvery time.Duration
	// listenFallback and apiFallback are set when Listen and API were
	// left empty, so that a taken default port may be replaced by a free
	// one.
	listenFallback, apiFallback bool
}

// validate checks the settings that would otherwise fail only later, in
// the background, such as a bootstrap address without a port.
func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("node: no data folder given; pass --data-dir")
	}
	if c.Position != "" {
		if _, _, err := geo.ParsePosition(c.Position); err != nil {
			return fmt.Errorf("node: --position: %w", err)
		}
	}
	if q := c.MsgQuota; q.Items < 0 || q.SenderItems < 0 || q.Bytes < 0 || q.SenderBytes < 0 {
		return fmt.Errorf("node: invalid message quota %+v: limits must be positive, or 0 for the default (--msg-hold, --msg-hold-per-sender)", q)
	}
	if c.DiscoveryPort < -1 || c.DiscoveryPort > 65535 {
		return fmt.Errorf("node: invalid discovery port %d: want 1-65535, or -1 to turn discovery off (--discovery-port)", c.DiscoveryPort)
	}
	for _, addr := range c.Bootstrap {
		if err := checkHostPort(addr); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.Listen == "" {
		c.Listen = ":" + strconv.Itoa(DefaultPort)
		c.listenFallback = true
	}
	if c.API == "" {
		c.API = "127.0.0.1:" + strconv.Itoa(DefaultAPIPort)
		c.apiFallback = true
	}
	if c.DiscoveryPort == 0 {
		c.DiscoveryPort = DefaultDiscoveryPort
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SightingsKeep == 0 {
		c.SightingsKeep = DefaultSightingsKeep
	}
	if c.sightingsSweepEvery <= 0 {
		c.sightingsSweepEvery = sightingsSweepInterval
	}
}

// Node is a running Yui node.
type Node struct {
	cfg     Config
	id      *identity.Identity
	log     *slog.Logger
	started time.Time
	lock    *dirLock
	metrics *metrics
	tr      transport.Transport
	// self is the contact the node gives as its own, with a routable
	// address even when it listens on every interface. listen sets it.
	self    wire.Contact
	router  *router
	api     *apiServer
	disc    discoverer
	storage *storage
	grants  *grantTasks // read grants re-wrapping existing records
	search  *searchLayer
	// readings is where ingested sensor readings go (HTTP, MQTT, import);
	// nil until the search layer is started.
	readings sensor.Sink
	// mqtt accepts readings over MQTT, at mqttAddr; nil when turned off
	// or when the port was taken.
	mqtt     *mqtt.Server
	mqttAddr string
	// ingest counts the readings of the HTTP and MQTT ingest paths, and
	// commit merges their concurrent sink writes.
	ingest *ingestCounters
	commit *groupCommit
	// routing is closed once router is set; handleMessage rejects what
	// arrives before.
	routing chan struct{}
	// rescored is closed when the rescore goroutine has returned.
	rescored chan struct{}
	// alerts floods disaster alerts; nil until started.
	alerts atomic.Pointer[alertService]
	// msgs routes messages between users; nil until started.
	msgs atomic.Pointer[msgService]
	// dashboard backs the web page; set when the API starts.
	dashboard *dashboardState
	// jobs runs distributed jobs; nil until started.
	jobs *jobService
	// sightingNets lists the relay networks whose expired sightings the
	// node deletes.
	sightingNets *sightingNetworks
}

// leaveGrace bounds how long Close waits to tell contacts that the node
// leaves.
const leaveGrace = 3 * time.Second

// Start opens the data folder, listens and joins the overlay. The node runs
// until Close.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, started: time.Now(), metrics: newMetrics(), routing: make(chan struct{}),
		sightingNets: newSightingNetworks()}
	n.ingest = newIngestCounters(n.metrics.registry)
	n.commit = newGroupCommit(n.readingSink)
	if err := n.start(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) start(ctx context.Context) error {
	lock, err := lockDir(n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.lock = lock

	id, created, err := identity.LoadOrCreate(n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.id = id
	n.log = n.cfg.Logger.With("node", id.ID.Short())
	if created {
		n.log.Info("created node identity", "id", id.ID, "file", filepath.Join(n.cfg.DataDir, identity.KeyFile))
	}

	if err := n.openStorage(); err != nil {
		return err
	}
	n.grants = newGrantTasks(n.log)
	if err := n.openSearch(); err != nil {
		return err
	}
	n.startJobs()
	if err := n.listen(); err != nil {
		return err
	}
	if err := n.startStorage(); err != nil {
		return err
	}
	if err := n.startAlerts(); err != nil {
		return err
	}
	if err := n.startSearch(); err != nil {
		return err
	}
	n.jobs.countIngested()
	if err := n.startMsgs(); err != nil {
		return err
	}
	if err := n.startAPI(); err != nil {
		return err
	}
	if err := n.startDiscovery(); err != nil {
		return err
	}
	if err := n.startMQTT(); err != nil {
		return err
	}
	n.publishAlertsOverMQTT()
	n.registerMetrics()
	n.log.Info("node started", "id", id.ID, "network", n.cfg.Network,
		"listen", n.tr.LocalAddr(), "api", n.api.addr, "data_dir", n.cfg.DataDir)

	n.join(ctx)
	// A restart may have cut short the watch of jobs submitted here.
	n.jobs.goJob(n.jobs.resume)
	return nil
}

// listen opens the QUIC transport and the routing core behind it.
func (n *Node) listen() error {
	// quicnet names the node in its own log lines, so it gets the base
	// logger; n.log would name it twice.
	tr, err := listenQUIC(n.cfg, n.id, n.cfg.Logger, transport.HandlerFunc(n.handleMessage))
	if err != nil {
		return err
	}
	n.tr = tr
	n.self = wire.Contact{ID: n.id.ID, Addr: hostAddr(tr.LocalAddr(), net.InterfaceAddrs)}

	cfg := hierarchy.Config{Mode: n.cfg.Mode, Kademlia: n.cfg.Kademlia}
	m := hierarchy.New(n.self, n.score(0), cfg, seedFromID(n.id.ID), time.Now())
	n.router = newRouter(m, tr, n.log, n.metrics)
	close(n.routing)
	go n.router.run()
	n.rescored = make(chan struct{})
	go n.rescore()
	return nil
}

// handleMessage dispatches a message from the network by type. A panic
// while serving one peer's message is logged and answered as an internal
// error, so a bug reachable from the network costs one request, not the
// node.
func (n *Node) handleMessage(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) (resp wire.Message) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("panic while serving a message", "peer", from.ID.Short(), "type", msg.Type(), "panic", r)
			resp = &wire.Error{Code: wire.CodeInternal, Message: "internal error"}
		}
	}()
	// The transport serves from the moment it listens, before the router
	// exists, and a peer that knew this address before a restart may
	// already be sending.
	select {
	case <-n.routing:
	default:
		if !isRequest {
			return nil
		}
		return &wire.Error{Code: wire.CodeOverloaded, Message: "node is starting"}
	}
	return n.dispatch(ctx, from, msg, isRequest)
}

func (n *Node) dispatch(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	switch msg.Type() {
	case wire.TypePing, wire.TypeFindNode, wire.TypeLeave,
		wire.TypeGroupSync, wire.TypeForward, wire.TypeLookupAnswer:
		return n.router.handle(from, msg, isRequest)
	}
	if isAlertType(msg.Type()) {
		return n.handleAlert(from, msg, isRequest)
	}
	if isMsgType(msg.Type()) {
		return n.handleMsg(from, msg, isRequest)
	}
	if isStorageType(msg.Type()) {
		return n.handleStorage(ctx, from, msg, isRequest)
	}
	if search.IsSearchType(msg.Type()) {
		return n.handleSearch(ctx, from, msg, isRequest)
	}
	if wire.IsJobType(msg.Type()) {
		return n.handleJob(ctx, from, msg, isRequest)
	}
	if !isRequest {
		return nil
	}
	return &wire.Error{Code: wire.CodeUnsupported, Message: "unsupported message type " + msg.Type().String()}
}

// join adds the bootstrap contacts and starts the join lookup. Bootstrap
// addresses carry no node ID, so the node first asks each who it is.
func (n *Node) join(ctx context.Context) {
	known := n.loadKnownPeers()
	for _, c := range known {
		n.router.addContact(c)
	}
	if len(known) > 0 {
		n.log.Info("contacting peers known from the last run", "peers", len(known))
		go n.checkKnownPeers(len(known))
	}
	if len(known) == 0 && len(n.cfg.Bootstrap) == 0 && n.cfg.DiscoveryPort == -1 {
		n.log.Warn("no way to find peers: no --bootstrap, LAN discovery off and no peers known from a last run; this node is alone until another contacts it")
	}
	for _, addr := range n.cfg.Bootstrap {
		go n.contactBootstrap(ctx, addr)
	}
	n.router.bootstrap()
	go n.keepKnownPeers()
}

func (n *Node) contactBootstrap(ctx context.Context, addr string) {
	const attempts = 10
	for i := range attempts {
		c, err := n.probe(ctx, addr)
		if err == nil {
			n.log.Info("reached bootstrap node", "addr", addr, "peer", c.ID.Short())
			n.router.addContact(c)
			n.router.bootstrap()
			return
		}
		if errors.Is(err, transport.ErrSelf) {
			n.log.Warn("bootstrap address is this node's own, ignoring it", "addr", addr)
			return
		}
		n.log.Warn("bootstrap node unreachable, will retry", "addr", addr, "attempt", i+1, "err", err)
		select {
		case <-time.After(backoff(i)):
		case <-n.router.stop:
			return
		}
	}
	n.log.Error("gave up on bootstrap node", "addr", addr, "attempts", attempts)
}

func backoff(attempt int) time.Duration {
	return min(time.Second<<attempt, 30*time.Second)
}

// probe resolves addr and learns the ID of the node listening there.
func (n *Node) probe(ctx context.Context, addr string) (wire.Contact, error) {
	ap, err := resolveUDP(ctx, addr)
	if err != nil {
		return wire.Contact{}, err
	}
	id, err := probeID(ctx, n.tr, ap)
	if err != nil {
		return wire.Contact{}, err
	}
	return wire.Contact{ID: id, Addr: ap}, nil
}

// checkHostPort checks that addr is "host:port" with a port from 1 to
// 65535, without resolving the host.
func checkHostPort(addr string) error {
	_, _, err := splitHostPort(addr)
	return err
}

func splitHostPort(addr string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("node: invalid bootstrap address %q: want host:port, such as 192.0.2.10:%d", addr, DefaultPort)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("node: invalid bootstrap address %q: port %q is not in 1 to 65535", addr, port)
	}
	return host, uint16(p), nil
}

func resolveUDP(ctx context.Context, addr string) (netip.AddrPort, error) {
	host, p, err := splitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("node: resolve bootstrap host %q: %v", host, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

// ID returns the node's ID.
func (n *Node) ID() identity.NodeID { return n.id.ID }

// Addr returns the node's QUIC listen address.
func (n *Node) Addr() netip.AddrPort { return n.tr.LocalAddr() }

// APIAddr returns the HTTP API's address.
func (n *Node) APIAddr() string { return n.api.addr }

// Lookup finds the nodes closest to target.
func (n *Node) Lookup(ctx context.Context, target identity.NodeID) (*kademlia.LookupResult, error) {
	return n.router.lookup(ctx, target)
}

// Peers returns the routing table's contacts, then the LAN group's
// members outside it with Bucket -1.
func (n *Node) Peers() []kademlia.PeerInfo {
	var peers []kademlia.PeerInfo
	n.router.withOverlay(func(m *hierarchy.Machine) { peers = m.Peers() })
	return peers
}

// Close leaves the overlay and releases everything the node holds. It is
// safe to call more than once and on a node that failed to start.
func (n *Node) Close() error { return n.shutdown(leaveGrace) }

// Kill stops the node without telling its contacts, as a crash would, so
// tests and the demo can show how the others cope.
func (n *Node) Kill() error { return n.shutdown(0) }

func (n *Node) shutdown(grace time.Duration) error {
	if n.disc != nil {
		n.disc.Close()
	}
	n.closeAlerts()
	n.closeMsgs()
	n.closeJobs()
	if n.grants != nil {
		n.grants.close()
	}
	if n.router != nil {
		// A crash writes nothing, so Kill, which stands for one, does not
		// either; the file of the last minute remains.
		if grace > 0 {
			if err := n.saveKnownPeers(); err != nil {
				n.log.Warn("known peers not saved", "err", err)
			}
		}
		n.router.close(grace)
		<-n.rescored
	}
	n.closeMQTT()
	if n.api != nil {
		n.api.close()
	}
	n.commit.close()
	if n.tr != nil {
		n.tr.Close()
	}
	n.closeStorage()
	if n.lock != nil {
		n.lock.release()
		n.lock = nil
		if n.log != nil {
			n.log.Info("node stopped", "uptime", time.Since(n.started).Round(time.Millisecond))
		}
	}
	return nil
}

// removeFile removes path, ignoring a file that is already gone.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

var _ = api.APIAddrFile
