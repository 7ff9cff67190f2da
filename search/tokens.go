package search

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
)

// Token kinds. Each is the first part of its tokens' HMAC input, so two
// kinds never share a token.
const (
	kindSensor     = "sensor"
	kindSensorHour = "sensor-hour"
	kindSensorDay  = "sensor-day"
	kindHour       = "hour"
	kindDay        = "day"
	kindGeoCell    = "geo-cell"
	kindPlaneCell  = "plane-cell"
	kindText       = "text"
	kindNumber     = "number"
)

// Time buckets, in seconds. A segment lies within one hour, so its hour
// and day tokens are exact.
const (
	hourSeconds = 3600
	daySeconds  = 24 * hourSeconds
)

// maxCoverTokens bounds the hour and day tokens one time range becomes.
// A wider range is not looked up in the index but checked on each reading
// of the segments the other conditions find.
const maxCoverTokens = 256

func int64Part(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func (k *keys) sensorToken(source string) wire.Hash {
	return k.tokenOf(kindSensor, []byte(source))
}

func (k *keys) sensorHourToken(source string, hour int64) wire.Hash {
	return k.tokenOf(kindSensorHour, []byte(source), int64Part(hour))
}

func (k *keys) sensorDayToken(source string, day int64) wire.Hash {
	return k.tokenOf(kindSensorDay, []byte(source), int64Part(day))
}

func (k *keys) hourToken(hour int64) wire.Hash { return k.tokenOf(kindHour, int64Part(hour)) }

func (k *keys) dayToken(day int64) wire.Hash { return k.tokenOf(kindDay, int64Part(day)) }

// fieldToken returns the token of field name holding v, and false for a
// missing value, which has no token.
func (k *keys) fieldToken(name string, v sensor.Value) (wire.Hash, bool) {
	if s, ok := v.Text(); ok {
		return k.tokenOf(kindText, []byte(name), []byte(s)), true
	}
	if f, ok := v.Number(); ok {
		if f == 0 {
			f = 0 // -0 equals 0, so both get the token of 0
		}
		return k.tokenOf(kindNumber, []byte(name), binary.BigEndian.AppendUint64(nil, math.Float64bits(f))), true
	}
	return wire.Hash{}, false
}

// hourOf returns the number of the hour since the Unix epoch that t falls
// in, rounding down for times before it.
func hourOf(t time.Time) int64 { return floorDiv(t.Unix(), hourSeconds) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// timeCover returns the hours and days whose union is the smallest set of
// whole hours covering [from, to): whole days where a day lies inside,
// hours at the ends. It returns false when the cover would take more than
// maxCoverTokens tokens.
func timeCover(from, to time.Time) (hours, days []int64, ok bool) {
	first, last := hourOf(from), hourOf(to.Add(-time.Nanosecond))
	if last-first > 24*maxCoverTokens {
		return nil, nil, false
	}
	for h := first; h <= last; {
		if floorMod(h, 24) == 0 && h+23 <= last {
			days = append(days, floorDiv(h, 24))
			h += 24
			continue
		}
		hours = append(hours, h)
		h++
	}
	if len(hours)+len(days) > maxCoverTokens {
		return nil, nil, false
	}
	return hours, days, true
}
