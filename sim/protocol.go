package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// Protocol is the node state machine the simulator drives: the same calls
// the daemon makes, with virtual time as now. *kademlia.Machine satisfies
// it, and so does the hierarchy's Machine.
type Protocol interface {
	HandleRequest(now time.Time, from wire.Contact, request uint64, msg wire.Message) wire.Message
	HandleResponse(now time.Time, from wire.Contact, request uint64, msg wire.Message)
	HandleFailure(now time.Time, request uint64)
	Tick(now time.Time)
	NextDeadline() time.Time
	Outbox() []kademlia.Outgoing
	Events() []kademlia.Event
	Lookup(now time.Time, target identity.NodeID) kademlia.LookupID
}

// Member is a Protocol that the simulator can also bring into the network
// and take out of it, the way the daemon does on start and shutdown.
type Member interface {
	Protocol
	// AddNeighbour gives the node a contact in its own broadcast domain,
	// as a LAN beacon would.
	AddNeighbour(now time.Time, c wire.Contact)
	// AddContact gives the node a contact outside its broadcast domain,
	// as a --bootstrap address would.
	AddContact(now time.Time, c wire.Contact)
	// Bootstrap joins the network through the contacts given so far.
	Bootstrap(now time.Time)
	// Leave returns the messages a node sends on a clean shutdown.
	Leave() []kademlia.Outgoing
	// Len returns the number of contacts the node holds.
	Len() int
}

// Mode selects the protocol every simulated node runs.
type Mode uint8

const (
	// Flat runs a kademlia.Machine on every node: one DHT of all nodes.
	Flat Mode = iota + 1
	// Hier runs the hierarchy: groups per broadcast domain, with their
	// representatives in the global DHT.
	Hier
)

// ErrInvalidMode reports a mode name other than flat or hier.
var ErrInvalidMode = errors.New("sim: invalid mode")

// ParseMode parses "flat" or "hier".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "flat":
		return Flat, nil
	case "hier":
		return Hier, nil
	}
	return 0, fmt.Errorf("%w %q: want flat or hier", ErrInvalidMode, s)
}

// String returns "flat" or "hier".
func (m Mode) String() string {
	switch m {
	case Flat:
		return "flat"
	case Hier:
		return "hier"
	}
	return fmt.Sprintf("mode-%d", uint8(m))
}

// Traits are the fixed properties of a simulated node's device, from which
// a hierarchy picks its representatives.
type Traits struct {
	// Capacity is the free storage in MiB.
	Capacity uint32
	// Link is the link quality: one million divided by the median RTT in
	// microseconds from the node's site to the other sites, that is,
	// round trips per second.
	Link uint32
}

// memberFactory creates the Member for one node. seed drives the
// machine's own random choices.
type memberFactory func(self wire.Contact, cfg *Config, traits Traits, seed uint64, now time.Time) Member

// factoryFor returns the member factory of mode.
func factoryFor(mode Mode) (memberFactory, error) {
	switch mode {
	case Flat:
		return newFlatMember, nil
	case Hier:
		return newHierMember, nil
	}
	return nil, fmt.Errorf("%w %d", ErrInvalidMode, mode)
}

// flatMember adapts a kademlia.Machine to Member. A flat DHT has no
// groups, so a neighbour is one more contact.
type flatMember struct{ *kademlia.Machine }

func newFlatMember(self wire.Contact, cfg *Config, _ Traits, seed uint64, now time.Time) Member {
	return flatMember{kademlia.New(self, cfg.Kademlia, seed, now)}
}

func (f flatMember) AddNeighbour(now time.Time, c wire.Contact) { f.Machine.AddContact(now, c) }

func (f flatMember) Bootstrap(now time.Time) { f.Machine.Bootstrap(now) }
