package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// Config configures a simulated network. The zero value of a field selects
// its default, except Links, which is required.
type Config struct {
	// Seed drives every random choice of the run.
	Seed uint64
	// Mode is the protocol every node runs. Default Flat.
	Mode Mode
	// Kademlia configures the routing machine of every node.
	Kademlia kademlia.Config
	// Reps is the number of representatives per group in Hier mode.
	// Default 3.
	Reps int
	// Links gives the link delays.
	Links *Links
	// Loss is the probability that one message is lost, from 0 to 1. A
	// lost message is never retransmitted, which is harsher than QUIC,
	// whose retransmissions turn most losses into delay.
	Loss float64
	// Codec encodes and decodes every message, so that receivers get a
	// fresh copy and byte counts are exact. Without it messages are handed
	// over as they are and their sizes computed (see wireSize), which is
	// several times faster. One message in SizeCheckEvery is then also
	// encoded to check the computed size.
	Codec          bool
	SizeCheckEvery uint64 // default 4096
	// JoinPeriod is how long after its start a node's traffic counts as
	// join traffic. Default 1 minute.
	JoinPeriod time.Duration
	// Start is the virtual time when the run starts. Default 2026-01-01
	// 00:00 UTC.
	Start time.Time
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("sim: invalid configuration")

func (c Config) withDefaults() (Config, error) {
	if c.Links == nil {
		return c, fmt.Errorf("%w: Links is nil; build them with NewLinks", ErrConfig)
	}
	if c.Loss < 0 || c.Loss >= 1 {
		return c, fmt.Errorf("%w: loss %v is outside [0, 1)", ErrConfig, c.Loss)
	}
	if c.Mode == 0 {
		c.Mode = Flat
	}
	if c.Reps <= 0 {
		c.Reps = 3
	}
	if c.SizeCheckEvery == 0 {
		c.SizeCheckEvery = 4096
	}
	if c.JoinPeriod <= 0 {
		c.JoinPeriod = time.Minute
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return c, nil
}

// Random streams. Each purpose draws from its own generator, so that a
// change in how often one purpose draws (more messages, say) leaves the
// choices of the others as they were.
const (
	streamIDs uint64 = iota + 1
	streamTopology
	streamMachines
	streamDelay
	streamLoss
	// StreamScenario and above are free for scenarios.
	StreamScenario
)

// NewStream returns the generator for one purpose of a run with the given
// seed.
func NewStream(seed, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(splitMix(seed), splitMix(seed^purpose*0x9e3779b97f4a7c15)))
}

// splitMix scrambles x (the SplitMix64 finalizer), so that nearby seeds
// give unrelated generator states.
func splitMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// noTick marks a node with no tick event armed.
const noTick = -1

// node is one simulated node. A node that left keeps its slot, without
// its member, so that indexes and addresses are never reused.
type node struct {
	member  Member // nil once the node has left
	id      identity.NodeID
	tickAt  int64 // virtual time of the armed tick event, or noTick
	started int64 // virtual time it started
	livePos int32 // position in Network.live, or -1
	lan     int32
	site    uint16
}

func (n *node) alive() bool { return n.member != nil }

// lookupKey names a lookup whose result a caller waits for.
type lookupKey struct {
	node int32
	id   kademlia.LookupID
}

// Network is a simulated network: nodes running the protocol, the links
// between them and the event queue that orders everything in virtual
// time. A Network is not safe for concurrent use.
type Network struct {
	cfg     Config
	factory memberFactory
	start   time.Time
	now     int64 // virtual nanoseconds since start
	seq     uint64
	queue   eventQueue

	nodes []node
	live  []int32 // indexes of the nodes alive, in no meaningful order
	lans  []lan

	calls     []func()
	freeCalls []uint64
	watch     map[lookupKey]func(*kademlia.LookupResult)

	ids, topology, machines, delays, losses *rand.Rand

	// partition, when set, gives each node's side; messages between
	// sides are dropped.
	partition func(node int32) uint8

	stats   Stats
	encoded uint64 // messages sized since the last size check

	// delivered, if set, is called with every message handed to a live
	// node, so that tests can check what crossed the network.
	delivered func(ev *event)

	// Progress, if set, is called with the virtual time every 65,536
	// events, for progress reports.
	Progress func(now time.Duration)
}

// lan is a broadcast domain: nodes at one site that hear one another's
// beacons.
type lan struct {
	site    uint16
	members []int32 // alive members
}

// NewNetwork returns an empty network.
func NewNetwork(cfg Config) (*Network, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	factory, err := factoryFor(cfg.Mode)
	if err != nil {
		return nil, err
	}
	return &Network{
		cfg:      cfg,
		factory:  factory,
		start:    cfg.Start,
		watch:    make(map[lookupKey]func(*kademlia.LookupResult)),
		ids:      NewStream(cfg.Seed, streamIDs),
		topology: NewStream(cfg.Seed, streamTopology),
		machines: NewStream(cfg.Seed, streamMachines),
		delays:   NewStream(cfg.Seed, streamDelay),
		losses:   NewStream(cfg.Seed, streamLoss),
	}, nil
}

// Now returns the virtual time elapsed since the start.
func (n *Network) Now() time.Duration { return time.Duration(n.now) }

func (n *Network) wallNow() time.Time { return n.start.Add(time.Duration(n.now)) }

// Stats returns the counters so far.
func (n *Network) Stats() *Stats { return &n.stats }

// Config returns the configuration in force, with defaults filled in.
func (n *Network) Config() Config { return n.cfg }

// Live returns the number of nodes alive.
func (n *Network) Live() int { return len(n.live) }

// Queued returns the number of events waiting in the queue.
func (n *Network) Queued() int { return n.queue.len() }

// Nodes returns the number of nodes ever started.
func (n *Network) Nodes() int { return len(n.nodes) }

// LANs returns the number of broadcast domains.
func (n *Network) LANs() int { return len(n.lans) }

// maxNodes is the number of distinct synthetic addresses, see addrOf.
const maxNodes = 1<<24 - 2

// simPort is the port of every synthetic address.
const simPort = 4242

// addrOf returns node i's synthetic address: 127.0.0.0 plus i+1, port
// 4242. The addresses only name nodes inside the simulator and are never
// used on a socket. Being loopback addresses they are exempt from the
// routing table's per-network limits, as a LAN's private addresses are.
func addrOf(i int32) netip.AddrPort {
	v := uint32(i) + 1
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(v >> 16), byte(v >> 8), byte(v)}), simPort)
}

