// Package compute measures a node's compute speed and places the node in
// one of the scheduler's three tiers, so that weak nodes get small units
// or none.
//
// A Meter is deterministic: it takes measured run times as arguments and
// reads no clock. The daemon feeds it a short calibration at start
// (Calibrate) and the time of every unit it runs; the simulator feeds it
// the speed it assigns to each simulated worker.
package compute

import (
	"fmt"
	"time"

	"github.com/yuinet/yui/job/sched"
)

// Config tunes a Meter. A zero field takes its default.
type Config struct {
	// Upper is the speed, in readings per second, at or above which a
	// node is in the upper tier. Default 100,000.
	Upper float64
	// Lower is the speed below which a node is in the lower tier.
	// Default 20,000.
	Lower float64
	// Margin is the hysteresis: a node moves up only at a speed Margin
	// above a threshold, and down only Margin below it, so a node near
	// a threshold does not flap between tiers. Default 0.2 (20 %).
	Margin float64
	// Weight is the share of a new sample in the smoothed speed, an
	// exponentially weighted moving average. Default 0.2.
	Weight float64
	// MinSample is the shortest run time taken as one sample; shorter
	// runs are summed until they reach it, because timer resolution and
	// fixed costs distort very short runs. Default 5 ms.
	MinSample time.Duration
}

// The default thresholds are estimates. Calibrate measured about 320,000
// readings per second on one core of a shared 2-core Xeon server on
// 2026-12-04. A Raspberry Pi 4 core is taken to be 5 to 10 times slower
// (middle tier) and a phone under load or a Pi Zero over 15 times slower
// (lower tier); none of these boards was measured.
func (c Config) withDefaults() Config {
	if c.Upper <= 0 {
		c.Upper = 100_000
	}
	if c.Lower <= 0 {
		c.Lower = 20_000
	}
	if c.Margin <= 0 {
		c.Margin = 0.2
	}
	if c.Weight <= 0 || c.Weight > 1 {
		c.Weight = 0.2
	}
	if c.MinSample <= 0 {
		c.MinSample = 5 * time.Millisecond
	}
	return c
}

// Meter smooths a node's measured speed and keeps its tier. It is not
// safe for concurrent use.
type Meter struct {
	cfg Config
	// rate is the smoothed speed in readings per second, 0 before the
	// first sample.
	rate float64
	tier sched.Tier
	// Runs shorter than MinSample accumulate here.
	heldReadings int64
	heldTime     time.Duration
}

// NewMeter returns a Meter in the middle tier with no sample yet.
func NewMeter(cfg Config) (*Meter, error) {
	c := cfg.withDefaults()
	if c.Lower >= c.Upper {
		return nil, fmt.Errorf("compute: lower threshold %v readings/s is not below the upper %v; lower it",
			c.Lower, c.Upper)
	}
	return &Meter{cfg: c, tier: sched.TierMiddle}, nil
}

// Observe records that readings took the given time. Runs with no
// readings or no measured time are ignored.
func (m *Meter) Observe(readings int, took time.Duration) {
	if readings <= 0 || took <= 0 {
		return
	}
	m.heldReadings += int64(readings)
	m.heldTime += took
	if m.heldTime < m.cfg.MinSample {
		return
	}
	sample := float64(m.heldReadings) / m.heldTime.Seconds()
	m.heldReadings, m.heldTime = 0, 0
	if m.rate == 0 {
		m.rate = sample
		m.tier = m.plainTier()
		return
	}
	m.rate += m.cfg.Weight * (sample - m.rate)
	m.tier = m.nextTier()
}

// Rate returns the smoothed speed in readings per second, or 0 before
// the first sample.
func (m *Meter) Rate() float64 { return m.rate }

// Tier returns the node's compute tier: TierMiddle until the first
// sample.
func (m *Meter) Tier() sched.Tier { return m.tier }

// plainTier places the speed by the thresholds alone, for the first
// sample.
func (m *Meter) plainTier() sched.Tier {
	switch {
	case m.rate >= m.cfg.Upper:
		return sched.TierUpper
	case m.rate < m.cfg.Lower:
		return sched.TierLower
	}
	return sched.TierMiddle
}

// nextTier moves the tier only when the speed passes a threshold by
// Margin.
func (m *Meter) nextTier() sched.Tier {
	up := 1 + m.cfg.Margin
	down := 1 - m.cfg.Margin
	switch {
	case m.rate >= m.cfg.Upper*up:
		return sched.TierUpper
	case m.rate < m.cfg.Lower*down:
		return sched.TierLower
	case m.tier == sched.TierUpper && m.rate < m.cfg.Upper*down:
		return sched.TierMiddle
	case m.tier == sched.TierLower && m.rate >= m.cfg.Lower*up:
		return sched.TierMiddle
	}
	return m.tier
}

// TierName returns a tier's name as status output shows it.
func TierName(t sched.Tier) string {
	switch t {
	case sched.TierUpper:
		return "upper"
	case sched.TierMiddle:
		return "middle"
	case sched.TierLower:
		return "lower"
	}
	return fmt.Sprintf("tier %d", t)
}
