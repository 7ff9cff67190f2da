package store

import (
	"fmt"
	"time"
)

// Tier is the role a node takes in storage, which it picks itself from
// its uptime and free disk.
type Tier uint8

// Tiers, from the one that holds least.
const (
	// Lower nodes hold nothing; they only send requests.
	Lower Tier = iota
	// Middle nodes hold shards of chunks.
	Middle
	// Upper nodes hold shards, directories and namespace descriptors.
	Upper
)

// String returns "lower", "middle" or "upper", the names ParseTier accepts.
func (t Tier) String() string {
	switch t {
	case Lower:
		return "lower"
	case Middle:
		return "middle"
	case Upper:
		return "upper"
	}
	return fmt.Sprintf("Tier(%d)", uint8(t))
}

// ParseTier returns the tier named s.
func ParseTier(s string) (Tier, error) {
	for _, t := range []Tier{Lower, Middle, Upper} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: tier %q is unknown; use lower, middle or upper", ErrInvalid, s)
}

// TierPolicy places a node in a tier from measured uptime and free disk.
// A node moves up only when it clears a threshold by the Hysteresis
// fraction and moves down only when it falls below it by the same
// fraction, so a node near a boundary does not flap.
type TierPolicy struct {
	// UpperUptime is the uptime the upper tier needs.
	UpperUptime time.Duration
	// UpperFree and MiddleFree are the free disk bytes each tier needs.
	UpperFree, MiddleFree uint64
	// Hysteresis is the fraction, such as 0.1, by which a measurement
	// must pass a threshold before the tier changes.
	Hysteresis float64
}

// DefaultTierPolicy places every node with at least 1 GiB free in the
// upper tier at once. Small networks need every node they have, so the
// uptime threshold is zero. Large networks should raise it so that only
// stable nodes hold directories.
func DefaultTierPolicy() TierPolicy {
	return TierPolicy{UpperFree: 1 << 30, MiddleFree: 256 << 20, Hysteresis: 0.1}
}

// Next returns the tier a node in tier cur should take. It is a pure
// function of its arguments.
func (p TierPolicy) Next(cur Tier, uptime time.Duration, free uint64) Tier {
	target := Lower
	for _, t := range []Tier{Middle, Upper} {
		if p.meets(t, uptime, free, t <= cur) {
			target = t
		}
	}
	return target
}

// meets reports whether the measurements qualify for tier t. holding is
// set when the node is in t or above already, which lowers the bar by the
// hysteresis fraction. Otherwise the bar is raised by it.
func (p TierPolicy) meets(t Tier, uptime time.Duration, free uint64, holding bool) bool {
	factor := 1 + p.Hysteresis
	if holding {
		factor = 1 - p.Hysteresis
	}
	needFree, needUptime := p.MiddleFree, time.Duration(0)
	if t == Upper {
		needFree, needUptime = p.UpperFree, p.UpperUptime
	}
	return float64(free) >= float64(needFree)*factor &&
		float64(uptime) >= float64(needUptime)*factor
}