// indexOf returns the node index of a synthetic address.
func (n *Network) indexOf(ap netip.AddrPort) (int32, bool) { return nodeIndex(ap, len(n.nodes)) }

// nodeIndex returns the index that addrOf encoded in ap, if it is below
// count.
func nodeIndex(ap netip.AddrPort, count int) (int32, bool) {
	a := ap.Addr()
	if !a.Is4() || ap.Port() != simPort {
		return 0, false
	}
	b := a.As4()
	if b[0] != 127 {
		return 0, false
	}
	v := int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
	if v == 0 || v > int64(count) {
		return 0, false
	}
	return int32(v - 1), true
}

func (n *Network) contactOf(i int32) wire.Contact {
	return wire.Contact{ID: n.nodes[i].id, Addr: addrOf(i)}
}

// ID returns node i's ID.
func (n *Network) ID(i int32) identity.NodeID { return n.nodes[i].id }

// Alive reports whether node i is running.
func (n *Network) Alive(i int32) bool { return n.nodes[i].alive() }

// Member returns node i's protocol, or nil if it left.
func (n *Network) Member(i int32) Member { return n.nodes[i].member }

// AddLAN creates a broadcast domain at a random site and returns its
// index.
func (n *Network) AddLAN() int32 {
	site := uint16(n.topology.IntN(n.cfg.Links.Sites()))
	n.lans = append(n.lans, lan{site: site})
	return int32(len(n.lans) - 1)
}

// RandomLive returns a uniformly chosen live node, drawn from rng, or false
// if none is alive.
func (n *Network) RandomLive(rng *rand.Rand) (int32, bool) {
	if len(n.live) == 0 {
		return 0, false
	}
	return n.live[rng.IntN(len(n.live))], true
}

// schedule queues an event and returns it with its sequence number.
func (n *Network) schedule(ev event) {
	n.seq++
	ev.seq = n.seq
	n.queue.push(ev)
	n.stats.PeakQueue = max(n.stats.PeakQueue, n.queue.len())
}

// At runs f at virtual time at, or now if at has passed.
func (n *Network) At(at time.Duration, f func()) {
	var slot uint64
	if k := len(n.freeCalls); k > 0 {
		slot = n.freeCalls[k-1]
		n.freeCalls = n.freeCalls[:k-1]
		n.calls[slot] = f
	} else {
		slot = uint64(len(n.calls))
		n.calls = append(n.calls, f)
	}
	n.schedule(event{at: max(int64(at), n.now), kind: evCall, request: slot})
}

// RunUntil processes the events due up to virtual time t and leaves the
// clock at t.
func (n *Network) RunUntil(t time.Duration) {
	for n.queue.len() > 0 && n.queue.peek().at <= int64(t) {
		ev := n.queue.pop()
		n.now = ev.at
		n.process(&ev)
		n.stats.Events++
		if n.Progress != nil && n.stats.Events%(1<<16) == 0 {
			n.Progress(time.Duration(n.now))
		}
	}
	n.now = max(n.now, int64(t))
}
