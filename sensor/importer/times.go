package importer

import (
	"math"
	"time"
)

// timeKind is the format of a time or date column.
type timeKind uint8

const (
	timeNone timeKind = iota
	// Epoch numbers: seconds, milliseconds, microseconds or nanoseconds
	// since 1970-01-01 UTC, with an optional fraction.
	timeUnixS
	timeUnixMS
	timeUnixUS
	timeUnixNS
	// timeDateTime is a date and a time of day in one cell, separated by
	// 'T' or spaces, with an optional zone: 2004-03-10 18:00:00,
	// 2004-03-31T03:38:15.757551Z, 10/03/2004 18.00.00+01:00.
	timeDateTime
	// timeDate is a date alone: 2004-03-10, 10/03/2004, 10.03.2004.
	timeDate
	// timeOfDay is a clock time alone: 18:00, 18:00:00.25, 18.00.00.
	timeOfDay
)

var timeKindNames = [...]string{
	timeNone: "none", timeUnixS: "unix_s", timeUnixMS: "unix_ms", timeUnixUS: "unix_us",
	timeUnixNS: "unix_ns", timeDateTime: "date-time", timeDate: "date", timeOfDay: "time of day",
}

func (k timeKind) String() string { return timeKindNames[k] }

func (k timeKind) epoch() bool { return k >= timeUnixS && k <= timeUnixNS }

// unitNanos returns the nanoseconds in one unit of an epoch kind.
func (k timeKind) unitNanos() int64 {
	return [...]int64{timeUnixS: 1e9, timeUnixMS: 1e6, timeUnixUS: 1e3, timeUnixNS: 1}[k]
}

// Epoch numbers are recognized only between these instants, so that a
// column of ordinary integers is not taken for times. The four ranges, one
// per unit, do not overlap.
const (
	epochLow  = 946684800  // 2000-01-01T00:00:00Z in seconds
	epochHigh = 4102444800 // 2100-01-01T00:00:00Z in seconds
)

// epochKind returns the unit under which the integer part n lies between
// 2000 and 2100, or timeNone.
func epochKind(n int64) timeKind {
	for k, scale := timeUnixS, int64(1); k <= timeUnixNS; k, scale = k+1, scale*1000 {
		if n >= epochLow*scale && n < epochHigh*scale {
			return k
		}
	}
	return timeNone
}

// epochNumber is a non-negative decimal number split into an integer part
// and up to 9 fraction digits, read exactly.
type epochNumber struct {
	whole    int64
	frac     int64 // fraction digits as an integer
	fracLen  int
	negative bool
}

func parseEpochNumber(cell []byte) (epochNumber, bool) {
	var e epochNumber
	i := 0
	if i < len(cell) && cell[i] == '-' {
		e.negative = true
		i++
	}
	start := i
	for i < len(cell) && isDigit(cell[i]) {
		if e.whole > (math.MaxInt64-9)/10 {
			return e, false
		}
		e.whole = e.whole*10 + int64(cell[i]-'0')
		i++
	}
	if i == start {
		return e, false
	}
	if i < len(cell) && cell[i] == '.' {
		i++
		for i < len(cell) && isDigit(cell[i]) && e.fracLen < 9 {
			e.frac = e.frac*10 + int64(cell[i]-'0')
			e.fracLen++
			i++
		}
	}
	return e, i == len(cell)
}

// epochTime converts cell, an epoch number of kind k, to a time.
func epochTime(cell []byte, k timeKind) (time.Time, bool) {
	e, ok := parseEpochNumber(cell)
	if !ok {
		return time.Time{}, false
	}
	unit := k.unitNanos()
	if e.whole > math.MaxInt64/unit {
		return time.Time{}, false
	}
	ns := e.whole * unit
	// The fraction counts in units of unit/10^fracLen nanoseconds; digits
	// below one nanosecond are dropped.
	frac := e.frac
	for n := e.fracLen; n > 0; n-- {
		if unit >= 10 {
			unit /= 10
		} else {
			frac /= 10
		}
	}
	if ns > math.MaxInt64-frac*unit {
		return time.Time{}, false
	}
	ns += frac * unit
	if e.negative {
		ns = -ns
	}
	return time.Unix(0, ns).UTC(), true
}

// date is a calendar date as written, before the order of its first two
// numbers is known.
type date struct {
	a, b, year int
	yearFirst  bool // written year-month-day
}

// scanDate reads a date at the start of cell: YYYY-MM-DD, YYYY/MM/DD or
// YYYY.MM.DD, or A/B/YYYY, A.B.YYYY or A-B-YYYY with one or two digits in A
// and B. It returns the date and the bytes it used.
func scanDate(cell []byte) (date, int, bool) {
	n1, i := scanDigits(cell, 0, 4)
	if i == 0 || i == 3 || i >= len(cell) || !isDateSep(cell[i]) {
		return date{}, 0, false
	}
	sep := cell[i]
	n2, j := scanDigits(cell, i+1, 2)
	if j == i+1 || j >= len(cell) || cell[j] != sep {
		return date{}, 0, false
	}
	if i == 4 {
		n3, k := scanDigits(cell, j+1, 2)
		if k == j+1 {
			return date{}, 0, false
		}
		return date{a: n2, b: n3, year: n1, yearFirst: true}, k, true
	}
	n3, k := scanDigits(cell, j+1, 4)
	if k != j+5 {
		return date{}, 0, false
	}
	return date{a: n1, b: n2, year: n3}, k, true
}

