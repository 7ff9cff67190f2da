package hierarchy

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/yuinet/yui/network/kademlia"
	"github.com/yuinet/yui/network/wire"
)

// Mode selects how a Machine takes part in the overlay.
type Mode uint8

const (
	// Flat makes every node a full Kademlia participant; the Machine
	// passes every call through to a kademlia.Machine. It is the zero
	// value.
	Flat Mode = iota
	// Hierarchical groups the nodes of a broadcast domain behind a few
	// elected representatives that alone take part in the DHT.
	Hierarchical
)

// ErrMode reports a mode name that ParseMode does not know.
var ErrMode = errors.New("hierarchy: unknown mode")

// ParseMode parses "flat" or "hier" (also "hierarchical"), case-insensitive.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "flat":
		return Flat, nil
	case "hier", "hierarchical":
		return Hierarchical, nil
	}
	return Flat, fmt.Errorf("%w %q: use flat or hier", ErrMode, s)
}

// String returns "flat" or "hier", the names ParseMode accepts.
func (m Mode) String() string {
	switch m {
	case Flat:
		return "flat"
	case Hierarchical:
		return "hier"
	}
	return fmt.Sprintf("mode-%d", uint8(m))
}

// Role is a node's part in the overlay.
type Role uint8

const (
	// RoleFlat is every node in Flat mode.
	RoleFlat Role = iota
	// RoleMember is a hierarchical node outside the DHT, which keeps only
	// its group and forwards lookups to the group's representatives.
	RoleMember
	// RoleRepresentative is a hierarchical node elected into the DHT for
	// its group.
	RoleRepresentative
)

// String returns "flat", "member" or "representative".
func (r Role) String() string {
	switch r {
	case RoleFlat:
		return "flat"
	case RoleMember:
		return "member"
	case RoleRepresentative:
		return "representative"
	}
	return fmt.Sprintf("role-%d", uint8(r))
}

// Config tunes a Machine. The zero value of a field selects its default,
// and the zero Config is Flat mode with Kademlia's defaults.
type Config struct {
	Mode Mode
	// Kademlia configures the routing table of a DHT participant. Its
	// RequestTimeout also bounds the hierarchy's own requests.
	Kademlia kademlia.Config
	// Reps is the number of representatives per group. Default 3.
	Reps int
	// GossipInterval is the mean time between two GroupSync requests of a
	// node, each to one group member, and so between two heartbeats.
	// Default 10s.
	GossipInterval time.Duration
	// SuspectTimeout is how long a member's heartbeat may go without
	// rising before the node checks the member directly. One failed
	// check then counts it dead. Default 6 GossipIntervals, because
	// push-pull gossip reaches every member of a 20-node group in about
	// three rounds.
	SuspectTimeout time.Duration
	// Margin is how many merit points (see Score.Merit) a challenger must
	// have above the weakest representative to replace it. Default 16:
	// twice the capacity or link quality, or √2 times the uptime.
	Margin uint32
	// HoldTime is how long a challenger must stay Margin ahead before it
	// takes over. Default 5m.
	HoldTime time.Duration
	// ForwardTimeout is how long a member waits for a representative's
	// LookupAnswer after the representative accepted the lookup, before
	// it forwards the lookup to the next one. Default 15s.
	ForwardTimeout time.Duration
	// MaxGroup caps the group members a node keeps. Default and maximum
	// wire.MaxGroupMembers.
	MaxGroup int
}

// WithDefaults returns c with every zero field set to its default. The
// Kademlia field is left as it is: kademlia.Machine fills in its own.
func (c Config) WithDefaults() Config { return c.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Reps <= 0 {
		c.Reps = 3
	}
	if c.GossipInterval <= 0 {
		c.GossipInterval = 10 * time.Second
	}
	if c.SuspectTimeout <= 0 {
		c.SuspectTimeout = 6 * c.GossipInterval
	}
	if c.Margin == 0 {
		c.Margin = 16
	}
	if c.HoldTime <= 0 {
		c.HoldTime = 5 * time.Minute
	}
	if c.ForwardTimeout <= 0 {
		c.ForwardTimeout = 15 * time.Second
	}
	if c.MaxGroup <= 0 || c.MaxGroup > wire.MaxGroupMembers {
		c.MaxGroup = wire.MaxGroupMembers
	}
	for _, d := range []*time.Duration{&c.GossipInterval, &c.SuspectTimeout, &c.HoldTime, &c.ForwardTimeout} {
		*d = min(*d, maxClock)
	}
	return c
}

// Score is a node's assessment of itself as a representative; higher is
// better in every field.
type Score struct {
	// Uptime is how long the node has been running. The Machine adds the
	// time that passes after New or SetScore.
	Uptime time.Duration
	// Capacity is the node's free storage or compute, in MiB or any unit
	// shared by the whole network.
	Capacity uint32
	// Link is the node's link quality: one million divided by its median
	// round trip in microseconds, that is, round trips per second.
	Link uint32
}

// Merit folds the score into one number that orders candidates:
//
//	2·lg(uptime in seconds) + lg(capacity) + lg(link)
//
// where lg(x) is 16·log2(x+1), rounded down to a sixteenth. Logarithms make
// each doubling count the same at any size, so no one field drowns the
// others. Uptime weighs double because a representative that leaves costs
// its group a hand-over. Integer arithmetic makes every node compute the
// same merit from the same score.
func (s Score) Merit() uint32 {
	return 2*lg16(uint64(max(s.Uptime, 0)/time.Second)) + lg16(uint64(s.Capacity)) + lg16(uint64(s.Link))
}

// lg16 returns 16·log2(x+1) rounded down to an integer, interpolating
// linearly between powers of two.
func lg16(x uint64) uint32 {
	if x < ^uint64(0) {
		x++
	}
	n := bits.Len64(x) - 1
	frac := (x << (63 - n)) >> 59 & 15 // the four bits after the leading one
	return uint32(16*n) + uint32(frac)
}