func isDateSep(c byte) bool { return c == '-' || c == '/' || c == '.' }

// scanDigits reads up to max digits from cell[i:] and returns their value
// and the index after them.
func scanDigits(cell []byte, i, max int) (int, int) {
	n, j := 0, i
	for j < len(cell) && j-i < max && isDigit(cell[j]) {
		n = n*10 + int(cell[j]-'0')
		j++
	}
	return n, j
}

// resolve returns the year, month and day under order, checking ranges.
func (d date) resolve(order DateOrder) (int, time.Month, int, bool) {
	month, day := d.a, d.b
	if !d.yearFirst && order != MonthFirst {
		month, day = d.b, d.a
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), d.year) {
		return 0, 0, 0, false
	}
	return d.year, time.Month(month), day, true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// clock is a time of day.
type clock struct {
	hour, min, sec, nsec int
}

// scanClock reads a time of day at the start of cell: H:MM, H:MM:SS,
// H:MM:SS.fff (or with a comma before the fraction), or H.MM.SS as in the
// UCI air quality file. It returns the time and the bytes it used.
func scanClock(cell []byte) (clock, int, bool) {
	var c clock
	h, i := scanDigits(cell, 0, 2)
	if i == 0 || i >= len(cell) || (cell[i] != ':' && cell[i] != '.') {
		return c, 0, false
	}
	sep := cell[i]
	m, j := scanDigits(cell, i+1, 2)
	if j != i+3 {
		return c, 0, false
	}
	c.hour, c.min = h, m

	if j == len(cell) || cell[j] != sep {
		// H.MM alone would be a decimal number, so the dotted form needs seconds.
		return c, j, sep == ':' && c.valid()
	}
	s, k := scanDigits(cell, j+1, 2)
	if k != j+3 {
		return c, 0, false
	}
	c.sec = s

	if sep == ':' && k < len(cell) && (cell[k] == '.' || cell[k] == ',') {
		start := k + 1
		k = start
		for k < len(cell) && isDigit(cell[k]) {
			if k-start < 9 {
				c.nsec = c.nsec*10 + int(cell[k]-'0')
			}
			k++
		}
		if k == start {
			return c, 0, false
		}
		for n := min(k-start, 9); n < 9; n++ {
			c.nsec *= 10
		}
	}
	return c, k, c.valid()
}

func (c clock) valid() bool {
	return c.hour < 24 && c.min < 60 && c.sec < 60
}

// scanZone reads a zone suffix: Z, ±HH, ±HHMM or ±HH:MM. An empty rest
// returns the default zone.
func scanZone(rest []byte, def *time.Location) (*time.Location, bool) {
	if len(rest) == 0 {
		return def, true
	}
	if len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z') {
		return time.UTC, true
	}
	if rest[0] != '+' && rest[0] != '-' {
		return nil, false
	}

	digits := make([]byte, 0, 4)
	for _, c := range rest[1:] {
		switch {
		case isDigit(c):
			digits = append(digits, c)
		case c != ':' || len(digits) != 2:
			return nil, false
		}
	}
	if len(digits) != 2 && len(digits) != 4 {
		return nil, false
	}

	h := int(digits[0]-'0')*10 + int(digits[1]-'0')
	m := 0
	if len(digits) == 4 {
		m = int(digits[2]-'0')*10 + int(digits[3]-'0')
	}
	if h > 23 || m > 59 {
		return nil, false
	}
	offset := (h*60 + m) * 60
	if rest[0] == '-' {
		offset = -offset
	}
	return time.FixedZone("", offset), true
}

// scanDateTime reads a date, a 'T' or spaces, a time of day and an
// optional zone, filling the whole cell.
func scanDateTime(cell []byte) (date, clock, []byte, bool) {
	d, i, ok := scanDate(cell)
	if !ok || i >= len(cell) || (cell[i] != 'T' && cell[i] != ' ') {
		return date{}, clock{}, nil, false
	}
	for i++; i < len(cell) && cell[i] == ' '; i++ {
	}
	c, n, ok := scanClock(cell[i:])
	if !ok {
		return date{}, clock{}, nil, false
	}
	return d, c, cell[i+n:], true
}

// combine builds the instant of a date and time in zone, in UTC.
func combine(y int, m time.Month, d int, c clock, zone *time.Location) time.Time {
	return time.Date(y, m, d, c.hour, c.min, c.sec, c.nsec, zone).UTC()
}
